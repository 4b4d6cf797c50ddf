"""Bokeh figures shared by the dashboard and the static HTML report.

Each builder takes plain data (frames, dicts) and returns a figure, so the same plot appears in both places and
can be tested without a server. Axis labels always carry units from harness.reports.metrics.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
from bokeh.models import (ColorBar, ColumnDataSource, HoverTool, LabelSet, LinearColorMapper, Span)
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure

from harness.reports.metrics import METRICS
from harness.reports.pareto import pareto_front
from harness.reports.provenance import layout

PALETTE = list(Category10_10)


def _fig(title: str, height: int = 360, **kw) -> figure:
    kw.setdefault("sizing_mode", "stretch_width")
    return figure(title=title, height=height, toolbar_location="right",
                  tools="pan,wheel_zoom,box_zoom,reset,save", **kw)


def _num(values) -> list[float]:
    return [float("nan") if v is None or pd.isna(v) else float(v) for v in values]


def pareto_figure(rows: pd.DataFrame, x_key: str, y_key: str) -> figure:
    """Variants on two metrics; the non-dominated ones (given each metric's better direction) joined as a
    front."""
    mx, my = METRICS[x_key], METRICS[y_key]
    p = _fig(f"Pareto: {mx.label} vs {my.label}")
    p.xaxis.axis_label, p.yaxis.axis_label = mx.title, my.title
    xs = [mx.display(v) for v in rows[x_key]] if len(rows) else []
    ys = [my.display(v) for v in rows[y_key]] if len(rows) else []
    front = pareto_front(xs, ys, mx.better, my.better)
    keep = [i for i, (x, y) in enumerate(zip(xs, ys)) if x is not None and y is not None]
    data = {"x": [xs[i] for i in keep], "y": [ys[i] for i in keep],
            "label": [str(rows["label"].iloc[i]) for i in keep],
            "front": ["on the front" if front[i] else "dominated" for i in keep],
            "color": ["#d62728" if front[i] else "#7f7f7f" for i in keep],
            "size": [13 if front[i] else 9 for i in keep]}
    source = ColumnDataSource(data, name="pareto_points")
    fx = sorted((data["x"][k], data["y"][k]) for k in range(len(keep)) if data["front"][k] == "on the front")
    p.step([x for x, _ in fx], [y for _, y in fx], mode="after", line_color="#d62728", line_dash="dashed",
           legend_label="Pareto front")
    p.scatter("x", "y", source=source, color="color", size="size", alpha=0.85)
    p.add_layout(LabelSet(x="x", y="y", text="label", source=source, x_offset=6, y_offset=4,
                          text_font_size="9pt"))
    p.add_tools(HoverTool(tooltips=[("variant", "@label"), (mx.title, "@x{0.[000]}"),
                                    (my.title, "@y{0.[000]}"), ("", "@front")]))
    p.legend.location = "top_right"
    missing = len(rows) - len(keep)
    if missing:
        p.title.text += f"  ({missing} variant(s) without both values not shown)"
    return p


def tree_figure(variants: list[dict[str, Any]], values: dict[str, float | None], color_key: str) -> figure:
    """Provenance tree, root on the left; node colour is `color_key` (display units), grey where missing."""
    metric = METRICS[color_key]
    nodes = layout(variants)
    p = _fig(f"Provenance (colour: {metric.title})", height=max(260, 70 * (1 + int(max([n.y for n in nodes],
                                                                                       default=0)))))
    p.xaxis.axis_label = "compression steps from the FP32 root"
    p.yaxis.visible = False
    p.ygrid.visible = False
    pos = {n.variant_id: (n.depth, n.y) for n in nodes}
    edges = [(pos[n.base_id], (n.depth, n.y), n.operation) for n in nodes if n.base_id in pos]
    if edges:
        p.segment([a[0] for a, _, _ in edges], [a[1] for a, _, _ in edges], [b[0] for _, b, _ in edges],
                  [b[1] for _, b, _ in edges], line_color="#999", line_width=2)
        esrc = ColumnDataSource({"x": [(a[0] + b[0]) / 2 for a, b, _ in edges],
                                 "y": [(a[1] + b[1]) / 2 for a, b, _ in edges],
                                 "text": [op for _, _, op in edges]})
        p.add_layout(LabelSet(x="x", y="y", text="text", source=esrc, text_font_size="8pt",
                              text_color="#555", y_offset=4, text_align="center"))
    shown = [metric.display(values.get(n.variant_id)) for n in nodes]
    finite = [v for v in shown if v is not None]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi == lo:
        hi = lo + 1e-9
    palette = Viridis256 if metric.better == "higher" else list(reversed(Viridis256))
    mapper = LinearColorMapper(palette=palette, low=lo, high=hi, nan_color="#cccccc")
    src = ColumnDataSource({"x": [n.depth for n in nodes], "y": [n.y for n in nodes],
                            "name": [n.name for n in nodes], "value": [math.nan if v is None else v for v in shown],
                            "text": [f"{n.name}\n{metric.format(values.get(n.variant_id))}" for n in nodes]})
    p.scatter("x", "y", source=src, size=22, line_color="#333",
              fill_color={"field": "value", "transform": mapper})
    p.add_layout(LabelSet(x="x", y="y", text="text", source=src, x_offset=14, y_offset=-12, text_font_size="9pt"))
    p.add_layout(ColorBar(color_mapper=mapper, title=metric.title, width=10), "right")
    p.add_tools(HoverTool(tooltips=[("variant", "@name"), (metric.title, "@value{0.[000]}")]))
    p.x_range.range_padding = 0.4
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
