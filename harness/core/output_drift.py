"""Drift of every output of a model against the same output of a reference (its base, or the original file).

What an output is decides which metrics make sense for it:
  logits          float [instances, classes>=2], not named like an embedding, a state or a detector head
                  (TENSOR_HINTS): cosine, logits_mse,
                  max_abs_diff, top1_agreement, flip_count, kl_divergence (of the softmaxes)
  probabilities   the same shape with rows in [0, 1] summing to 1: cosine, mse, max_abs_diff, top1_agreement,
                  flip_count, kl_divergence (of the rows themselves)
  tensor          any other float output (embeddings, boxes, recurrent states, scalars): cosine, mse, max_abs_diff
  integer         int/bool outputs (labels, indices, masks): equal_fraction, max_abs_diff
Instances are the first axis (calls are concatenated along it). The first output keeps plain metric names so
every view that reads one figure per variant (compare, dashboard, regress gates) reads it; other outputs are
stored as `metric@output`. Every row's detail names its output and kind.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.core import drift
from harness.core.json_column import json_object

# names of outputs that are not class scores even when shaped [instances, n]: embeddings and hidden states,
# recurrent states, detector heads (boxes, objectness, masks)
TENSOR_HINTS = ("embed", "hidden", "feature", "pool", "sentence", "vector", "encod", "state", "token", "box",
                "anchor", "obj", "mask", "seg", "depth", "coord", "landmark", "keypoint")
RAW_MSE = {"logits": "logits_mse"}


def output_kind(name: str, values: np.ndarray) -> str:
    a = np.asarray(values)
    if a.dtype.kind in "iub":
        return "integer"
    if a.dtype.kind != "f" or a.size == 0:
        return "other"
    if any(h in name.lower() for h in TENSOR_HINTS):
        return "tensor"
    if a.ndim == 2 and a.shape[1] >= 2 and np.all(np.isfinite(a)):
        rows = a.astype(np.float64)
        if rows.min() >= 0.0 and rows.max() <= 1.0 and np.allclose(rows.sum(axis=1), 1.0, atol=1e-3):
            return "probabilities"
        return "logits"
    return "tensor"


def metric_name(metric: str, output: str, first: bool) -> str:
    return metric if first else f"{metric}@{output}"


def split_metric(name: str) -> tuple[str, str | None]:
    """`cosine_similarity@state` -> ("cosine_similarity", "state"); plain names -> (name, None)."""
    metric, sep, output = name.partition("@")
    return metric, (output if sep else None)


def _instances(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    # one value per instance (a speech probability [batch, 1], a scalar per call): the cosine of single numbers
    # is only their sign, so the whole output is one vector
    if a.ndim <= 1 or a[0].size == 1:
        return a.reshape(1, -1)
    return a.reshape(len(a), -1)


def _prob_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p = np.clip(p, drift.EPS, 1.0)
    q = np.clip(q, drift.EPS, 1.0)
    p, q = p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)
    return np.sum(p * np.log(p / q), axis=1)


def output_metrics(name: str, ref: np.ndarray, var: np.ndarray, kind: str | None = None
                   ) -> tuple[list[tuple[str, float | None, dict]], np.ndarray | None]:
    """([(metric, value, detail)], flipped instance indices or None) for one output. Outputs whose shapes
    differ get one `shape_mismatch` row instead."""
    kind = kind or output_kind(name, ref)
    base = {"output": name, "kind": kind}
    ref, var = np.asarray(ref), np.asarray(var)
    if ref.shape != var.shape:
        return [("shape_mismatch", 1.0, base | {"reference_shape": list(ref.shape),
                                               "variant_shape": list(var.shape)})], None
    rows: list[tuple[str, float | None, dict]] = []
    if kind == "other":
        return rows, None
    if kind == "integer":
        equal = np.asarray(ref == var)
        rows.append(("equal_fraction", float(equal.mean()) if equal.size else 1.0, base | {"n": int(equal.size)}))
        rows.append(("max_abs_diff", drift.max_abs_diff(ref.astype(np.float64).reshape(1, -1),
                                                        var.astype(np.float64).reshape(1, -1)), base))
        return rows, None
    a, b = _instances(ref), _instances(var)
    cos = drift.cosine(a, b)
    mse = drift.mse(a, b)
    rows.append(("cosine_similarity", float(cos.mean()), base | drift.summary(cos) | {"n": len(a)}))
    rows.append((RAW_MSE.get(kind, "mse"), float(mse.mean()), base | drift.summary(mse)))
    rows.append(("max_abs_diff", drift.max_abs_diff(a, b), base))
    flips = None
    if kind in ("logits", "probabilities"):
        flips = drift.flipped(a, b)
        shown = flips[:500].tolist()
        rows.append(("top1_agreement", drift.top1_agreement(a, b), base | {"n": len(a)}))
        rows.append(("flip_count", float(len(flips)), base | {"flipped": shown, "truncated": len(flips) > len(shown),
                                                             "n": len(a)}))
        kl = drift.kl_divergence(a, b) if kind == "logits" else _prob_kl(a, b)
        rows.append(("kl_divergence", float(kl.mean()), base | drift.summary(kl)))
    return rows, flips


def all_outputs(names: list[str], ref: list[np.ndarray], var: list[np.ndarray]) -> list[tuple[str, Any, dict]]:
    """Rows for every output, the first with plain metric names, the others as `metric@output`. The kind is
    decided on the reference's values, so both sides are judged alike."""
    out = []
    for i, (r, v) in enumerate(zip(ref, var)):
        name = names[i] if i < len(names) else f"output{i}"
        rows, _ = output_metrics(name, r, v)
        out += [(metric_name(m, name, i == 0), val, det) for m, val, det in rows]
    return out


# the columns a per-output drift table shows, in order: (label, metric names that fill it)
TABLE_COLUMNS = (
    ("cosine", ("cosine_similarity",)),
    ("MSE", ("logits_mse", "mse")),
    ("max |diff|", ("max_abs_diff",)),
    ("top-1 agree %", ("top1_agreement",)),
    ("flips", ("flip_count",)),
    ("KL nats", ("kl_divergence",)),
    ("equal %", ("equal_fraction",)),
)
PERCENT_COLUMNS = {"top-1 agree %", "equal %"}


def drift_table(quality: list[dict[str, Any]], names: dict[str, str], reference: str = "root"
                ) -> list[dict[str, Any]]:
    """One row per (variant, output) from quality rows against `reference`: the TABLE_COLUMNS values, with
    absent metrics (top-1 of an embedding) left out. `names`: variant_id -> display name."""

    cells: dict[tuple[str, str], dict[str, Any]] = {}
    order: list[tuple[str, str]] = []
    for q in quality:
        if q.get("reference") != reference:
            continue
        metric, output = split_metric(str(q["metric"]))
        if output is None:
            output = json_object(q.get("detail")).get("output") or "(first)"
        key = (q["variant_id"], output)
        if key not in cells:
            cells[key] = {"variant": names.get(q["variant_id"], q["variant_id"]), "output": output}
            order.append(key)
        if metric == "shape_mismatch":
            cells[key]["note"] = "shapes differ"
        cells[key][metric] = q.get("value")
    rows = []
    for key in order:
        c = cells[key]
        row = {"variant": c["variant"], "output": c["output"]}
        for label, metrics in TABLE_COLUMNS:
            value = next((c[m] for m in metrics if c.get(m) is not None), None)
            row[label] = None if value is None else (100.0 * value if label in PERCENT_COLUMNS else value)
        if c.get("note"):
            row["note"] = c["note"]
        rows.append(row)
    return rows


def present_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The table columns some row has a value for (a metric no output has is not shown at all)."""
    return [label for label, _ in TABLE_COLUMNS if any(r.get(label) is not None for r in rows)]


_CELL_FORMATS = {"cosine": "{:.5f}", "MSE": "{:.3g}", "max |diff|": "{:.3g}", "top-1 agree %": "{:.1f}",
                 "flips": "{:.0f}", "KL nats": "{:.3g}", "equal %": "{:.1f}"}


def formatted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The drift table as text cells (cosine to 5 decimals: 0.99996 is not 1)."""
    out = []
    for r in rows:
        out.append({k: (_CELL_FORMATS[k].format(v) if k in _CELL_FORMATS and v is not None else v)
                    for k, v in r.items()})
    return out
