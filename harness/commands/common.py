"""Arguments and output helpers shared by several subcommands."""
from __future__ import annotations

from harness.core.units import fmt, print_json, print_table  # noqa: F401  (re-exported for the commands)


def add_db_argument(parser) -> None:
    parser.add_argument("--db", default="harness.duckdb", help="result database (default: ./harness.duckdb)")
    parser.add_argument("--lock-timeout", type=float, default=60.0, metavar="S",
                        help="seconds to wait while another process holds the database (default 60)")


RUN_REF_HELP = "run id (or unique prefix), latest, TAG@latest, TAG@prev, TAG@N, or a baseline name"


def add_run_argument(parser) -> None:
    """The positional RUN reference, resolved by Store.resolve_run."""
    parser.add_argument("run", metavar="RUN", help=RUN_REF_HELP)


def open_store(args):
    from harness.store import Store

    return Store(args.db, lock_timeout_s=args.lock_timeout)
