"""`harness report RUN -o report.html`: a self-contained HTML report of one run."""
from __future__ import annotations

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, add_run_argument,
                                     from_args, store_at)


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="write one self-contained HTML report of a run (for CI artifacts)")
    add_run_argument(p)
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def run(*, run, db=DEFAULT_DB, lock_timeout=DEFAULT_LOCK_TIMEOUT_S, output='report.html') -> int:
    from harness.core.import_utils import is_bokeh_available, require_extra

    require_extra("dashboard", ("bokeh", is_bokeh_available))
    from harness.reports.html_report import write_report

    store = store_at(db, lock_timeout)
    run_id = store.resolve_run(run)
    out = write_report(db, run_id, output, lock_timeout_s=lock_timeout)
    print(f"wrote {out} (run {run_id})")
    return 0
