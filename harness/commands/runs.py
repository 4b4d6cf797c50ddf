"""`harness runs` and `harness show RUN`: what the store holds."""
from __future__ import annotations

import json

from harness.commands.common import add_db_argument, add_run_argument, open_store, print_json, print_table
from harness.environment import effective_status

MEASUREMENT_COLUMNS = ["name", "precision", "batch_size", "threads", "size", "p50_ms", "p90_ms", "p99_ms",
                       "cv_pct", "throughput_sps", "peak_rss", "energy_per_inference_mj", "count", "status"]


def register(sub) -> None:
    p = sub.add_parser("runs", help="list runs in the database")
    p.add_argument("--tag", help="only runs with this tag")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_db_argument(p)
    p.set_defaults(func=list_runs)

    s = sub.add_parser("show", help="show one run's variants and measurements")
    add_run_argument(s)
    s.add_argument("--json", action="store_true", help="machine-readable output (includes warnings and env)")
    add_db_argument(s)
    s.set_defaults(func=show_run)


def list_runs(args) -> int:
    store = open_store(args)
    sql = ("SELECT r.run_id, r.created_at, r.status, r.tag, r.model, r.device, r.host, r.git_sha, r.environment, "
           "(SELECT count(*) FROM variants v WHERE v.run_id = r.run_id) AS variants "
           "FROM runs r {where} ORDER BY r.created_at DESC LIMIT ?")
    params: list = []
    where = ""
    if args.tag:
        where, params = "WHERE r.tag = ?", [args.tag]
    rows = store.query(sql.format(where=where), [*params, args.limit])
    for row in rows:
        row["status"] = effective_status(row["status"], row["host"], row.pop("environment"))
    if args.json:
        print_json(rows)
    elif not rows:
        print(f"no runs in {args.db}; run `harness bench --db {args.db}`")
    else:
        print_table(rows, ["run_id", "created_at", "status", "tag", "model", "device", "variants"])
    return 0


def run_details(store, run_id: str) -> dict:
    run = store.query("SELECT * FROM runs WHERE run_id = ?", [run_id])[0]
    run["status"] = effective_status(run["status"], run["host"], run["environment"])
    for key in ("environment", "config"):
        run[key] = json.loads(run[key]) if run.get(key) else None
    variants = store.query("SELECT * FROM variants WHERE run_id = ? ORDER BY created_at", [run_id])
    measurements = store.query(
        "SELECT m.*, v.name, v.precision, v.size_bytes FROM measurements m "
        "JOIN variants v ON v.run_id = m.run_id AND v.variant_id = m.variant_id "
        "WHERE m.run_id = ? ORDER BY v.created_at, m.batch_size", [run_id])
    for m in measurements:
        m["warnings"] = json.loads(m["warnings"]) if m.get("warnings") else []
        m["sensors"] = json.loads(m["sensors"]) if m.get("sensors") else None
    for v in variants:
        v["params"] = json.loads(v["params"]) if v.get("params") else {}
        v["info"] = json.loads(v["info"]) if v.get("info") else {}
    return {"run": run, "variants": variants, "measurements": measurements}


def show_run(args) -> int:
    store = open_store(args)
    run_id = store.resolve_run(args.run)
    details = run_details(store, run_id)
    if args.json:
        print_json(details)
        return 0
    run = details["run"]
    print(f"run {run['run_id']}  {run['status']}  model={run['model']}  device={run['device']}  "
          f"tag={run['tag'] or '-'}  created {run['created_at']}")
    from harness.output_drift import drift_table, formatted, present_columns
    from harness.units import human_bytes

    failed = [v for v in details["variants"] if v["status"] != "ok"]
    table = [m | {"size": human_bytes(m.get("size_bytes")), "peak_rss": human_bytes(m.get("peak_rss_bytes")),
                  "cv_pct": None if m.get("cv") is None else 100.0 * m["cv"]} for m in details["measurements"]]
    print_table(table, MEASUREMENT_COLUMNS,
                ["variant", "precision", "batch", "threads", "size", "p50_ms", "p90_ms", "p99_ms", "cv %",
                 "samples/s", "peak_rss", "mJ/inf", "n", "status"])
    for v in failed:
        print(f"variant {v['name']}: {v['status']}: {v['error']}")
    for v in details["variants"]:
        if v["status"] == "ok" and v["info"].get("no_effect"):
            print(f"variant {v['name']}: no effect: {v['info']['no_effect']}")
    drift = drift_table(store.drift_rows(run_id), {v["variant_id"]: v["name"] for v in details["variants"]})
    if drift:
        print("drift against the original, every output:")
        print_table(formatted(drift), ["variant", "output", *present_columns(drift)])
    for m in details["measurements"]:
        if m["status"] != "ok":
            print(f"{m['name']} bs{m['batch_size']}: failed: {m['error']}")
        for w in m["warnings"]:
            print(f"warning: {m['name']} bs{m['batch_size']}: {w}")
    reasons = {m["energy_reason"] for m in details["measurements"] if m.get("energy_reason")}
    for r in reasons:
        print(f"energy: null ({r})")
    return 0
