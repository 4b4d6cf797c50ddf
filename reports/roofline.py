"""The roofline of a run (each measured variant a dot under its precision's roofs, ridge points marked) and its
LoadGen verdicts, for the dashboard's Roofline tab and the HTML report."""
from __future__ import annotations

import html
from typing import Any

from bokeh.models import ColumnDataSource, HoverTool, Label, LabelSet
from bokeh.plotting import figure

from harness.core.roofline import ridge_point

COLORS = {"fp32": "#1f77b4", "fp16": "#2ca02c", "int8": "#d62728"}
OTHER = "#7f7f7f"


def run_roofline(store, run_id: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """(roofline points, LoadGen results by measurement id) of one run, through the store's named queries."""
    from harness.store.scenario_queries import loadgen_results_for_run, roofline_points

    return roofline_points(store, [run_id]), loadgen_results_for_run(store, run_id)


def roofline_figure(points: list[dict[str, Any]], height: int = 420) -> figure:
    """Log-log: arithmetic intensity (FLOP/byte) against achieved GOPS; one roof per precision that has a peak
    (memory slope up to the ridge point, then the compute peak)."""
    usable = [p for p in points if (p.get("arithmetic_intensity") or 0) > 0 and (p.get("achieved_gops") or 0) > 0]
    p = figure(title="Roofline", height=height, sizing_mode="stretch_width", x_axis_type="log", y_axis_type="log",
               toolbar_location="right", tools="pan,wheel_zoom,box_zoom,reset,save")
    p.xaxis.axis_label = "arithmetic intensity (FLOP / byte moved)"
    p.yaxis.axis_label = "achieved GOPS (2 x MACs x calls/s)"
    if not usable:
        p.title.text += ": no measurement with counted MACs and a rate"
        return p
    xs = [float(q["arithmetic_intensity"]) for q in usable]
    x_lo, x_hi = min(xs) / 4, max(xs) * 4
    roofs: dict[str, tuple[float, float, str]] = {}
    for q in usable:
        prec = str(q.get("precision"))
        if q.get("peak_gops") and q.get("peak_bandwidth_gbps") and prec not in roofs:
            roofs[prec] = (float(q["peak_gops"]), float(q["peak_bandwidth_gbps"]), str(q.get("peak_source")))
    sources = set()
    for prec, (peak, bw, source) in sorted(roofs.items()):
        ridge = ridge_point(peak, bw)
        lo, hi = min(x_lo, ridge / 4), max(x_hi, ridge * 4)
        color = COLORS.get(prec, OTHER)
        p.line([lo, ridge, hi], [lo * bw, peak, peak], line_color=color, line_width=2,
               legend_label=f"{prec} roof: {peak:,.0f} GOPS, {bw:,.1f} GB/s")
        p.scatter([ridge], [peak], marker="diamond", size=12, color=color)
        p.add_layout(Label(x=ridge, y=peak, text=f"ridge {prec}: {ridge:.3g} FLOP/B", x_offset=6, y_offset=6,
                           text_font_size="9pt", text_color=color))
        sources.add(source)
    data = {"x": xs, "y": [float(q["achieved_gops"]) for q in usable],
            "label": [f"{q['name']} bs{q.get('batch_size')}" for q in usable],
            "precision": [str(q.get("precision")) for q in usable],
            "scenario": [str(q.get("scenario") or "harness") for q in usable],
            "fraction": [f"{q['peak_fraction']:.2%}" if q.get("peak_fraction") is not None else "–" for q in usable],
            "color": [COLORS.get(str(q.get("precision")), OTHER) for q in usable]}
    src = ColumnDataSource(data, name="roofline_points")
    p.scatter("x", "y", source=src, color="color", size=10, alpha=0.9)
    p.add_layout(LabelSet(x="x", y="y", text="label", source=src, x_offset=6, y_offset=-12, text_font_size="9pt"))
    p.add_tools(HoverTool(tooltips=[("variant", "@label"), ("precision", "@precision"), ("scenario", "@scenario"),
                                    ("FLOP/B", "@x{0.[000]}"), ("GOPS", "@y{0.[000]}"), ("of peak", "@fraction")]))
    if sources:
        p.title.text += " · peaks: " + "; ".join(sorted(sources))
    else:
        p.title.text += " · no device peak for these precisions"
    p.legend.location = "bottom_right"
    return p


def loadgen_table_html(points: list[dict[str, Any]], loadgen: dict[str, dict[str, Any]]) -> str:
    """LoadGen's verdict per measurement (empty string when the run used harness's own loop)."""
    if not loadgen:
        return ""
    names = {q["measurement_id"]: f"{q['name']} bs{q.get('batch_size')}" for q in points}

    def cell(v, digits: str = ".4g") -> str:
        return "–" if v is None else html.escape(format(v, digits) if isinstance(v, float) else str(v))

    rows = []
    for mid, r in loadgen.items():
        why = "<br>".join(html.escape(x) for x in (r.get("reasons") or []))
        rows.append(f"<tr><td>{html.escape(names.get(mid, mid))}</td><td>{cell(r['scenario'])}</td>"
                    f"<td>{cell(r['verdict'])}</td><td>{cell(r.get('qps'))}</td><td>{cell(r.get('p50_ms'))}</td>"
                    f"<td>{cell(r.get('p90_ms'))}</td><td>{cell(r.get('p99_ms'))}</td><td>{why or '–'}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("variant", "LoadGen scenario", "result", "QPS", "p50 ms", "p90 ms",
                                            "p99 ms", "why INVALID"))
    return (f'<h2>MLPerf LoadGen</h2><table class="variants"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")
