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


# the per-layer profile (`harness bench --profile-layers`): one row of two bars per layer, so the figure grows with
# the layer count; past this many only the slowest layers are drawn (still in graph order; the table has them all)
MAX_PROFILE_LAYERS = 60
LAYER_ROW_PX = 26
LAYER_LABEL_CHARS = 30
PROFILE_TIME_W = 520
PROFILE_ERROR_W = 300


def short_layer(name: str, limit: int = LAYER_LABEL_CHARS) -> str:
    """A layer name for an axis: its start and its end (where ONNX names say what the node is) around an ellipsis."""
    if len(name) <= limit:
        return name
    head = (limit - 1) // 3
    return name[:head] + "…" + name[-(limit - 1 - head):]


def _nan(v) -> float:
    return float("nan") if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def layer_profile_figure(profile):
    """Time per layer of a profiled variant beside its FP32 root's (bars coloured by the precision the layer ran
    in, an × where float work ran between Q/DQ nodes), and beside that the output error per layer. `profile` is a
    harness.reports.layer_profile.VariantProfile. Layer names are axis text and hover fields, never markup."""
    from bokeh.layouts import row
    from bokeh.models import FactorRange
    from bokeh.transform import dodge

    from harness.reports.layer_profile import ROOT_COLOUR, precision_colour, precision_label

    layers = profile.layers()
    title_note = ""
    if len(layers) > MAX_PROFILE_LAYERS:
        def cost(r):
            return max(_nan(r["time_ms"]) if r["time_ms"] is not None else 0.0,
                       _nan(r["base_time_ms"]) if r["base_time_ms"] is not None else 0.0)
        keep = {id(r) for r in sorted(layers, key=cost, reverse=True)[:MAX_PROFILE_LAYERS]}
        title_note = f" (the {MAX_PROFILE_LAYERS} slowest of {len(layers)} layers)"
        layers = [r for r in layers if id(r) in keep]
    keys, seen = [], set()
    for r in layers:
        k = short_layer(r["layer"])
        if k in seen:       # two names that shorten alike: the graph position tells them apart
            k = f"{k} #{r['layer_order']}"
        seen.add(k)
        keys.append(k)
    data = {
        "key": keys, "layer": [r["layer"] for r in layers], "op_type": [r["op_type"] or "-" for r in layers],
        "ran_as": [r["ran_as"] or "-" for r in layers], "base_ran_as": [r["base_ran_as"] or "-" for r in layers],
        "precision": [precision_label(r["precision"]) if r["time_ms"] is not None else "-" for r in layers],
        "colour": [precision_colour(r["precision"]) for r in layers],
        "time_ms": [_nan(r["time_ms"]) for r in layers], "base_time_ms": [_nan(r["base_time_ms"]) for r in layers],
        "added_ms": [_nan(r["time_added_ms"]) for r in layers], "qdq_ms": [_nan(r["qdq_ms"]) for r in layers],
        "unfused": ["yes: float work between Q/DQ" if r["unfused_qdq"] else "no" for r in layers],
        "rel_l2": [_nan(r["rel_l2"]) for r in layers], "error_added": [_nan(r["error_added"]) for r in layers],
    }
    source = ColumnDataSource(data, name="layer_profile")
    y_range = FactorRange(factors=list(reversed(keys)))     # graph order, top to bottom
    frame_h = max(180, LAYER_ROW_PX * len(keys))
    root = profile.is_root
    name = profile.name
    base = profile.root_name or "FP32 root"
    title = (f"Time per layer: {name} (FP32 root){title_note}" if root else
             f"Time per layer: {base} (FP32 root) vs {name}{title_note}")
    t = figure(title=title, y_range=y_range, frame_width=PROFILE_TIME_W, frame_height=frame_h,
               toolbar_location="right", tools="xpan,xwheel_zoom,reset,save", name="layer_time")
    t.xaxis.axis_label = "time per call (ms)"
    t.ygrid.visible = False
    t.yaxis.major_label_text_font_size = "9pt"
    t.x_range.start = 0
    hover = [("layer", "@layer"), ("op", "@op_type"), ("ran as", "@ran_as"), ("precision", "@precision"),
             (f"{name} ms", "@time_ms{0.[0000]}")]
    if root:
        bars = t.hbar(y="key", right="time_ms", height=0.6, source=source, fill_color="colour", line_color=None,
                      legend_field="precision", name="variant_bars")
        renderers = [bars]
    else:
        base_bars = t.hbar(y=dodge("key", 0.2, range=y_range), right="base_time_ms", height=0.36, source=source,
                           fill_color=ROOT_COLOUR, line_color=None, legend_label=f"{base} (FP32 root)",
                           name="root_bars")
        bars = t.hbar(y=dodge("key", -0.2, range=y_range), right="time_ms", height=0.36, source=source,
                      fill_color="colour", line_color=None, legend_field="precision", name="variant_bars")
        renderers = [base_bars, bars]
        hover += [("FP32 ms", "@base_time_ms{0.[0000]}"), ("FP32 ran as", "@base_ran_as"),
                  ("added ms", "@added_ms{+0.[0000]}"), ("of which Q/DQ ms", "@qdq_ms{0.[0000]}"),
                  ("unfused Q/DQ", "@unfused")]
        unfused = [i for i, r in enumerate(layers) if r["unfused_qdq"]]
        if unfused:
            # just past the bar's end
            gap = 0.03 * max([v for v in data["time_ms"] + data["base_time_ms"] if v == v] or [1.0])
            marks = ColumnDataSource({**{k: [v[i] for i in unfused] for k, v in data.items()},
                                      "mark_x": [data["time_ms"][i] + gap for i in unfused]}, name="unfused_qdq")
            t.scatter(x="mark_x", y=dodge("key", -0.2, range=y_range), source=marks, marker="x", size=10,
                      line_width=2.5, line_color="#000000",
                      legend_label="float between Q/DQ (unfused)", name="unfused_marks")
    t.add_tools(HoverTool(tooltips=hover, renderers=renderers))
    t.legend.orientation = "horizontal"
    t.legend.label_text_font_size = "9pt"
    t.add_layout(t.legend[0], "below")
    if root:
        return t
    e = figure(title=f"Output error per layer: {name}", y_range=y_range, frame_width=PROFILE_ERROR_W,
               frame_height=frame_h, toolbar_location="right", tools="xpan,xwheel_zoom,reset,save",
               name="layer_error")
    e.xaxis.axis_label = "relative L2 error vs FP32"
    e.yaxis.visible = False         # the same rows as the time plot beside it
    e.ygrid.visible = False
    err_bars = e.hbar(y="key", right="rel_l2", height=0.6, source=source, fill_color="#9467bd", fill_alpha=0.45,
                      line_color=None, legend_label="error of the layer's output", name="error_bars")
    added = e.scatter(x="error_added", y="key", source=source, marker="diamond", size=11, color="#d62728",
                      legend_label="error added in this layer", name="error_added")
    e.add_layout(Span(location=0, dimension="height", line_color="#888", line_width=1))
    e.add_tools(HoverTool(tooltips=[("layer", "@layer"), ("ran as", "@ran_as"), ("precision", "@precision"),
                                    ("rel. error", "@rel_l2{0.[0000]}"), ("error added", "@error_added{+0.[0000]}")],
                          renderers=[err_bars, added]))
    e.legend.orientation = "horizontal"
    e.legend.label_text_font_size = "9pt"
    e.add_layout(e.legend[0], "below")
    return row(t, e, name="layer_profile_figure")
