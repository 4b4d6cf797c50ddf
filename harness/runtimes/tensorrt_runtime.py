"""The `tensorrt` runtime: a serialized TensorRT engine run with `execute_async_v3` on device buffers
(cuda-python, or pycuda). Inputs are copied to the device when the step is made; the timed step is the
enqueue plus a stream sync, bracketed by CUDA events (compute_ms); copies are timed apart (h2d_ms, d2h_ms)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from harness.core.errors import ModelError
from harness.runtimes.base import Runtime

DEFAULT_TRANSFER_SAMPLES = 10
MAX_TIMINGS = 200_000


class TensorrtRuntime(Runtime):
    name = "tensorrt"
    formats = ("tensorrt", "engine", "plan")

    def __init__(self, config):
        super().__init__(config)
        self.engine = None
        self.context = None
        self.backend = None
        self.stream = None
        self._trt = None
        self._bufs: dict[str, tuple[int, int]] = {}     # name -> (ptr, nbytes)
        self._host_out: dict[str, np.ndarray] = {}
        self._inputs: list[str] = []
        self._outputs: list[str] = []
        self._compute_ms: list[float] = []
        self._h2d_ms: list[float] = []
        self._d2h_ms: list[float] = []
        self._events = None

    def load(self, path: str) -> None:
        from harness.runtimes.tensorrt_plan import skip_reason

        reason = skip_reason()
        if reason:
            raise ModelError(reason)
        import tensorrt as trt

        from harness.runtimes.cuda_buffers import cuda_backend

        self._trt = trt
        self.backend = cuda_backend(self.config.options.get("cuda_backend"))
        logger = trt.Logger(trt.Logger.WARNING)
        try:
            with open(path, "rb") as f:
                self.engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
        except OSError as exc:
            raise ModelError(f"cannot read engine {path}: {exc.strerror}") from None
        if self.engine is None:
            raise ModelError(f"{path} is not an engine for this TensorRT {trt.__version__} / GPU (engines are "
                             f"specific to the TensorRT version and device they were built on)")
        if not hasattr(self.engine, "num_io_tensors"):
            raise ModelError(f"TensorRT {trt.__version__} lacks the named-tensor API; harness needs >= 8.5")
        self.context = self.engine.create_execution_context()
        self.stream = self.backend.stream()
        self._events = (self.backend.event(), self.backend.event())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self._inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if n not in self._inputs]

    def _dtype(self, name: str):
        return np.dtype(self._trt.nptype(self.engine.get_tensor_dtype(name)))

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._bufs.get(name, (None, 0))
        if ptr is None or size < nbytes:
            if ptr is not None:
                self.backend.free(ptr)
            ptr = self.backend.malloc(nbytes)
            self._bufs[name] = (ptr, nbytes)
        self.context.set_tensor_address(name, ptr)
        return ptr

    def _bind(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [n for n in self._inputs if n not in feeds]
        if missing:
            raise ModelError(f"engine inputs not fed: {', '.join(missing)}")
        host_in = {}
        for name in self._inputs:
            arr = np.ascontiguousarray(feeds[name], dtype=self._dtype(name))
            self.context.set_input_shape(name, arr.shape)
            self._buffer(name, arr.nbytes)
            host_in[name] = arr
        self._host_out = {}
        for name in self._outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            out = np.empty(shape, dtype=self._dtype(name))
            self._buffer(name, out.nbytes)
            self._host_out[name] = out
        return host_in

    def _copy_in(self, host_in: dict[str, np.ndarray]) -> None:
        for name, arr in host_in.items():
            self.backend.htod(self._bufs[name][0], arr, self.stream)

    def _copy_out(self) -> None:
        for name, arr in self._host_out.items():
            self.backend.dtoh(arr, self._bufs[name][0], self.stream)

    def _timed(self, fn: Callable[[], None]) -> float:
        start, end = self._events
        self.backend.record(start, self.stream)
        fn()
        self.backend.record(end, self.stream)
        self.backend.sync(self.stream)
        return self.backend.elapsed_ms(start, end)

    def _enqueue(self) -> None:
        if not self.context.execute_async_v3(self.stream):
            raise ModelError("TensorRT execute_async_v3 failed (see TensorRT log)")

    def make_step(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        host_in = self._bind(feeds)
        n = int(self.config.options.get("transfer_samples", DEFAULT_TRANSFER_SAMPLES))
        self._h2d_ms = [self._timed(lambda: self._copy_in(host_in)) for _ in range(max(1, n))]
        self._timed(self._enqueue)
        self._d2h_ms = [self._timed(self._copy_out) for _ in range(max(1, n))]
        return self._step

    def _step(self) -> None:
        ms = self._timed(self._enqueue)
        if len(self._compute_ms) < MAX_TIMINGS:
            self._compute_ms.append(ms)

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        host_in = self._bind(feeds)
        self._copy_in(host_in)
        self._enqueue()
        self._copy_out()
        self.backend.sync(self.stream)
        return [self._host_out[n].copy() for n in self._outputs]

    def profile_layers(self, calls, iterations, duration_s):
        """Unverified: see harness.runtimes.profile_tensorrt."""
        from harness.runtimes.profile_tensorrt import profile_engine

        host_in = self._bind(calls[0])
        self._copy_in(host_in)

        def step() -> None:
            self._enqueue()
            self.backend.sync(self.stream)

        return profile_engine(self._trt, self.engine, self.context, step, iterations)

    def device_timings(self) -> dict[str, list[float]] | None:
        timings, self._compute_ms = self._compute_ms, []
        return {"compute_ms": timings, "h2d_ms": list(self._h2d_ms), "d2h_ms": list(self._d2h_ms)}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runtime": self.name}
        if self._trt is not None:
            out.update({"tensorrt_version": self._trt.__version__, "cuda_backend": self.backend.name,
                        "inputs": self._inputs, "outputs": self._outputs})
        return out

    def close(self) -> None:
        if self.backend is not None:
            for ptr, _ in self._bufs.values():
                self.backend.free(ptr)
        self._bufs = {}
        self.context = None
        self.engine = None
