"""Non-overlapping text labels for scatter-like plots (Pareto front, provenance tree).

Bokeh draws a label where it is told; points that sit close together (variants with nearly the same latency,
long recipe names in the provenance tree) then print their names over each other. Here labels are placed in
pixel space of a plot whose frame size is fixed: each label takes the nearest free slot around its point
(right, left, above, below, then further out), avoiding every marker and every label placed before it. Text
extents are estimated generously (the browser test measures the rendered boxes at 1500x1100).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

CHAR_PX = 7.4        # average width of a 9pt sans-serif character, rounded up
LINE_PX = 16.0       # line height of 9pt text plus padding
PAD_PX = 4.0


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: "Box", margin: float = 2.0) -> bool:
        return not (self.x1 + margin <= other.x0 or other.x1 + margin <= self.x0 or
                    self.y1 + margin <= other.y0 or other.y1 + margin <= self.y0)


def text_size(text: str) -> tuple[float, float]:
    lines = str(text).split("\n")
    return max(len(s) for s in lines) * CHAR_PX + 2 * PAD_PX, LINE_PX * len(lines)


def _candidates(w: float, h: float, r: float, rings: int = 14) -> list[tuple[float, float]]:
    """Offsets (left-bottom corner of the label box, relative to the point, y up) nearest first."""
    out = []
    for k in range(rings):
        step = k * (h + 2)
        out += [(r + 2, -h / 2 + s) for s in ((step, -step) if k else (0,))]           # right
        out += [(-w - r - 2, -h / 2 + s) for s in ((step, -step) if k else (0,))]      # left
        out += [(-w / 2 + s2, r + 2 + step) for s2 in (0, w / 2 + r, -w / 2 - r)]      # above
        out += [(-w / 2 + s2, -h - r - 2 - step) for s2 in (0, w / 2 + r, -w / 2 - r)]  # below
    return out


def place(points_px: Sequence[tuple[float, float]], texts: Sequence[str], frame: tuple[float, float],
          marker_px: float = 8.0, obstacles: Sequence[Box] = (),
          anchors_px: Sequence[tuple[float, float]] | None = None) -> list[tuple[float, float]]:
    """Pixel offsets (dx, dy) of each label's left-bottom corner from its anchor (default: its point), such that
    no two labels overlap, no label covers a marker, and labels stay inside the frame where there is room.
    Labels are placed in the given order: put the important ones first."""
    width, height = frame
    anchors = list(anchors_px) if anchors_px is not None else list(points_px)
    placed: list[Box] = list(obstacles)
    placed += [Box(x - marker_px, y - marker_px, x + marker_px, y + marker_px) for x, y in points_px]
    offsets = []
    for (ax, ay), text in zip(anchors, texts):
        w, h = text_size(text)
        best, best_cost = None, None
        for dx, dy in _candidates(w, h, marker_px):
            b = Box(ax + dx, ay + dy, ax + dx + w, ay + dy + h)
            inside = b.x0 >= 0 and b.y0 >= 0 and b.x1 <= width and b.y1 <= height
            clash = sum(1 for p in placed if b.overlaps(p))
            cost = clash * 10 + (0 if inside else 5)
            if cost == 0:
                best = (dx, dy, b)
                break
            if best_cost is None or cost < best_cost:
                best, best_cost = (dx, dy, b), cost
        dx, dy, b = best
        placed.append(b)
        offsets.append((dx, dy))
    return offsets


def to_px(value: float, lo: float, hi: float, size: float) -> float:
    return (value - lo) / (hi - lo) * size if hi != lo else size / 2
