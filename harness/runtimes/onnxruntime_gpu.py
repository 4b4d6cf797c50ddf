"""onnxruntime with IOBinding: inputs are copied to the device once, outputs stay there, so the timed step is
the session's device work alone; host-to-device and device-to-host copies are timed apart (h2d_ms / d2h_ms).

`onnxruntime-cuda` (CUDA execution provider) and `onnxruntime-tensorrt` (TensorRT execution provider, CUDA and
CPU as fallbacks for unsupported nodes) need the onnxruntime-gpu wheel. The IOBinding base also runs on the
CPU provider, which is how it is tested on hosts without a GPU.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from harness.core.errors import ModelError
from harness.runtimes.onnxruntime_runtime import OnnxRuntime, summarize_ort_error

DEFAULT_TRANSFER_SAMPLES = 10


class OnnxRuntimeIoBinding(OnnxRuntime):
    """onnxruntime session run through IOBinding on `device_type` ("cpu" here, "cuda" in subclasses)."""

    name = "onnxruntime-iobinding"
    device_type = "cpu"

    def __init__(self, config):
        super().__init__(config)
        self._binding = None
        self._h2d_ms: list[float] = []
        self._d2h_ms: list[float] = []
        self._inputs_on_device: dict[str, Any] = {}

    def provider_entries(self) -> list[tuple[str, dict[str, Any]]]:
        """(provider, options) in order of preference; the first is the one this runtime is about."""
        return [(self.config.provider or "CPUExecutionProvider", {})]

    def providers(self) -> list[str]:
        return [name for name, _ in self.provider_entries()]

    def load(self, path: str) -> None:
        import onnxruntime as ort

        entries = self.provider_entries()
        available = ort.get_available_providers()
        primary = entries[0][0]
        if primary not in available:
            raise ModelError(f"onnxruntime here has no {primary} (available: {', '.join(available)}); "
                             f"install onnxruntime-gpu with a matching CUDA")
        entries = [(n, o) for n, o in entries if n in available]
        try:
            self.session = ort.InferenceSession(path, sess_options=self.session_options(),
                                                providers=[n for n, _ in entries],
                                                provider_options=[o for _, o in entries])
        except Exception as exc:
            raise ModelError(f"onnxruntime cannot load {path}: {summarize_ort_error(exc)}") from None
        self._providers = self.session.get_providers()
        # onnxruntime silently falls back to CPU when an EP fails to initialise (missing cuDNN, wrong CUDA)
        if self._providers[0] != primary:
            raise ModelError(f"{primary} did not initialise (session uses {', '.join(self._providers)}); "
                             f"check the CUDA/cuDNN/TensorRT libraries onnxruntime-gpu needs")

    def _samples(self) -> int:
        return int(self.config.options.get("transfer_samples", DEFAULT_TRANSFER_SAMPLES))

    def _to_device(self, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        import onnxruntime as ort

        return {name: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(arr), self.device_type,
                                                        self.config.device_index)
                for name, arr in feeds.items()}

    def make_step(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        # ortvalue_from_numpy copies synchronously, so wall time around it is the host-to-device copy
        self._h2d_ms = []
        for _ in range(max(1, self._samples())):
            t0 = time.perf_counter()
            on_device = self._to_device(feeds)
            self._h2d_ms.append((time.perf_counter() - t0) * 1e3)
        self._inputs_on_device = on_device
        binding = self.session.io_binding()
        for name, value in on_device.items():
            binding.bind_ortvalue_input(name, value)
        for out in self.session.get_outputs():
            binding.bind_output(out.name, self.device_type, self.config.device_index)
        self._binding = binding
        self.session.run_with_iobinding(binding)
        self._d2h_ms = []
        for _ in range(max(1, self._samples())):
            t0 = time.perf_counter()
            binding.copy_outputs_to_cpu()
            self._d2h_ms.append((time.perf_counter() - t0) * 1e3)
        return self._run_bound

    def _run_bound(self) -> None:
        # run_with_iobinding returns after the provider's stream is synchronised, so wall time covers device work
        self.session.run_with_iobinding(self._binding)

    def bound_outputs(self) -> list[np.ndarray]:
        """Outputs of the last bound run, copied to the host."""
        return [np.asarray(o) for o in self._binding.copy_outputs_to_cpu()]

    def device_timings(self) -> dict[str, list[float]] | None:
        if not self._h2d_ms:
            return None
        return {"h2d_ms": list(self._h2d_ms), "d2h_ms": list(self._d2h_ms)}

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update({"runtime": self.name, "io_binding": True, "device_type": self.device_type,
                    "device_index": self.config.device_index, "provider_options": dict(self.provider_entries())})
        return out

    def close(self) -> None:
        self._binding = None
        self._inputs_on_device = {}
        super().close()


class OnnxRuntimeCuda(OnnxRuntimeIoBinding):
    name = "onnxruntime-cuda"
    device_type = "cuda"

    def provider_entries(self) -> list[tuple[str, dict[str, Any]]]:
        cuda = {"device_id": self.config.device_index}
        cuda.update(self.config.options.get("cuda_provider_options", {}))
        return [("CUDAExecutionProvider", cuda), ("CPUExecutionProvider", {})]


class OnnxRuntimeTensorrt(OnnxRuntimeIoBinding):
    """TensorRT execution provider; FP16/INT8 via options trt_fp16 / trt_int8 (INT8 needs a Q/DQ model or a
    calibration table), engines cached under options["trt_cache_dir"] so the build is not timed."""

    name = "onnxruntime-tensorrt"
    device_type = "cuda"

    def provider_entries(self) -> list[tuple[str, dict[str, Any]]]:
        opts = self.config.options
        trt: dict[str, Any] = {"device_id": self.config.device_index,
                               "trt_fp16_enable": bool(opts.get("trt_fp16", False)),
                               "trt_int8_enable": bool(opts.get("trt_int8", False))}
        if opts.get("trt_cache_dir"):
            trt.update({"trt_engine_cache_enable": True, "trt_engine_cache_path": str(opts["trt_cache_dir"]),
                        "trt_timing_cache_enable": True, "trt_timing_cache_path": str(opts["trt_cache_dir"])})
        return [("TensorrtExecutionProvider", trt), ("CUDAExecutionProvider", {"device_id": self.config.device_index}),
                ("CPUExecutionProvider", {})]
