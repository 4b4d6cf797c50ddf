"""`harness baseline set RUN [RUN ...] [--name NAME]` / `harness baseline list` / `harness baseline remove NAME`:
named runs that `harness regress --baseline NAME` compares against. A baseline made of several runs (several RUNs,
or TAG@lastN) is pooled by regress, which then judges latency against the spread between those runs."""
from __future__ import annotations

import re

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, RUN_REF_HELP, add_db_argument,
                                     from_args, print_json, print_table, store_at)

DEFAULT_NAME = "baseline"
# a baseline name is also a run reference, so it must not look like one of the other reference forms
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")


def register(subparsers) -> None:
    p = subparsers.add_parser("baseline", help="mark a run as a named baseline for `harness regress`")
    sub = p.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    s = sub.add_parser("set", help="mark RUN (or several runs) as baseline NAME (replaces what NAME pointed at)")
    s.add_argument("runs", nargs="+", metavar="RUN",
                   help=RUN_REF_HELP + ", or TAG@lastN; several runs make one pooled baseline (more reliable on a "
                                       "noisy machine: regress then uses the spread between them)")
    s.add_argument("--name", default=DEFAULT_NAME, help=f"baseline name (default: {DEFAULT_NAME})")
    s.add_argument("--force", action="store_true", help="allow a run that is not complete")
    add_db_argument(s)
    s.set_defaults(func=from_args(run_set))
    ls = sub.add_parser("list", help="list named baselines")
    ls.add_argument("--json", action="store_true", help="print JSON")
    add_db_argument(ls)
    ls.set_defaults(func=from_args(run_list))
    rm = sub.add_parser("remove", help="forget a named baseline (the run itself is kept)")
    rm.add_argument("name", metavar="NAME")
    add_db_argument(rm)
    rm.set_defaults(func=from_args(run_remove))


def run_set(*, runs, db=DEFAULT_DB, force=False, lock_timeout=DEFAULT_LOCK_TIMEOUT_S, name=DEFAULT_NAME) -> int:
    from harness.core.errors import UsageError
    from harness.store import queries

    if isinstance(runs, str):
        runs = [runs]
    if not _NAME.match(name) or name == "latest":
        raise UsageError(f"bad baseline name {name!r}: use letters, digits, '_', '-', '.', starting with a letter "
                         "(not 'latest', no '@')")
    store = store_at(db, lock_timeout)
    if store.path.exists():
        store.migrate()                      # a writing command: an older database gains the baseline_runs table
    run_ids: list[str] = []
    for ref in runs:
        for run_id in store.resolve_runs(ref):
            if run_id not in run_ids:
                run_ids.append(run_id)
    rows = {r["run_id"]: r for r in queries.run_rows(store, run_ids)}
    for run_id in run_ids:
        if rows[run_id]["status"] != "complete" and not force:
            raise UsageError(f"run {run_id} is {rows[run_id]['status']}, not complete; pass --force to use it "
                             "anyway")
    run_ids.sort(key=lambda r: rows[r]["created_at"], reverse=True)      # newest first: the primary run
    clash = queries.run_ids_with_prefix(store, name, limit=1)
    previous = store.set_baseline(name, run_ids)
    was = f" (was {previous})" if previous and previous != run_ids[0] else ""
    if len(run_ids) == 1:
        print(f"baseline {name!r} -> run {run_ids[0]}{was}")
    else:
        print(f"baseline {name!r} -> {len(run_ids)} runs pooled: {', '.join(run_ids)}{was}")
    if clash:
        print(f"note: {name!r} is also a prefix of run {clash[0]}; the baseline name wins in references")
    return 0


def run_list(*, db=DEFAULT_DB, json=False, lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    from harness.store import queries

    store = store_at(db, lock_timeout)
    rows = queries.list_baselines(store)
    members = store.baseline_members()
    for row in rows:
        row["runs"] = members.get(row["name"], [row["run_id"]])
        row["run_count"] = len(row["runs"])
    if json:
        print_json(rows)
    elif not rows:
        print("no baselines; mark one with `harness baseline set RUN`")
    else:
        print_table(rows, ["name", "run_id", "run_count", "tag", "device", "model", "created_at", "set_at"],
                    ["name", "run_id (newest)", "runs", "tag", "device", "model", "created_at", "set_at"])
    return 0


def run_remove(*, name, db=DEFAULT_DB, lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    from harness.core.errors import UsageError
    from harness.store import queries

    store = store_at(db, lock_timeout)
    if store.path.exists():
        store.migrate()
    if not queries.baseline_exists(store, name):
        raise UsageError(f"no baseline named {name!r}; see `harness baseline list`")
    store.remove_baseline(name)
    print(f"baseline {name!r} removed")
    return 0
