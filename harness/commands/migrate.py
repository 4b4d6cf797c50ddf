"""`harness migrate`: upgrade a result database to this harness's schema version."""
from __future__ import annotations

from harness.commands.common import add_db_argument, open_store
from harness.store.schema import LATEST


def register(sub) -> None:
    p = sub.add_parser("migrate", help="create or upgrade the result database schema")
    add_db_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args)
    before = store.migrate()
    print(f"{args.db}: schema v{before} -> v{LATEST}" if before != LATEST else f"{args.db}: already at v{LATEST}")
    return 0
