"""Arguments and output helpers shared by several subcommands."""
from __future__ import annotations

import json
import sys
from typing import Any, Sequence


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


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: Sequence[str] | None = None,
                out=None) -> None:
    """Plain aligned table; no dependency so it works in any CI log."""
    out = out or sys.stdout
    headers = list(headers or columns)
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")
