"""Runtime interface: what the worker process uses to load a variant and run it.

A runtime is created inside the worker process (never in the parent), so GPU contexts and thread pools belong to
the process being measured. The timing loop calls the zero-argument `step` returned by `make_step`, so the
per-call overhead is one Python call; runtimes that time device work themselves (CUDA events) return those
timings from `device_timings()`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np


@dataclass(frozen=True)
class RuntimeConfig:
    """How to run a variant. Recorded with every measurement."""

    name: str = "onnxruntime"
    provider: str | None = None          # onnxruntime execution provider; None: the device profile's default
    threads: int | None = None           # intra-op threads; None: the runtime's default
    graph_optimization: str = "all"      # disable | basic | extended | all
    device_index: int = 0
    options: dict[str, Any] = field(default_factory=dict)


class Runtime(ABC):
    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]] = ("onnx",)

    def __init__(self, config: RuntimeConfig):
        self.config = config

    @abstractmethod
    def load(self, path: str) -> None:
        """Load the model file; raise harness.core.errors.ModelError with a one-line reason on failure."""

    @abstractmethod
    def make_step(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        """Bind inputs (copy them to the device where relevant) and return the callable the loop times."""

    @abstractmethod
    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run once and return host outputs (for the quality pass and NaN checks)."""

    def describe(self) -> dict[str, Any]:
        """Facts recorded with the measurement: provider actually used, versions, precision..."""
        return {"runtime": self.name}

    def device_timings(self) -> dict[str, list[float]] | None:
        """Per-iteration device-side timings (ms), e.g. {"h2d_ms": [...], "compute_ms": [...], "d2h_ms": [...]}."""
        return None

    def profile_layers(self, calls: list[dict[str, np.ndarray]], iterations: int, duration_s: float
                       ) -> dict[str, Any]:
        """Time and precision per node or module of what ran, over `iterations` calls (harness.profiling):
        {"source", "runs", "nodes": [{name, op_type, inputs, outputs, precision, provider, time_ms}]}. Runs
        after the timed rounds, in the same worker, never inside them."""
        from harness.core.errors import ModelError

        raise ModelError(f"per-layer profiling is not available for the {self.name} runtime")

    def close(self) -> None:
        """Release sessions and device memory."""
