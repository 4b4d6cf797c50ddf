"""onnxruntime sessions (CPU here; CUDA/TensorRT execution providers where installed)."""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

import numpy as np

from harness.core.errors import ModelError, message_line
from harness.runtimes.base import Runtime

GRAPH_OPT_LEVELS = ("disable", "basic", "extended", "all")


def summarize_ort_error(exc: BaseException) -> str:
    """onnxruntime errors are long multi-line C++ messages; keep the part a user can act on."""
    text = message_line(exc, None)
    # a load failure can wrap the real one after a C++ location and signature ("Load model from X failed:
    # /onnxruntime_src/.../graph.cc:1483 onnxruntime::Graph::Graph(...) [ONNXRuntimeError] : 1 : FAIL : Tensor
    # element type mismatch. 10 != 1"): the innermost error is the one to read
    nested = list(re.finditer(r"\[ONNXRuntimeError\] : \d+ : [A-Z_]+ : ", text))
    if len(nested) > 1:
        return text[nested[-1].end():].strip()[:300]
    for marker in ("] : ", "] "):
        if marker in text and text.startswith("["):
            text = text.split(marker, 1)[1]
            break
    # "[ONNXRuntimeError] : 1 : FAIL : Load model from X failed:Fatal error: ..." -> "Fatal error: ..."
    text = re.sub(r"^\d+ : [A-Z_]+ : ", "", text)
    text = re.sub(r"^Load model from .*? failed:", "", text).strip()
    return text[:300]


class OnnxRuntime(Runtime):
    name = "onnxruntime"

    def __init__(self, config):
        super().__init__(config)
        self.session = None
        self._providers: list[str] = []
        self._path: str | None = None

    def session_options(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.config.graph_optimization]
        opts.graph_optimization_level = level
        if self.config.threads:
            opts.intra_op_num_threads = self.config.threads
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # --dim SYMBOL=N: onnxruntime fixes every axis carrying the symbol, so shape-specialised kernels apply
        for symbol, size in (self.config.options.get("free_dimension_overrides") or {}).items():
            opts.add_free_dimension_override_by_name(symbol, int(size))
        optimized = self.config.options.get("optimized_model_filepath")
        if optimized:
            opts.optimized_model_filepath = optimized
        return opts

    def providers(self) -> list[str]:
        return [self.config.provider or "CPUExecutionProvider"]

    def load(self, path: str) -> None:
        import onnxruntime as ort

        wanted = self.providers()
        available = ort.get_available_providers()
        missing = [p for p in wanted if p not in available]
        if missing:
            hint = ("; install onnxruntime-gpu (pip uninstall -y onnxruntime && pip install onnxruntime-gpu), or pass "
                    "--provider CPUExecutionProvider to time the ONNX variants on the host CPU"
                    if any(p in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for p in missing) else "")
            raise ModelError(f"onnxruntime here has no {', '.join(missing)} (available: {', '.join(available)})"
                             + hint)
        try:
            self.session = ort.InferenceSession(path, sess_options=self.session_options(), providers=wanted)
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise ModelError(f"onnxruntime cannot load {path}: {summarize_ort_error(exc)}") from None
        self._providers = self.session.get_providers()
        self._path = path

    def make_step(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        return functools.partial(self.session.run, None, feeds)

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return [np.asarray(o) for o in self.session.run(None, feeds)]
        except Exception as exc:
            raise ModelError(f"inference failed: {summarize_ort_error(exc)}") from None

    def profile_layers(self, calls, iterations, duration_s):
        import itertools

        from harness.runtimes.profile_onnxruntime import profile_nodes

        feeds = itertools.cycle(calls)
        return profile_nodes(self._path, self.session_options, self._providers or self.providers(),
                             lambda session: lambda: session.run(None, next(feeds)), iterations, duration_s)

    def describe(self) -> dict[str, Any]:
        import onnxruntime as ort

        return {"runtime": self.name, "onnxruntime_version": ort.__version__, "providers_used": self._providers,
                "graph_optimization": self.config.graph_optimization, "threads": self.config.threads}

    def close(self) -> None:
        self.session = None
