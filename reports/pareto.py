"""Pareto front of variants over two metrics, each minimised or maximised."""
from __future__ import annotations

from typing import Sequence


def pareto_front(xs: Sequence[float], ys: Sequence[float], x_better: str = "lower", y_better: str = "lower"
                 ) -> list[bool]:
    """For each point, whether no other point is at least as good on both axes and strictly better on one.
    Points with a missing (None/NaN) coordinate are never on the front."""
    sx = -1.0 if x_better == "higher" else 1.0
    sy = -1.0 if y_better == "higher" else 1.0
    pts = [(None if x is None or x != x or y is None or y != y else (sx * float(x), sy * float(y)))
           for x, y in zip(xs, ys)]
    front = []
    for i, p in enumerate(pts):
        if p is None:
            front.append(False)
            continue
        dominated = any(q is not None and j != i and q[0] <= p[0] and q[1] <= p[1] and (q[0] < p[0] or q[1] < p[1])
                        for j, q in enumerate(pts))
        front.append(not dominated)
    return front
