"""`harness baseline set RUN [--name NAME]` / `harness baseline list` / `harness baseline remove NAME`: named
runs that `harness regress --baseline NAME` compares against."""
from __future__ import annotations

import re

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, add_run_argument,
                                     from_args, print_json, print_table, store_at)

DEFAULT_NAME = "baseline"
# a baseline name is also a run reference, so it must not look like one of the other reference forms
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")


def register(subparsers) -> None:
    p = subparsers.add_parser("baseline", help="mark a run as a named baseline for `harness regress`")
    sub = p.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    s = sub.add_parser("set", help="mark RUN as baseline NAME (replaces the run NAME pointed at before)")
    add_run_argument(s)
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


def run_set(*, run, db=DEFAULT_DB, force=False, lock_timeout=DEFAULT_LOCK_TIMEOUT_S, name='baseline') -> int:
    from harness.core.errors import UsageError
    from harness.store import queries

    name = name
    if not _NAME.match(name) or name == "latest":
        raise UsageError(f"bad baseline name {name!r}: use letters, digits, '_', '-', '.', starting with a letter "
                         "(not 'latest', no '@')")
    store = store_at(db, lock_timeout)
    run_id = store.resolve_run(run)
    run = queries.run_row(store, run_id)
    if run["status"] != "complete" and not force:
        raise UsageError(f"run {run_id} is {run['status']}, not complete; pass --force to use it anyway")
    clash = queries.run_ids_with_prefix(store, name, limit=1)
    previous = queries.set_baseline(store, name, run_id)
    was = f" (was {previous})" if previous and previous != run_id else ""
    print(f"baseline {name!r} -> run {run_id}{was}")
    if clash:
        print(f"note: {name!r} is also a prefix of run {clash[0]}; the baseline name wins in references")
    return 0


def run_list(*, db=DEFAULT_DB, json=False, lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    store = store_at(db, lock_timeout)
    from harness.store import queries

    rows = queries.list_baselines(store)
    if json:
        print_json(rows)
    elif not rows:
        print("no baselines; mark one with `harness baseline set RUN`")
    else:
        print_table(rows, ["name", "run_id", "tag", "device", "model", "created_at", "set_at"])
    return 0


def run_remove(*, name, db=DEFAULT_DB, lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    from harness.core.errors import UsageError

    store = store_at(db, lock_timeout)
    from harness.store import queries

    if not queries.baseline_exists(store, name):
        raise UsageError(f"no baseline named {name!r}; see `harness baseline list`")
    queries.delete_baseline(store, name)
    print(f"baseline {name!r} removed")
    return 0
