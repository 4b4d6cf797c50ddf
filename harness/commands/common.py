"""Arguments and output helpers shared by several subcommands."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from harness.core.units import fmt, print_json, print_table  # noqa: F401  (re-exported for the commands)

# one source for the store options' defaults
DEFAULT_DB = "harness.duckdb"
DEFAULT_LOCK_TIMEOUT_S = 60.0


def add_db_argument(parser) -> None:
    parser.add_argument("--db", default=DEFAULT_DB, help=f"result database (default: ./{DEFAULT_DB})")
    parser.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT_S, metavar="S",
                        help=f"seconds to wait while another process holds the database "
                             f"(default {DEFAULT_LOCK_TIMEOUT_S:g})")


RUN_REF_HELP = "run id (or unique prefix), latest, TAG@latest, TAG@prev, TAG@N, or a baseline name"


def add_run_argument(parser) -> None:
    """The positional RUN reference, resolved by Store.resolve_run."""
    parser.add_argument("run", metavar="RUN", help=RUN_REF_HELP)


def open_store(args):
    return store_at(args.db, args.lock_timeout)


def store_at(db: str = DEFAULT_DB, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S):
    from harness.store import Store

    return Store(db, lock_timeout_s=lock_timeout)


def from_args(command: Callable[..., int]) -> Callable[[Any], int]:
    """`func(args)` for a plain command function (asv style): the parsed options it names are passed as keyword
    arguments, so the same function is callable from Python without argv."""
    names = set(inspect.signature(command).parameters)

    def func(args) -> int:
        return command(**{k: v for k, v in vars(args).items() if k in names})

    func.__name__ = f"{command.__name__}_from_args"
    return func
