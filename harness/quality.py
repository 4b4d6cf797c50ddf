"""Quality pass: each variant's outputs on the eval set against the labels, its base and the FP32 root.

The engine runs every variant's worker over the example's eval data (same runtime as the timed loop) and hands
the outputs to `add` (root first); when it commits a variant it stores what `rows` returns in the `quality` and
`layers` tables. Per-instance values go to the run's HDF5 file (harness.store.outputs_file) as they arrive.

Metrics (table `quality`, reference = task | base | root):
  task, classification   accuracy, per_class_accuracy (value = the worst class; detail has every class)
  task, embedding        cosine_similarity to the FP32 root (mean; detail has min and percentiles)
  base/root, logits      top1_agreement, flip_count (detail: flipped indices), kl_divergence, logits_mse,
                         max_abs_diff, and the Compress and Compare kinds over probabilities: difference,
                         abs_difference, ratio, mse and their _argmax forms, kl_divergence_argmax (harness.core.drift)
  base/root, embedding   cosine_similarity, mse, max_abs_diff, difference, abs_difference, ratio
Drift is computed on the model's first output. A random-weight model (task "none") has no task metric, but its
logits still drift, so it gets the logits metrics.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from harness.core import drift
from harness.core.variant import Variant

log = logging.getLogger(__name__)
MAX_FLIPS_IN_DETAIL = 500   # the full list is in the HDF5 file


class QualityPass:
    def __init__(self, example, eval_data, hdf5_path: str | None = None):
        self.example = example
        self.eval_data = eval_data
        self.hdf5_path = hdf5_path
        self.outputs: dict[str, list[np.ndarray]] = {}
        self._file_ready = False

    @property
    def embedding(self) -> bool:
        return self.example.task == "embedding"

    # -- collecting --------------------------------------------------------------------------------------------
    def add(self, variant: Variant, outputs: list[np.ndarray]) -> None:
        outs = [np.asarray(o) for o in outputs]
        self.outputs[variant.variant_id] = outs
        preds = None
        if not self.embedding and outs and outs[0].ndim == 2 and outs[0].shape[1] > 1:
            preds = drift.predictions(outs[0])
        self._write(lambda path: _of().write_outputs(path, variant, outs, list(self.example.output_names), preds))

    def _write(self, action) -> None:
        """HDF5 is a by-product: a write failure is logged, never allowed to end the run."""
        if not self.hdf5_path or self.eval_data is None:
            return
        try:
            if not self._file_ready:
                _of().init_file(self.hdf5_path, self.example.name, self.example.task, self.eval_data)
                self._file_ready = True
            action(self.hdf5_path)
        except Exception as exc:
            log.warning("could not write %s: %s", self.hdf5_path, exc)

    # -- rows --------------------------------------------------------------------------------------------------
    def rows(self, run_id: str, variant: Variant, variants: dict[str, Variant]) -> tuple[list[dict], list[dict]]:
        """(quality rows, layer rows) for one variant."""
        layer_rows = self._layer_rows(run_id, variant, variants)
        outs = self.outputs.get(variant.variant_id)
        if outs is None or not outs:
            return [], layer_rows
        vid = variant.variant_id
        rows = [self._row(run_id, vid, "task", None, m, v, d) for m, v, d in self._task_metrics(variant, outs)]
        for reference, ref_id in (("base", variant.base_id), ("root", variant.root_id)):
            ref = self.outputs.get(ref_id) if ref_id and ref_id != vid else None
            if ref is None or not ref or ref[0].shape != outs[0].shape:
                continue
            metrics, flips, per_instance = self._drift(ref[0], outs[0])
            rows += [self._row(run_id, vid, reference, ref_id, m, v, d) for m, v, d in metrics]
            self._write(lambda path, r=reference, i=ref_id, f=flips, p=per_instance:
                        _of().write_drift(path, vid, r, i, f, p))
        return rows, layer_rows

    @staticmethod
    def _row(run_id, vid, reference, ref_id, metric, value, detail) -> dict[str, Any]:
        return {"run_id": run_id, "variant_id": vid, "reference": reference, "reference_id": ref_id,
                "metric": metric, "value": None if value is None else float(value),
                "detail": None if detail is None else json.dumps(detail, sort_keys=True)}

    def _task_metrics(self, variant: Variant, outs: list[np.ndarray]):
        data, task = self.eval_data, self.example.task
        if task == "classification" and data is not None and data.labels is not None:
            labels = np.asarray(data.labels)
            acc = drift.accuracy(outs[0], labels)
            yield "accuracy", acc, {"correct": int(round(acc * len(labels))), "n": len(labels)}
            names = data.class_names or []
            per = drift.per_class_accuracy(outs[0], labels, len(names) or None)
            if per:
                label = lambda c: names[c] if c < len(names) else str(c)   # noqa: E731
                yield "per_class_accuracy", min(a for a, _ in per.values()), {
                    "classes": {label(c): a for c, (a, _) in per.items()},
                    "counts": {label(c): n for c, (_, n) in per.items()}}
        elif task == "embedding":
            root = self.outputs.get(variant.root_id or variant.variant_id)
            if root is not None and root[0].shape == outs[0].shape:
                cos = drift.cosine(root[0], outs[0])
                yield "cosine_similarity", float(cos.mean()), drift.summary(cos) | {"reference": "fp32 root"}

    def _drift(self, ref: np.ndarray, var: np.ndarray):
        """(metric rows, flipped indices or None, per-instance arrays for HDF5)."""
        metrics: list[tuple[str, float, dict | None]] = []
        if self.embedding:
            cos = drift.cosine(ref, var)
            per = drift.comparisons(ref, var, classification=False) | {"cosine_similarity": cos}
            metrics.append(("cosine_similarity", float(cos.mean()), drift.summary(cos)))
            metrics.append(("max_abs_diff", drift.max_abs_diff(ref, var), None))
            for kind in ("mse", "difference", "abs_difference", "ratio"):
                metrics.append((kind, float(per[kind].mean()), drift.summary(per[kind])))
            return metrics, None, per
        flips = drift.flipped(ref, var)
        per = drift.comparisons(ref, var, classification=True)
        per["logits_mse"] = drift.mse(ref, var)
        shown = flips[:MAX_FLIPS_IN_DETAIL].tolist()
        metrics.append(("top1_agreement", drift.top1_agreement(ref, var), {"n": len(ref)}))
        metrics.append(("flip_count", float(len(flips)),
                        {"flipped": shown, "truncated": len(flips) > len(shown), "n": len(ref)}))
        metrics.append(("logits_mse", float(per["logits_mse"].mean()), drift.summary(per["logits_mse"])))
        metrics.append(("max_abs_diff", drift.max_abs_diff(ref, var), None))
        for kind in [*drift.KINDS, *(f"{k}_argmax" for k in drift.KINDS)]:
            metrics.append((kind, float(per[kind].mean()), drift.summary(per[kind])))
        return metrics, flips, per

    def _layer_rows(self, run_id: str, variant: Variant, variants: dict[str, Variant]) -> list[dict]:
        if not variant.ok or not variant.path or not str(variant.path).endswith(".onnx"):
            return []
        from harness.layers import layer_rows

        base = variants.get(variant.base_id) if variant.base_id else None
        base_path = base.path if base is not None and base.ok and base.path else None
        try:
            return layer_rows(run_id, variant.variant_id, variant.path, base_path)
        except Exception as exc:   # statistics are a view; a model they cannot read is still measured
            log.warning("layer statistics for %s failed: %s", variant.name, exc)
            return []

    def activation_rows(self, run_id: str, variant: Variant, variants: dict[str, Variant]) -> list[dict]:
        """Per-layer activation similarity to the variant's base (harness.activations), ONNX pairs only."""
        base = variants.get(variant.base_id) if variant.base_id else None
        if (self.eval_data is None or base is None or not variant.ok or not base.ok
                or not str(variant.path or "").endswith(".onnx") or not str(base.path or "").endswith(".onnx")):
            return []
        from harness.activations import compare_files

        try:
            rows = compare_files(base.path, variant.path, self.eval_data)
        except Exception as exc:   # a view: a graph onnxruntime cannot expose is still measured
            log.warning("activation comparison for %s failed: %s", variant.name, exc)
            return []
        return [dict(r, run_id=run_id, variant_id=variant.variant_id, reference_id=base.variant_id) for r in rows]

    def close(self) -> None:
        self.outputs.clear()


def _of():
    from harness.store import outputs_file

    return outputs_file
