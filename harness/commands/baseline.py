"""`harness baseline set RUN [RUN ...] [--name NAME]` / `harness baseline list` / `harness baseline remove NAME`:
named runs that `harness regress --baseline NAME` compares against. A baseline made of several runs (several RUNs,
or TAG@lastN) is pooled by regress, which then judges latency against the spread between those runs."""
from __future__ import annotations

import re

from harness.commands.common import RUN_REF_HELP, add_db_argument, open_store, print_json, print_table

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
    s.set_defaults(func=run_set)
    ls = sub.add_parser("list", help="list named baselines")
    ls.add_argument("--json", action="store_true", help="print JSON")
    add_db_argument(ls)
    ls.set_defaults(func=run_list)
    rm = sub.add_parser("remove", help="forget a named baseline (the run itself is kept)")
    rm.add_argument("name", metavar="NAME")
    add_db_argument(rm)
    rm.set_defaults(func=run_remove)


def run_set(args) -> int:
    from harness.errors import UsageError
    name = args.name
    if not _NAME.match(name) or name == "latest":
        raise UsageError(f"bad baseline name {name!r}: use letters, digits, '_', '-', '.', starting with a letter "
                         "(not 'latest', no '@')")
    store = open_store(args)
    if store.path.exists():
        store.migrate()                      # a writing command: an older database gains the baseline_runs table
    run_ids: list[str] = []
    for ref in args.runs:
        for run_id in store.resolve_runs(ref):
            if run_id not in run_ids:
                run_ids.append(run_id)
    marks = ", ".join("?" for _ in run_ids)
    rows = {r["run_id"]: r for r in store.query(
        f"SELECT run_id, status, tag, created_at FROM runs WHERE run_id IN ({marks})", run_ids)}
    for run_id in run_ids:
        if rows[run_id]["status"] != "complete" and not args.force:
            raise UsageError(f"run {run_id} is {rows[run_id]['status']}, not complete; pass --force to use it "
                             "anyway")
    run_ids.sort(key=lambda r: rows[r]["created_at"], reverse=True)      # newest first: the primary run
    clash = store.query("SELECT run_id FROM runs WHERE starts_with(run_id, ?) LIMIT 1", [name])
    previous = store.set_baseline(name, run_ids)
    was = f" (was {previous})" if previous and previous != run_ids[0] else ""
    if len(run_ids) == 1:
        print(f"baseline {name!r} -> run {run_ids[0]}{was}")
    else:
        print(f"baseline {name!r} -> {len(run_ids)} runs pooled: {', '.join(run_ids)}{was}")
    if clash:
        print(f"note: {name!r} is also a prefix of run {clash[0]['run_id']}; the baseline name wins in references")
    return 0


def run_list(args) -> int:
    store = open_store(args)
    rows = store.query(
        "SELECT b.name, b.run_id, b.set_at, r.tag, r.device, r.model, r.status, r.created_at "
        "FROM baselines b LEFT JOIN runs r USING (run_id) ORDER BY b.name")
    members = store.baseline_members()
    for row in rows:
        row["runs"] = members.get(row["name"], [row["run_id"]])
        row["run_count"] = len(row["runs"])
    if args.json:
        print_json(rows)
    elif not rows:
        print("no baselines; mark one with `harness baseline set RUN`")
    else:
        print_table(rows, ["name", "run_id", "run_count", "tag", "device", "model", "created_at", "set_at"],
                    ["name", "run_id (newest)", "runs", "tag", "device", "model", "created_at", "set_at"])
    return 0


def run_remove(args) -> int:
    from harness.errors import UsageError

    store = open_store(args)
    if store.path.exists():
        store.migrate()
    if not store.remove_baseline(args.name):
        raise UsageError(f"no baseline named {args.name!r}; see `harness baseline list`")
    print(f"baseline {args.name!r} removed")
    return 0
