"""What an example (or a user's own model) provides to harness: a trained torch model, example inputs, and data.

Users bring their own model through the same entry point: `harness bench --example mypkg.mymodule:make_example`
where `make_example()` returns an `Example`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class EvalData:
    """Evaluation set for the quality pass. `inputs` are full arrays keyed by input name (first axis = instance).

    `labels` is None for models without a task metric. `instances` is what the dashboard shows for each
    instance: images as HxW float arrays, or strings (sentences)."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None = None
    instances: np.ndarray | list[str] | None = None
    class_names: list[str] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def batches(self, batch_size: int) -> list[dict[str, np.ndarray]]:
        n = len(self)
        return [{k: v[i:i + batch_size] for k, v in self.inputs.items()} for i in range(0, n, batch_size)]


@dataclass
class Example:
    """A model with everything needed to export, calibrate, measure and judge its variants.

    task: "classification" (accuracy, flips), "embedding" (cosine to FP32), or "none" (latency and size only,
    e.g. a randomly initialised net).
    build_model: returns the trained FP32 torch module in eval mode (deterministic).
    example_inputs: a tuple of torch tensors with batch size 1 (for export and shape inference).
    input_names / output_names: ONNX graph names; the first axis of every input and output is the batch axis.
    calibration: returns up to n calibration batches (dicts of input arrays) for static quantization.
    fine_tune: optional callable(module) -> module to recover accuracy after structured pruning.
    """

    name: str
    task: str
    build_model: Callable[[], Any]
    example_inputs: tuple
    input_names: list[str]
    output_names: list[str]
    eval_data: Callable[[], EvalData | None] = lambda: None
    calibration: Callable[[int], list[dict[str, np.ndarray]]] | None = None
    fine_tune: Callable[[Any], Any] | None = None
    description: str = ""
    default_recipes: list[str] = field(default_factory=lambda: ["fp32"])
    meta: dict[str, Any] = field(default_factory=dict)
