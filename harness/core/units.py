"""Units and plain-text formatting: the one way numbers are shown in a terminal or CI log (sizes in
KiB/MiB/GiB, 1024-based; fractions as percentages)."""
from __future__ import annotations

import json
import sys
from typing import Any, Sequence


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


def human_bytes(n: Any) -> str:
    """`512 B`, `12.3 KiB`, `4.56 MiB`, `1.20 GiB`; "-" for None."""
    if n is None or n != n:
        return "-"
    n = float(n)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            v = n / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n:.0f} B"


def percent(fraction: Any, digits: int = 1) -> str:
    """0.9731 -> `97.3 %`; "-" for None."""
    if fraction is None or fraction != fraction:
        return "-"
    return f"{100.0 * float(fraction):.{digits}f} %"


def times(ratio: Any) -> str:
    """3.94 -> `3.94x`; "-" for None."""
    if ratio is None or ratio != ratio:
        return "-"
    return f"{float(ratio):.3g}x"
