"""`harness runs` and `harness show RUN`: what the store holds."""
from __future__ import annotations

import json

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, add_run_argument,
                                     from_args, print_json, print_table, store_at)
from harness.environment import effective_status
from harness.store import queries

MEASUREMENT_COLUMNS = ["name", "precision", "batch_size", "threads", "size_bytes", "p50_ms", "p90_ms", "p99_ms",
                       "cv", "throughput_sps", "peak_rss_bytes", "energy_per_inference_mj", "count", "status"]


def register(sub) -> None:
    p = sub.add_parser("runs", help="list runs in the database")
    p.add_argument("--tag", help="only runs with this tag")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_db_argument(p)
    p.set_defaults(func=from_args(list_runs))

    s = sub.add_parser("show", help="show one run's variants and measurements")
    add_run_argument(s)
    s.add_argument("--json", action="store_true", help="machine-readable output (includes warnings and env)")
    add_db_argument(s)
    s.set_defaults(func=from_args(show_run))


def list_runs(*, db=DEFAULT_DB, json=False, limit=50, lock_timeout=DEFAULT_LOCK_TIMEOUT_S, tag=None) -> int:
    store = store_at(db, lock_timeout)
    rows = queries.list_runs(store, tag, limit)
    for row in rows:
        row["status"] = effective_status(row["status"], row["host"], row.pop("environment"))
    if json:
        print_json(rows)
    elif not rows:
        print(f"no runs in {db}; run `harness bench --db {db}`")
    else:
        print_table(rows, ["run_id", "created_at", "status", "tag", "model", "device", "variants"])
    return 0


def run_details(store, run_id: str) -> dict:
    run = queries.run_row(store, run_id)
    run["status"] = effective_status(run["status"], run["host"], run["environment"])
    for key in ("environment", "config"):
        run[key] = json.loads(run[key]) if run.get(key) else None
    variants = queries.variants_of_run(store, run_id)
    measurements = queries.measurements_with_variant(store, run_id)
    for m in measurements:
        m["warnings"] = json.loads(m["warnings"]) if m.get("warnings") else []
        m["sensors"] = json.loads(m["sensors"]) if m.get("sensors") else None
    for v in variants:
        v["params"] = json.loads(v["params"]) if v.get("params") else {}
        v["info"] = json.loads(v["info"]) if v.get("info") else {}
    return {"run": run, "variants": variants, "measurements": measurements}


def show_run(*, run, db=DEFAULT_DB, json=False, lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    store = store_at(db, lock_timeout)
    run_id = store.resolve_run(run)
    details = run_details(store, run_id)
    if json:
        print_json(details)
        return 0
    run = details["run"]
    print(f"run {run['run_id']}  {run['status']}  model={run['model']}  device={run['device']}  "
          f"tag={run['tag'] or '-'}  created {run['created_at']}")
    failed = [v for v in details["variants"] if v["status"] != "ok"]
    columns = list(MEASUREMENT_COLUMNS)
    headers = ["variant", "precision", "batch", "threads", "size_B", "p50_ms", "p90_ms", "p99_ms", "cv",
               "samples/s", "peak_rss_B", "mJ/inf", "n", "status"]
    if any(m.get("board") for m in details["measurements"]):     # a fleet run: which board measured it
        columns, headers = ["board", *columns], ["board", *headers]
    print_table(details["measurements"], columns, headers)
    for v in failed:
        print(f"variant {v['name']}: {v['status']}: {v['error']}")
    for m in details["measurements"]:
        if m["status"] != "ok":
            print(f"{m['name']} bs{m['batch_size']}: failed: {m['error']}")
        for w in m["warnings"]:
            print(f"warning: {m['name']} bs{m['batch_size']}: {w}")
    reasons = {m["energy_reason"] for m in details["measurements"] if m.get("energy_reason")}
    for r in reasons:
        print(f"energy: null ({r})")
    return 0
