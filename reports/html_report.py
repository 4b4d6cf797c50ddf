"""`harness report`: one self-contained HTML file of a run, for sharing and CI artifacts.

Bokeh's `file_html` with INLINE resources puts BokehJS and every plot's data in the page, so the file opens
offline and from a CI artifact store; the table is plain HTML with inline styles.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from harness.reports.data import ReportReader, with_ratios
from harness.reports.metrics import METRICS

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table.variants { border-collapse: collapse; font-size: 13px; margin: 12px 0; }
table.variants th, table.variants td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; }
table.variants th:first-child, table.variants td:first-child { text-align: left; }
.note { color: #555; font-size: 13px; }
"""


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def table_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="variants"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def build_report(db: str | Path, run_id: str, lock_timeout_s: float = 60.0) -> str:
    """The report's HTML text."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Div
    from bokeh.resources import INLINE

    from harness.reports import plots
    from harness.reports.tables import display_table

    reader = ReportReader(db, lock_timeout_s=lock_timeout_s)
    data = reader.run_data(run_id)
    run = data.run
    full = with_ratios(data.table, data.root_id)
    title = f"harness report · {run.get('model')} on {run.get('device')} · run {run_id}"
    parts = [Div(text=f"<style>{_STYLE}</style><h1>{html.escape(title)}</h1>"
                      f"<p class='note'>created {html.escape(str(run.get('created_at'))[:19])} · status "
                      f"{html.escape(str(run.get('status')))} · tag {html.escape(str(run.get('tag') or '–'))} · "
                      f"host {html.escape(str(run.get('host') or '–'))} · git {html.escape(str(run.get('git_sha') or '–'))}"
                      "</p><h2>Variants</h2><p class='note'>× columns are ratios against "
                      f"{html.escape(data.variant_label(data.root_id) if data.root_id else '–')} (the FP32 root)."
                      "</p>" + table_html(display_table(full)), sizing_mode="stretch_width")]
    from harness.reports.tables import board_table, drift_frame

    boards = board_table(full)
    if len(boards):
        # a fleet run: the same variants side by side per board (the dashboard's "By board" tab)
        parts.append(Div(text="<h2>By board</h2><p class='note'>p50 latency and energy per inference of every "
                              "variant on each board of this fleet run.</p>" + table_html(boards),
                         sizing_mode="stretch_width"))
    drift = drift_frame(data)
    if len(drift):
        parts.append(Div(text="<h2>Drift against the original, every output</h2>" + table_html(drift),
                         sizing_mode="stretch_width"))
    from harness.reports.tables import no_effect_notes

    flagged = no_effect_notes(full)
    if flagged:
        items = "".join(f"<li>{html.escape(n)}: {html.escape(r)}</li>" for n, r in flagged)
        parts.append(Div(text=f"<h3>Variants that changed nothing</h3><ul>{items}</ul>"))
    failed = full[full["variant_status"] != "ok"]
    if len(failed):
        items = "".join(f"<li>{html.escape(str(r['name']))}: {html.escape(str(r['variant_error']))}</li>"
                        for _, r in failed.iterrows())
        parts.append(Div(text=f"<h3>Variants that did not export</h3><ul>{items}</ul>"))
    ok = data.ok_rows
    if len(ok):
        has_quality = ok["accuracy"].notna().any()
        parts.append(plots.pareto_figure(ok, "p90_ms", "accuracy" if has_quality else "size_bytes"))
        parts.append(plots.pareto_figure(ok, "size_bytes", "kl" if ok["kl"].notna().any() else "p50_ms"))
        ids = list(ok["measurement_id"])[:8]
        labels = {m: str(l) for m, l in zip(data.table["measurement_id"], data.table["label"])}
        hist = reader.histograms(ids)
        if hist["series"]:
            parts.append(plots.latency_figure(hist, labels))
    else:
        parts.append(Div(text="<p>No variant of this run was measured.</p>"))
    from harness.reports.roofline import loadgen_table_html, roofline_figure, run_roofline

    points, loadgen = run_roofline(reader.store, run_id)
    if points:
        parts.append(roofline_figure(points))
    if loadgen:
        parts.append(Div(text=loadgen_table_html(points, loadgen), sizing_mode="stretch_width"))
    parts += layer_profile_parts(data.profiles)
    variants = data.table.drop_duplicates("variant_id")
    tree_rows = [{"variant_id": r["variant_id"], "name": r["name"], "base_id": r["base_id"],
                  "operation": r["operation"],
                  "params": json.loads(r["params"]) if isinstance(r["params"], str) and r["params"] else {}}
                 for _, r in variants.iterrows()]
    if tree_rows:
        parts.append(plots.tree_figure(tree_rows, dict(zip(variants["variant_id"], variants["p50_ms"])), "p50_ms"))
    units = " · ".join(METRICS[k].title for k in METRICS)
    parts.append(Div(text=f"<p class='note'>Units: {html.escape(units)}. Made by `harness report`.</p>"))
    return file_html(column(*parts, sizing_mode="stretch_width"), INLINE, title=title)


TOP_LAYERS = 10


def layer_profile_parts(profiles: dict) -> list:
    """`bench --profile-layers`: per profiled variant (the root has nothing to compare), the explanation, its
    time per layer beside the FP32 root's and its error per layer, and the 10 layers that added the most time
    and the 10 where the most error entered. Layer names come from the user's model: escaped in every cell."""
    from bokeh.models import Div

    from harness.reports import plots

    shown = [p for p in profiles.values() if not p.is_root]
    if not shown:
        return []
    parts = [Div(text="<h2>Per-layer profile</h2><p class='note'>From <code>harness bench --profile-layers</code>: "
                      "each layer's time per call against the same layer of the FP32 root, in the precision it "
                      "ran in, and the relative error of its output. <code>harness layers RUN</code> prints every "
                      "row.</p>", sizing_mode="stretch_width")]
    for p in shown:
        lines = "".join(f"<p>{html.escape(t)}</p>" for t in [p.summary(), *p.explanation()])
        source = f"<p class='note'>times from the {html.escape(p.time_source)}</p>" if p.time_source else ""
        parts.append(Div(text=f"<h3>{html.escape(p.name)}</h3>{lines}{source}", sizing_mode="stretch_width"))
        parts.append(plots.layer_profile_figure(p))
        by_time = p.table("time", TOP_LAYERS)
        by_error = p.table("error", TOP_LAYERS)
        parts.append(Div(text=f"<h4>Top {TOP_LAYERS} layers by time added</h4>" + table_html(by_time)
                              + f"<h4>Top {TOP_LAYERS} layers by error added</h4>" + table_html(by_error),
                         sizing_mode="stretch_width"))
    return parts


def write_report(db: str | Path, run_id: str, out: str | Path, lock_timeout_s: float = 60.0) -> Path:
    out = Path(out)
    text = build_report(db, run_id, lock_timeout_s)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
