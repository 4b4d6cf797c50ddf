"""`harness migrate`: upgrade a result database to this harness's schema version."""
from __future__ import annotations

from harness.commands.common import DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, from_args, store_at
from harness.store.schema import LATEST


def register(sub) -> None:
    p = sub.add_parser("migrate", help="create or upgrade the result database schema")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def run(*, db=DEFAULT_DB, lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    store = store_at(db, lock_timeout)
    before = store.migrate()
    print(f"{db}: schema v{before} -> v{LATEST}" if before != LATEST else f"{db}: already at v{LATEST}")
    return 0
