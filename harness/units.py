"""Display units shared by every table: sizes in KiB/MiB/GiB (1024-based), fractions as percentages."""
from __future__ import annotations

from typing import Any


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
