"""Runtimes, loaded lazily by name inside the worker process."""
from __future__ import annotations

from harness.core.errors import UsageError
from harness.core.registry import load_entry

# name -> "module:Class"; adding a runtime is adding a file and a line here
RUNTIMES: dict[str, str] = {
    "onnxruntime": "harness.runtimes.onnxruntime_runtime:OnnxRuntime",
    "onnxruntime-cuda": "harness.runtimes.onnxruntime_gpu:OnnxRuntimeCuda",
    "onnxruntime-tensorrt": "harness.runtimes.onnxruntime_gpu:OnnxRuntimeTensorrt",
    "torch": "harness.runtimes.torch_runtime:TorchRuntime",
    "tensorrt": "harness.runtimes.tensorrt_runtime:TensorrtRuntime",
}


def runtime_class(name: str):
    return load_entry(RUNTIMES, name, "runtime", UsageError)


def runtime_for_format(fmt: str, requested: str) -> str:
    """The requested runtime when it can run files of this format, else the first registered runtime that can
    (a TensorRT engine needs the tensorrt runtime, a TorchScript file the torch runtime)."""
    if fmt in runtime_class(requested).formats:
        return requested
    for name in RUNTIMES:
        if fmt in runtime_class(name).formats:
            return name
    raise UsageError(f"no runtime can run {fmt!r} files")
