"""Quality pass: how each variant's predictions compare with the labels and with its base and the FP32 root.

The engine runs every variant's worker over the example's eval data (same runtime as the timed loop), hands the
outputs here, and stores the rows this returns in the `quality` table.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.variant import Variant


class QualityPass:
    def __init__(self, example, eval_data, hdf5_path: str | None = None):
        self.example = example
        self.eval_data = eval_data
        self.hdf5_path = hdf5_path
        self.outputs: dict[str, list[np.ndarray]] = {}

    def add(self, variant: Variant, outputs: list[np.ndarray]) -> None:
        self.outputs[variant.variant_id] = outputs

    def rows(self, run_id: str, variant: Variant, variants: dict[str, Variant]) -> tuple[list[dict], list[dict]]:
        """(quality rows, layer rows) for one variant."""
        outs = self.outputs.get(variant.variant_id)
        rows: list[dict[str, Any]] = []
        if outs is None or self.eval_data is None or self.eval_data.labels is None:
            return rows, []
        if self.example.task == "classification":
            pred = outs[0].argmax(axis=-1)
            rows.append({"run_id": run_id, "variant_id": variant.variant_id, "reference": "task",
                         "reference_id": None, "metric": "accuracy",
                         "value": float(np.mean(pred == self.eval_data.labels)), "detail": None})
        return rows, []

    def close(self) -> None:
        pass
