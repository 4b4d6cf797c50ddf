"""Bokeh figures shared by the dashboard and the static HTML report.

Each builder takes plain data (frames, dicts) and returns a figure, so the same plot appears in both places and
can be tested without a server. Axis labels always carry units from harness.reports.metrics.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
from bokeh.models import (ColorBar, ColumnDataSource, HoverTool, HTMLLabelSet, LinearColorMapper, Range1d, Span)
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure

from harness.reports import label_layout
from harness.reports.metrics import METRICS
from harness.reports.pareto import pareto_front
from harness.reports.provenance import layout

PALETTE = list(Category10_10)
# fixed plot frames (pixels) for the labelled plots, so labels can be placed without overlapping; they fit the
# dashboard's content column at a 1500 px wide window and the static report
FRAME_W = 820
FRAME_H = 340
EDGE_CHARS = 32


def _fig(title: str, height: int = 360, **kw) -> figure:
    kw.setdefault("sizing_mode", "stretch_width")
    return figure(title=title, height=height, toolbar_location="right",
                  tools="pan,wheel_zoom,box_zoom,reset,save", **kw)


def _num(values) -> list[float]:
    return [float("nan") if v is None or pd.isna(v) else float(v) for v in values]


def _range(values: list[float], pad: float = 0.08, pad_hi: float | None = None) -> tuple[float, float]:
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    span = hi - lo or (abs(hi) * 0.1 or 1.0)
    return lo - pad * span, hi + (pad if pad_hi is None else pad_hi) * span


def _placed_labels(p, xs, ys, texts, xr, yr, frame, marker_px, name, anchors=None, color="#222",
                   font="9pt") -> None:
    """Non-overlapping HTML labels (harness.reports.label_layout) with a thin leader line where one was moved away."""
    W, H = frame
    pts = [(label_layout.to_px(x, *xr, W), label_layout.to_px(y, *yr, H)) for x, y in zip(xs, ys)]
    anc = anchors if anchors is not None else list(zip(xs, ys))
    anc_px = [(label_layout.to_px(x, *xr, W), label_layout.to_px(y, *yr, H)) for x, y in anc]
    offsets = label_layout.place(pts, texts, frame, marker_px=marker_px, anchors_px=anc_px)
    src = ColumnDataSource({"x": [a[0] for a in anc], "y": [a[1] for a in anc], "text": list(texts),
                            "dx": [o[0] for o in offsets], "dy": [o[1] for o in offsets]}, name=name)
    p.add_layout(HTMLLabelSet(x="x", y="y", text="text", x_offset="dx", y_offset="dy", source=src,
                              text_font_size=font, text_color=color, text_align="left", text_baseline="bottom",
                              css_classes=["harness-label", name]))
    sx, sy = (xr[1] - xr[0]) / W, (yr[1] - yr[0]) / H
    lines = []
    for (ax, ay), (dx, dy), text in zip(anc, offsets, texts):
        if abs(dx) <= marker_px + 8 and -label_layout.LINE_PX - marker_px - 8 <= dy <= marker_px + 8:
            continue    # next to its point: no leader needed
        w = label_layout.text_size(text)[0]
        end_x = dx if dx >= 0 else dx + w
        lines.append((ax, ay, ax + end_x * sx, ay + (dy + label_layout.LINE_PX / 2) * sy))
    if lines:
        p.segment(*[list(c) for c in zip(*lines)], line_color="#bbb", line_width=1)


def pareto_figure(rows: pd.DataFrame, x_key: str, y_key: str) -> figure:
    """Variants on two metrics; the non-dominated ones (given each metric's better direction) joined as a
    front. Labels never overlap each other or a point (harness.reports.label_layout)."""
    mx, my = METRICS[x_key], METRICS[y_key]
    xs = [mx.display(v) for v in rows[x_key]] if len(rows) else []
    ys = [my.display(v) for v in rows[y_key]] if len(rows) else []
    front = pareto_front(xs, ys, mx.better, my.better)
    keep = [i for i, (x, y) in enumerate(zip(xs, ys)) if x is not None and y is not None]
    data = {"x": [xs[i] for i in keep], "y": [ys[i] for i in keep],
            "label": [str(rows["label"].iloc[i]) for i in keep],
            "front": ["on the front" if front[i] else "dominated" for i in keep],
            "color": ["#d62728" if front[i] else "#7f7f7f" for i in keep],
            "size": [13 if front[i] else 9 for i in keep]}
    xr, yr = _range(data["x"], pad=0.1, pad_hi=0.35), _range(data["y"], pad=0.15)
    p = figure(title=f"Pareto: {mx.label} vs {my.label}", frame_width=FRAME_W, frame_height=FRAME_H,
               x_range=Range1d(*xr), y_range=Range1d(*yr), toolbar_location="right",
               tools="pan,wheel_zoom,box_zoom,reset,save")
    p.xaxis.axis_label, p.yaxis.axis_label = mx.title, my.title
    source = ColumnDataSource(data, name="pareto_points")
    fx = sorted((data["x"][k], data["y"][k]) for k in range(len(keep)) if data["front"][k] == "on the front")
    p.step([x for x, _ in fx], [y for _, y in fx], mode="after", line_color="#d62728", line_dash="dashed",
           legend_label="Pareto front")
    p.scatter("x", "y", source=source, color="color", size="size", alpha=0.85)
    # front points first: their labels get the nearest slots
    order = sorted(range(len(keep)), key=lambda k: data["front"][k] != "on the front")
    _placed_labels(p, [data["x"][k] for k in order], [data["y"][k] for k in order],
                   [data["label"][k] for k in order], xr, yr, (FRAME_W, FRAME_H), 8.0, "pareto-labels")
    p.add_tools(HoverTool(tooltips=[("variant", "@label"), (mx.title, "@x{0.[000]}"),
                                    (my.title, "@y{0.[000]}"), ("", "@front")]))
    # outside the frame: inside it the legend would cover labels the layout placed there
    p.legend.orientation = "horizontal"
    p.add_layout(p.legend[0], "below")
    missing = len(rows) - len(keep)
    if missing:
        p.title.text += f"  ({missing} variant(s) without both values not shown)"
    return p


def tree_figure(variants: list[dict[str, Any]], values: dict[str, float | None], color_key: str) -> figure:
    """Provenance tree, root on the left; node colour is `color_key` (display units), grey where missing.
    Node and edge labels never overlap (harness.reports.label_layout)."""
    metric = METRICS[color_key]
    nodes = layout(variants)
    leaves = 1 + int(max([n.y for n in nodes], default=0))
    depth = max([n.depth for n in nodes], default=0)
    height = max(220, 64 * leaves)
    xr, yr = (-0.25, depth + 1.6), (-0.7, leaves - 0.3)
    p = figure(title=f"Provenance (colour: {metric.title})", frame_width=FRAME_W, frame_height=height,
               x_range=Range1d(*xr), y_range=Range1d(*yr), toolbar_location="right",
               tools="pan,wheel_zoom,box_zoom,reset,save")
    p.xaxis.axis_label = "compression steps from the FP32 root"
    p.xaxis.ticker = list(range(depth + 1))
    p.yaxis.visible = False
    p.ygrid.visible = False
    pos = {n.variant_id: (n.depth, n.y) for n in nodes}
    edges = [(pos[n.base_id], (n.depth, n.y), n.operation) for n in nodes if n.base_id in pos]
    if edges:
        p.segment([a[0] for a, _, _ in edges], [a[1] for a, _, _ in edges], [b[0] for _, b, _ in edges],
                  [b[1] for _, b, _ in edges], line_color="#999", line_width=2)
    shown = [metric.display(values.get(n.variant_id)) for n in nodes]
    finite = [v for v in shown if v is not None]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi == lo:
        hi = lo + 1e-9
    palette = Viridis256 if metric.better == "higher" else list(reversed(Viridis256))
    mapper = LinearColorMapper(palette=palette, low=lo, high=hi, nan_color="#cccccc")
    src = ColumnDataSource({"x": [n.depth for n in nodes], "y": [n.y for n in nodes],
                            "name": [n.name for n in nodes], "value": [math.nan if v is None else v for v in shown]})
    p.scatter("x", "y", source=src, size=22, line_color="#333",
              fill_color={"field": "value", "transform": mapper})
    node_text = [f"{n.name} ({metric.format(values.get(n.variant_id))})" for n in nodes]
    # a recipe's full parameter list would run across the plot: the edge shows its start (the table has it all)
    edge_text = [op if len(op) <= EDGE_CHARS else op[:EDGE_CHARS - 1] + "…" for _, _, op in edges if op]
    edge_mid = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b, op in edges if op]
    xs, ys = [n.depth for n in nodes], [n.y for n in nodes]
    _placed_labels(p, xs, ys, node_text + edge_text, xr, yr, (FRAME_W, height), 12.0, "tree-labels",
                   anchors=list(zip(xs, ys)) + edge_mid)
    p.add_layout(ColorBar(color_mapper=mapper, title=metric.title, width=10), "right")
    p.add_tools(HoverTool(tooltips=[("variant", "@name"), (metric.title, "@value{0.[000]}")]))
    return p


def latency_figure(hist: dict[str, Any], labels: dict[str, str]) -> figure:
    """Overlaid latency histograms (share of each variant's samples per bin)."""
    p = _fig("Latency distribution (raw samples)")
    p.xaxis.axis_label, p.yaxis.axis_label = "latency (ms)", "share of samples (%)"
    edges = hist.get("edges_ms") or []
    for i, (mid, s) in enumerate(sorted(hist.get("series", {}).items(), key=lambda kv: labels.get(kv[0], ""))):
        total = s["total"] or 1
        color = PALETTE[i % len(PALETTE)]
        p.quad(left=edges[:-1], right=edges[1:], bottom=0, top=[100.0 * c / total for c in s["counts"]],
               fill_color=color, fill_alpha=0.35, line_color=color,
               legend_label=f"{labels.get(mid, mid)} (n={s['total']:,})")
    if hist.get("series"):
        q = hist.get("upper_quantile", 0.995)
        p.title.text += f"; last bin holds samples above the pooled p{q * 100:g}"
        p.legend.click_policy = "hide"
    return p


def layers_figure(layers: pd.DataFrame, name: str) -> figure:
    """Per-layer sparsity and mean relative weight change against the base."""
    names = [str(x) for x in layers["layer"]]
    p = _fig(f"Layers of {name}", height=max(260, 26 * len(names) + 80), y_range=list(reversed(names)))
    p.xaxis.axis_label = "% of weights"
    p.hbar(y=names, right=[100 * v for v in _num(layers["sparsity"])], height=0.4, color="#1f77b4",
           legend_label="sparsity (% zeros)")
    change = [100 * v for v in _num(layers["change_mean_rel"])]
    p.scatter(x=change, y=names, size=10, marker="diamond", color="#ff7f0e",
              legend_label="mean |relative change| vs base (%)")
    p.legend.location = "bottom_right"
    return p


def history_figure(points: pd.DataFrame, value_key: str, steps: list[dict[str, Any]]) -> figure:
    """One line per variant across runs (oldest left); runs where a level step was detected are marked."""
    metric = METRICS[value_key]
    p = _fig(f"History: {metric.label}", x_axis_type="datetime")
    p.xaxis.axis_label, p.yaxis.axis_label = "run created", metric.title
    for i, (name, g) in enumerate(points.groupby("name", sort=True)):
        color = PALETTE[i % len(PALETTE)]
        ys = [metric.display(v) for v in g[value_key]]
        src = ColumnDataSource({"x": list(g["created_at"]), "y": [math.nan if v is None else v for v in ys],
                                "run": list(g["run_id"])})
        p.line("x", "y", source=src, color=color, legend_label=str(name))
        p.scatter("x", "y", source=src, color=color, size=6, legend_label=str(name))
    for s in steps:
        p.add_layout(Span(location=pd.Timestamp(s["created_at"]).value / 1e6, dimension="height",
                          line_color="#d62728", line_dash="dotted", line_width=2))
    if steps:
        p.title.text += f" — {len(steps)} step change(s) marked in red"
    p.add_tools(HoverTool(tooltips=[("run", "@run"), (metric.title, "@y{0.[000]}")]))
    if len(points):
        p.legend.click_policy = "hide"
        p.legend.location = "top_left"
    return p
