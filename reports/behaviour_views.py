"""Behaviour views of two variants beyond the list of flips, at least as informative as Compress and Compare's:

  - a prediction-change matrix: reference class (rows) x compared class (columns), instance counts; a cell's
    instances can be listed (the dashboard lists them when the cell is clicked);
  - the distribution of every per-instance comparison kind (C&C's difference, abs_difference, ratio, mse,
    kl_divergence and their argmax forms; for embeddings cosine and the raw-vector kinds) as histograms;
  - the top-k most divergent instances, shown as images or text, whether or not any prediction flipped.
Pure functions over a harness.reports.behaviour.OutputContrast, plus the Panel/Bokeh builders the dashboard uses.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.reports.behaviour import OutputContrast, instance_html

# kinds where a larger value means "moved more"; the rest are handled in divergence()
_LARGER_IS_MORE = {"abs_difference", "abs_difference_argmax", "mse", "mse_argmax", "kl_divergence",
                   "kl_divergence_argmax", "logits_mse"}


@dataclass(frozen=True)
class ChangeMatrix:
    classes: list[int]                       # class indices, rows and columns
    counts: np.ndarray                       # (k, k): counts[i, j] = instances A predicts classes[i], B classes[j]
    cells: dict[tuple[int, int], list[int]]  # (class A, class B) -> instance indices

    @property
    def changed(self) -> int:
        return int(self.counts.sum() - np.trace(self.counts))

    def instances(self, class_a: int, class_b: int) -> list[int]:
        return list(self.cells.get((int(class_a), int(class_b)), []))


def change_matrix(pred_a: np.ndarray, pred_b: np.ndarray, n_classes: int | None = None) -> ChangeMatrix:
    a, b = np.asarray(pred_a, dtype=np.int64), np.asarray(pred_b, dtype=np.int64)
    present = set(np.unique(a).tolist()) | set(np.unique(b).tolist())
    classes = list(range(n_classes)) if n_classes else sorted(present)
    classes = sorted(set(classes) | present)
    pos = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    cells: dict[tuple[int, int], list[int]] = {}
    for idx, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
        counts[pos[x], pos[y]] += 1
        cells.setdefault((x, y), []).append(idx)
    return ChangeMatrix(classes, counts, cells)


def divergence(kind: str, values: np.ndarray) -> np.ndarray:
    """Per-instance 'how far apart', larger = more divergent, for any comparison kind."""
    v = np.asarray(values, dtype=np.float64)
    if kind in _LARGER_IS_MORE:
        return v
    if kind.startswith("ratio"):
        return np.abs(np.log(np.clip(v, 1e-12, None)))
    if kind == "cosine_similarity":
        return 1.0 - v
    return np.abs(v)    # difference kinds: either direction counts


def top_divergent(comp: OutputContrast, k: int = 12, kind: str | None = None) -> list[int]:
    """The k instances that moved most on `kind` (default the comparison's), flipped or not; ties keep order."""
    kind = kind or comp.kind
    scores = comp.scores_all.get(kind, comp.scores) if comp.scores_all else comp.scores
    d = divergence(kind, scores)
    d = np.where(np.isfinite(d), d, np.inf)
    return [int(i) for i in np.argsort(-d, kind="stable")[:k]]


def kind_histograms(comp: OutputContrast, bins: int = 30) -> dict[str, dict[str, Any]]:
    """{kind: {edges, counts, mean}} for every per-instance comparison kind of the pair."""
    out = {}
    for kind, values in (comp.scores_all or {comp.kind: comp.scores}).items():
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        lo, hi = float(v.min()), float(v.max())
        if hi <= lo:
            hi = lo + max(abs(lo) * 1e-6, 1e-12)
        counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
        out[kind] = {"edges": edges.tolist(), "counts": counts.tolist(), "mean": float(v.mean()), "n": int(v.size)}
    return out


# -- HTML / Panel builders --------------------------------------------------------------------------------------
def matrix_frame(matrix: ChangeMatrix, comp: OutputContrast, name_a: str, name_b: str):
    """The matrix as a DataFrame: first column the reference's class, then one column per compared class."""
    import pandas as pd

    rows = []
    for i, ca in enumerate(matrix.classes):
        row = {f"{name_a} \u2193 / {name_b} \u2192": comp.class_name(ca)}
        for j, cb in enumerate(matrix.classes):
            row[comp.class_name(cb)] = int(matrix.counts[i, j])
        rows.append(row)
    return pd.DataFrame(rows)


def instances_html(comp: OutputContrast, indices: list[int], name_a: str, name_b: str, title: str,
                   limit: int = 60, kind: str | None = None) -> str:
    """A table of instances (image or text), their label, both predictions, flipped or not, and a score."""
    kind = kind or comp.kind
    scores = comp.scores_all.get(kind, comp.scores) if comp.scores_all else comp.scores
    a, b = html.escape(name_a), html.escape(name_b)
    head = "<th>instance</th><th></th><th>label</th>"
    if comp.classification:
        head += f"<th>{a} predicts</th><th>{b} predicts</th><th>flipped</th>"
    head += f"<th>{html.escape(kind)}</th>"
    body = []
    for i in indices[:limit]:
        label = "–" if comp.labels is None else html.escape(comp.class_name(int(comp.labels[i])))
        cells = f"<td>#{i}</td><td>{instance_html(comp, i)}</td><td>{label}</td>"
        if comp.classification:
            pa, pb = int(comp.pred_a[i]), int(comp.pred_b[i])
            cells += (f"<td>{html.escape(comp.class_name(pa))}</td><td>{html.escape(comp.class_name(pb))}</td>"
                      f"<td>{'yes' if pa != pb else 'no'}</td>")
        cells += f"<td>{float(scores[i]):.4g}</td>"
        body.append(f"<tr>{cells}</tr>")
    more = f"<p>… and {len(indices) - limit} more</p>" if len(indices) > limit else ""
    return (f"<h4>{html.escape(title)}</h4><table class=\"flips divergent\"><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{more}")


def histograms_figure(hists: dict[str, dict[str, Any]], selected: str, name_a: str, name_b: str):
    """A grid of small histograms, one per comparison kind; the selected kind is drawn in orange."""
    from bokeh.layouts import gridplot
    from bokeh.plotting import figure

    figs = []
    for kind, h in hists.items():
        p = figure(title=f"{kind} (mean {h['mean']:.3g})", height=170, width=220, toolbar_location=None,
                   tools="")
        p.title.text_font_size = "9pt"
        e = h["edges"]
        color = "#ff7f0e" if kind == selected else "#1f77b4"
        p.quad(left=e[:-1], right=e[1:], bottom=0, top=h["counts"], fill_color=color, line_color=color,
               fill_alpha=0.6)
        p.yaxis.axis_label = "instances"
        p.xaxis.major_label_text_font_size = "7pt"
        figs.append(p)
    return gridplot(figs, ncols=5, toolbar_location=None)


def summary_text(comp: OutputContrast, matrix: ChangeMatrix | None, name_a: str, name_b: str, k: int) -> str:
    if comp.classification and matrix is not None:
        return (f"**Prediction changes** ({name_a} rows → {name_b} columns): {matrix.changed} of {comp.n} "
                f"instances off the diagonal. Click a cell to list its instances. Below: every comparison "
                f"kind's distribution and the {k} instances whose output moved most on {comp.kind}, "
                "flipped or not.")
    return (f"Every comparison kind's distribution between {name_a} and {name_b}, and the {k} instances whose "
            f"output moved most on {comp.kind}.")
