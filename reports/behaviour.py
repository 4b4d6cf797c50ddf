"""Per-instance behaviour of two variants of a run: which instances changed prediction, and by how much.

Reads the run's HDF5 outputs file through harness.store.outputs_file and compares any two variants with the Compress
and Compare kinds from harness.core.drift (the stored drift arrays only cover variant vs base/root; the dashboard lets
users pick any pair). Variant A is the reference.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core import drift

CLASSIFICATION_KINDS = [*drift.KINDS, *(f"{k}_argmax" for k in drift.KINDS)]
EMBEDDING_KINDS = ["cosine_similarity", "difference", "abs_difference", "ratio", "mse"]


@dataclass
class OutputContrast:
    """Result of comparing variant B against reference A on the eval set."""

    n: int
    classification: bool
    kind: str
    scores: np.ndarray                         # per instance, the chosen kind
    changed: list[int]                         # flipped instances (classification) or the most changed (embeddings)
    pred_a: np.ndarray | None = None
    pred_b: np.ndarray | None = None
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    instances: Any = None                      # (N, H, W) images or list of sentences
    notes: list[str] = field(default_factory=list)
    scores_all: dict[str, np.ndarray] = field(default_factory=dict)   # every comparison kind, per instance

    def class_name(self, c: int) -> str:
        if self.class_names and 0 <= c < len(self.class_names):
            return self.class_names[c]
        return str(c)


class BehaviourUnavailable(Exception):
    """The run has no per-instance outputs for these variants; the message says what to run."""


def contrast(hdf5_path: str | None, variant_a: str, variant_b: str, kind: str = "kl_divergence",
             most_changed: int = 20) -> OutputContrast:
    """Compare two variants' stored outputs instance by instance."""
    from harness.store.outputs_file import OutputsFile

    if not hdf5_path or not Path(hdf5_path).exists():
        raise BehaviourUnavailable(
            "This run has no per-instance outputs file. Run `harness bench` with the quality pass on (the "
            "default; not --no-quality) on an example with eval data, e.g. `harness bench --example digits`.")
    of = OutputsFile(hdf5_path)
    stored = of.variants()
    for vid in (variant_a, variant_b):
        if vid not in stored:
            raise BehaviourUnavailable(f"No outputs were stored for variant {vid} (it failed, or the run was "
                                       "interrupted before its quality pass).")
    a, b = of.outputs(variant_a), of.outputs(variant_b)
    if a.shape != b.shape:
        raise BehaviourUnavailable(f"The two variants' outputs have different shapes ({a.shape} vs {b.shape}).")
    pa, pb = of.predictions(variant_a), of.predictions(variant_b)
    classification = pa is not None and pb is not None
    scores_all = drift.comparisons(a, b, classification=classification)
    if not classification:
        scores_all["cosine_similarity"] = drift.cosine(a, b)
    kinds = CLASSIFICATION_KINDS if classification else EMBEDDING_KINDS
    if kind not in scores_all:
        kind = kinds[0] if classification else "cosine_similarity"
    scores = np.asarray(scores_all[kind], dtype=np.float64)
    if classification:
        flipped = np.flatnonzero(pa != pb)
        # most changed first, so the worst flips are at the top of a long list
        order = flipped[np.argsort(-np.abs(scores[flipped]), kind="stable")]
        changed = [int(i) for i in order]
    else:
        cos = scores_all["cosine_similarity"]
        changed = [int(i) for i in np.argsort(cos, kind="stable")[:most_changed]]
    return OutputContrast(n=len(a), classification=classification, kind=kind, scores=scores, changed=changed,
                      pred_a=pa, pred_b=pb, labels=of.labels(), class_names=of.class_names(),
                      instances=of.instances(), scores_all=scores_all)


def digit_svg(image: np.ndarray, cell: int = 6) -> str:
    """A small greyscale image as inline SVG (no image library, stays self-contained)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:            # (C, H, W): show the first channel
        img = img[0]
    lo, hi = float(img.min()), float(img.max())
    norm = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    h, w = norm.shape
    rects = "".join(
        f'<rect x="{x * cell}" y="{y * cell}" width="{cell}" height="{cell}" fill="rgb({g},{g},{g})"/>'
        for y in range(h) for x in range(w) for g in [int(255 * (1 - norm[y, x]))])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * cell}" height="{h * cell}" '
            f'role="img" aria-label="instance image">{rects}</svg>')


def instance_html(comparison: OutputContrast, index: int) -> str:
    inst = comparison.instances
    if inst is None:
        return "–"
    if isinstance(inst, list):
        return html.escape(str(inst[index]))
    return digit_svg(inst[index])


def changed_table_html(comparison: OutputContrast, name_a: str, name_b: str, limit: int = 60) -> str:
    """HTML table of the flipped (or most changed) instances with the instance shown and both predictions."""
    rows = []
    for i in comparison.changed[:limit]:
        label = "–" if comparison.labels is None else html.escape(comparison.class_name(int(comparison.labels[i])))
        if comparison.classification:
            pa = html.escape(comparison.class_name(int(comparison.pred_a[i])))
            pb = html.escape(comparison.class_name(int(comparison.pred_b[i])))
            preds = f"<td>{pa}</td><td>{pb}</td>"
        else:
            preds = ""
        rows.append(f"<tr><td>#{i}</td><td>{instance_html(comparison, i)}</td><td>{label}</td>{preds}"
                    f"<td>{comparison.scores[i]:.4g}</td></tr>")
    a, b = html.escape(name_a), html.escape(name_b)
    head = (f"<th>instance</th><th></th><th>label</th><th>{a} predicts</th><th>{b} predicts</th>"
            if comparison.classification else "<th>instance</th><th></th><th>label</th>")
    more = (f"<p>… and {len(comparison.changed) - limit} more</p>" if len(comparison.changed) > limit else "")
    return (f'<table class="flips"><thead><tr>{head}<th>{html.escape(comparison.kind)}</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{more}")
