"""Prediction drift between a model's outputs and a reference's (its base or the FP32 root), per instance.

Pure numpy; every function takes (reference, variant) arrays with instances on the first axis.

Classification outputs are logits; probabilities are their softmax. The Compress and Compare comparison kinds
are per-instance values:
  difference      mean over classes of (p_variant - p_reference)
  abs_difference  mean over classes of |p_variant - p_reference|
  ratio           mean over classes of p_variant / p_reference
  mse             mean over classes of (p_variant - p_reference)^2
  kl_divergence   KL(p_reference || p_variant)
and their argmax forms look only at the class the reference predicts (c = argmax p_reference):
  difference_argmax = p_variant[c] - p_reference[c], abs_difference_argmax = |...|, ratio_argmax =
  p_variant[c] / p_reference[c], mse_argmax = (...)^2, kl_divergence_argmax = KL between the two Bernoulli
  distributions (p[c], 1 - p[c]): how much the confidence in the reference's answer moved.
Embedding outputs (no classes) get difference, abs_difference, ratio and mse over the raw vectors.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-12
KINDS = ("difference", "abs_difference", "ratio", "mse", "kl_divergence")


def _f64(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(len(a), -1) if a.ndim != 2 else a


def softmax(logits) -> np.ndarray:
    z = _f64(logits)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits) -> np.ndarray:
    z = _f64(logits)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def predictions(outputs) -> np.ndarray:
    return _f64(outputs).argmax(axis=1)


def top1_agreement(ref, var) -> float:
    """Fraction of instances where both predict the same class."""
    return float(np.mean(predictions(ref) == predictions(var)))


def flipped(ref, var) -> np.ndarray:
    """Indices of the instances whose predicted class changed."""
    return np.flatnonzero(predictions(ref) != predictions(var))


def kl_divergence(ref_logits, var_logits) -> np.ndarray:
    """Per instance KL(softmax(ref) || softmax(var)), in nats; computed from log-probabilities for stability."""
    lp, lq = log_softmax(ref_logits), log_softmax(var_logits)
    return np.sum(np.exp(lp) * (lp - lq), axis=1)


def mse(ref, var) -> np.ndarray:
    """Per instance mean squared difference of the raw outputs (logits or embeddings)."""
    return np.mean((_f64(var) - _f64(ref)) ** 2, axis=1)


def max_abs_diff(ref, var) -> float:
    return float(np.max(np.abs(_f64(var) - _f64(ref)))) if np.size(ref) else 0.0


def cosine(ref, var) -> np.ndarray:
    """Per instance cosine similarity of the raw output vectors."""
    a, b = _f64(ref), _f64(var)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.sum(a * b, axis=1) / np.maximum(den, EPS)


def _bernoulli_kl(p, q) -> np.ndarray:
    p, q = np.clip(p, EPS, 1 - EPS), np.clip(q, EPS, 1 - EPS)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def comparisons(ref, var, classification: bool = True) -> dict[str, np.ndarray]:
    """The Compress and Compare comparison kinds, one value per instance (see the module docstring)."""
    if not classification:
        a, b = _f64(ref), _f64(var)
        return {"difference": np.mean(b - a, axis=1), "abs_difference": np.mean(np.abs(b - a), axis=1),
                "ratio": np.mean(b / np.where(np.abs(a) < EPS, EPS, a), axis=1), "mse": mse(ref, var)}
    p, q = softmax(ref), softmax(var)
    c = p.argmax(axis=1)
    rows = np.arange(len(p))
    pc, qc = p[rows, c], q[rows, c]
    return {
        "difference": np.mean(q - p, axis=1),
        "abs_difference": np.mean(np.abs(q - p), axis=1),
        "ratio": np.mean(q / np.maximum(p, EPS), axis=1),
        "mse": np.mean((q - p) ** 2, axis=1),
        "kl_divergence": kl_divergence(ref, var),
        "difference_argmax": qc - pc,
        "abs_difference_argmax": np.abs(qc - pc),
        "ratio_argmax": qc / np.maximum(pc, EPS),
        "mse_argmax": (qc - pc) ** 2,
        "kl_divergence_argmax": _bernoulli_kl(pc, qc),
    }


def summary(values: np.ndarray) -> dict[str, float]:
    """mean, median, min, max and p95 of per-instance values (what the quality table's detail holds)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "min": float(v.min()),
            "max": float(v.max()), "p95": float(np.percentile(v, 95))}


def accuracy(outputs, labels) -> float:
    return float(np.mean(predictions(outputs) == np.asarray(labels)))


def per_class_accuracy(outputs, labels, n_classes: int | None = None) -> dict[int, tuple[float, int]]:
    """{class: (accuracy, instance count)} for every class present in the labels."""
    pred, y = predictions(outputs), np.asarray(labels)
    classes = range(n_classes) if n_classes else np.unique(y)
    out = {}
    for c in classes:
        mask = y == c
        if mask.any():
            out[int(c)] = (float(np.mean(pred[mask] == c)), int(mask.sum()))
    return out
