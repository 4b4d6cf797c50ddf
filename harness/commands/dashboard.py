"""`harness dashboard`: serve the comparison dashboard over a result database (read-only)."""
from __future__ import annotations

from harness.commands.common import DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dashboard", help="serve the Panel comparison dashboard over the database (read-only)",
        description="Compare a run's variants in the browser: table with ratios, Pareto front, provenance tree, "
                    "latency distributions, per-instance flips, layers and history. Only reads the database, "
                    "and keeps working while `harness bench` writes to it.")
    p.add_argument("--port", type=int, default=5006, help="port (default 5006)")
    p.add_argument("--address", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: only this machine can connect)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="HOST:PORT",
                   help="another websocket origin to accept, e.g. behind a proxy; repeatable")
    p.add_argument("--refresh", type=float, default=5.0, metavar="S",
                   help="seconds between checks for new runs (default 5)")
    p.add_argument("--no-show", action="store_true", help="do not open a browser")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def run(
        *, address='127.0.0.1', allow_origin=(), db=DEFAULT_DB, lock_timeout=DEFAULT_LOCK_TIMEOUT_S, no_show=False, port=5006,
        refresh=5.0) -> int:
    from harness.core.errors import UsageError
    from harness.core.import_utils import require_dashboard

    require_dashboard()      # one line naming the extra, not an ImportError traceback
    from harness.reports.server import serve

    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: use 1-65535")
    if refresh <= 0:
        raise UsageError("--refresh must be > 0")
    print(f"harness dashboard: http://{address}:{port}/  (database {db}; Ctrl-C to stop)",
          flush=True)
    serve(db, port=port, address=address, show=not no_show,
          lock_timeout_s=min(lock_timeout, 5.0), refresh_s=refresh, allow_origin=allow_origin)
    return 0
