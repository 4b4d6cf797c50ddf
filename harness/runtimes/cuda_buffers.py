"""Device buffers, streams and events for the TensorRT runner, from cuda-python or, where that is absent, pycuda.

Both are optional (the `tensorrt` extra installs cuda-python; JetPack images often ship pycuda). Pointers and
stream handles are plain ints, which is what TensorRT's `set_tensor_address` / `execute_async_v3` take.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from harness.core.errors import ModelError
from harness.core.import_utils import is_cuda_python_available, is_pycuda_available


class CudaBackend(ABC):
    name: str

    @abstractmethod
    def malloc(self, nbytes: int) -> int: ...

    @abstractmethod
    def free(self, ptr: int) -> None: ...

    @abstractmethod
    def htod(self, ptr: int, host: np.ndarray, stream: int) -> None: ...

    @abstractmethod
    def dtoh(self, host: np.ndarray, ptr: int, stream: int) -> None: ...

    @abstractmethod
    def stream(self) -> int: ...

    @abstractmethod
    def sync(self, stream: int) -> None: ...

    @abstractmethod
    def event(self): ...

    @abstractmethod
    def record(self, event, stream: int) -> None: ...

    @abstractmethod
    def elapsed_ms(self, start, end) -> float: ...


def _check(result):
    """cuda-python calls return (err, *values); raise on an error code."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise ModelError(f"CUDA call failed: {err}")
    return values[0] if len(values) == 1 else values


class CudaPythonBackend(CudaBackend):
    name = "cuda-python"

    def __init__(self) -> None:
        try:
            from cuda.bindings import runtime as cudart   # cuda-python >= 12.6
        except ImportError:
            from cuda import cudart                        # older cuda-python
        self.rt = cudart
        _check(cudart.cudaFree(0))   # creates the primary context on the current device

    def malloc(self, nbytes: int) -> int:
        return int(_check(self.rt.cudaMalloc(max(1, nbytes))))

    def free(self, ptr: int) -> None:
        self.rt.cudaFree(ptr)

    def htod(self, ptr: int, host: np.ndarray, stream: int) -> None:
        _check(self.rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes,
                                       self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))

    def dtoh(self, host: np.ndarray, ptr: int, stream: int) -> None:
        _check(self.rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes,
                                       self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))

    def stream(self) -> int:
        return int(_check(self.rt.cudaStreamCreate()))

    def sync(self, stream: int) -> None:
        _check(self.rt.cudaStreamSynchronize(stream))

    def event(self):
        return _check(self.rt.cudaEventCreate())

    def record(self, event, stream: int) -> None:
        _check(self.rt.cudaEventRecord(event, stream))

    def elapsed_ms(self, start, end) -> float:
        return float(_check(self.rt.cudaEventElapsedTime(start, end)))


class PycudaBackend(CudaBackend):
    name = "pycuda"

    def __init__(self) -> None:
        import pycuda.autoinit  # noqa: F401  (creates the context in this worker process)
        import pycuda.driver as drv

        self.drv = drv
        self._allocs: dict[int, object] = {}
        self._streams: dict[int, object] = {}

    def malloc(self, nbytes: int) -> int:
        alloc = self.drv.mem_alloc(max(1, nbytes))
        self._allocs[int(alloc)] = alloc
        return int(alloc)

    def free(self, ptr: int) -> None:
        alloc = self._allocs.pop(ptr, None)
        if alloc is not None:
            alloc.free()

    def htod(self, ptr: int, host: np.ndarray, stream: int) -> None:
        self.drv.memcpy_htod_async(ptr, host, self._streams[stream])

    def dtoh(self, host: np.ndarray, ptr: int, stream: int) -> None:
        self.drv.memcpy_dtoh_async(host, ptr, self._streams[stream])

    def stream(self) -> int:
        s = self.drv.Stream()
        self._streams[s.handle] = s
        return s.handle

    def sync(self, stream: int) -> None:
        self._streams[stream].synchronize()

    def event(self):
        return self.drv.Event()

    def record(self, event, stream: int) -> None:
        event.record(self._streams[stream])

    def elapsed_ms(self, start, end) -> float:
        return float(start.time_till(end))


def cuda_backend(preferred: str | None = None) -> CudaBackend:
    """cuda-python where installed, else pycuda; ModelError with the install hint when neither is."""
    order = [preferred] if preferred else ["cuda-python", "pycuda"]
    for name in order:
        if name == "cuda-python" and is_cuda_python_available():
            return CudaPythonBackend()
        if name == "pycuda" and is_pycuda_available():
            return PycudaBackend()
    raise ModelError("TensorRT execution needs cuda-python or pycuda: pip install 'harness[tensorrt]'")
