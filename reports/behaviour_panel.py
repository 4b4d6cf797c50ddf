"""Panel pieces of the behaviour and layer tabs that go beyond the flip list: the clickable prediction-change
matrix, histograms of every comparison kind, the most divergent instances, and per-layer activation similarity
beside the weight-change view. Kept out of reports/dashboard.py so the dashboard only wires them in."""
from __future__ import annotations

from typing import Any

import panel as pn

from harness.reports import behaviour_views as bv
from harness.reports.behaviour import OutputContrast

TOP_K = 12


class BehaviourPanel:
    """Holds the panes; `show` fills them for a pair of variants, `clear` empties them."""

    def __init__(self, css: str):
        self.comp: OutputContrast | None = None
        self.matrix: bv.ChangeMatrix | None = None
        self.names = ("A", "B")
        self.intro = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.table = pn.widgets.Tabulator(disabled=True, show_index=False, selectable=False,
                                          sizing_mode="stretch_width", layout="fit_data_table")
        self.table.on_click(self._clicked)
        self.cell = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[css])
        self.hists = pn.pane.Bokeh(None, sizing_mode="stretch_width")
        self.top = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[css])
        self.view = pn.Column(self.intro, self.table, self.cell, self.hists, self.top, sizing_mode="stretch_width")

    def clear(self) -> None:
        self.comp = self.matrix = None
        self.intro.object = ""
        self.table.visible = False
        self.cell.object = self.top.object = ""
        self.hists.object = None

    def show(self, comp: OutputContrast, name_a: str, name_b: str) -> None:
        self.comp, self.names = comp, (name_a, name_b)
        self.cell.object = ""
        if comp.classification and comp.pred_a is not None and comp.pred_b is not None:
            n_classes = len(comp.class_names) if comp.class_names else None
            self.matrix = bv.change_matrix(comp.pred_a, comp.pred_b, n_classes)
            self.table.value = bv.matrix_frame(self.matrix, comp, name_a, name_b)
            self.table.visible = True
        else:
            self.matrix = None
            self.table.visible = False
        self.intro.object = bv.summary_text(comp, self.matrix, name_a, name_b, TOP_K)
        self.hists.object = bv.histograms_figure(bv.kind_histograms(comp), comp.kind, name_a, name_b)
        top = bv.top_divergent(comp, TOP_K)
        self.top.object = bv.instances_html(comp, top, name_a, name_b,
                                            f"The {len(top)} most divergent instances ({comp.kind})")

    def select_cell(self, row: int, column: str) -> list[int]:
        """List the instances of matrix cell (row, column name); returns them (also what a click does)."""
        if self.matrix is None or self.comp is None or row is None or row >= len(self.matrix.classes):
            return []
        by_name = {self.comp.class_name(c): c for c in self.matrix.classes}
        if column not in by_name:
            return []
        ca, cb = self.matrix.classes[row], by_name[column]
        idx = self.matrix.instances(ca, cb)
        a, b = self.names
        title = (f"{len(idx)} instance(s): {a} predicts {self.comp.class_name(ca)}, "
                 f"{b} predicts {self.comp.class_name(cb)}")
        # within a cell, the most divergent first
        order = bv.divergence(self.comp.kind, self.comp.scores)
        idx = sorted(idx, key=lambda i: -float(order[i]))
        self.cell.object = bv.instances_html(self.comp, idx, a, b, title)
        return idx

    def _clicked(self, event) -> None:
        self.select_cell(getattr(event, "row", None), getattr(event, "column", None))


def activation_pane(rows: list[dict[str, Any]], name: str, base_name: str):
    """Per-layer activation similarity of a variant to its base (linear CKA, and cosine where shapes match)."""
    from bokeh.plotting import figure

    if not rows:
        return pn.pane.Alert(
            f"No activation comparison for {name}. It is computed by the quality pass for ONNX variants whose "
            "base is an ONNX file with the same tensor names (run `harness bench` with the quality pass on).",
            alert_type="info", sizing_mode="stretch_width")
    layers = [str(r["layer"]) for r in rows]
    p = figure(title=f"Activations of {name} vs {base_name} (n={rows[0].get('n')})", y_range=list(reversed(layers)),
               height=max(260, 26 * len(layers) + 80), x_range=(0, 1.05), sizing_mode="stretch_width",
               toolbar_location=None, tools="")
    p.xaxis.axis_label = "similarity (1 = same representation)"
    p.hbar(y=layers, right=[r["cka"] if r["cka"] is not None else 0.0 for r in rows], height=0.4,
           color="#2ca02c", legend_label="linear CKA")
    cos = [(r["cosine"], layer) for r, layer in zip(rows, layers) if r.get("cosine") is not None]
    if cos:
        p.scatter(x=[c for c, _ in cos], y=[layer for _, layer in cos], size=10, marker="diamond",
                  color="#9467bd", legend_label="mean cosine")
    p.legend.location = "bottom_left"
    return pn.pane.Bokeh(p, sizing_mode="stretch_width")
