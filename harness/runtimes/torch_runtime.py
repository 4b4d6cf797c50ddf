"""The `torch` runtime: an eager torch module from a TorchScript file, a `torch.export` program (.pt2) or a
pickled module (`torch.save`), on CUDA where available (CPU otherwise, or with options["device"]="cpu").

On CUDA each step is bracketed by CUDA events and synchronised on the end event, so the loop's wall time and the
device-side compute time (compute_ms from device_timings) are both real; host-to-device and device-to-host
copies are timed apart with events when the step is made.

Precision: options["fp16"]=True on CUDA casts the weights and the floating-point inputs to FP16 once, at load,
as an FP16 deployment does (outputs are widened to FP32 for the quality pass). options["autocast"]=True runs the
FP32 module under autocast instead (FP16 on CUDA, BF16 on CPU); autocast re-casts the weights on every call,
which at batch 1 costs more than it saves (on an H200, ResNet-18 ran 1.4-2.2x slower than FP32). On a CPU,
"fp16" means BF16 autocast, since CPU kernels for FP16 are mostly missing or slow; describe() says which ran.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable

import numpy as np

from harness.core.errors import ModelError, message_line
from harness.runtimes.base import Runtime

DEFAULT_TRANSFER_SAMPLES = 10
MAX_EVENT_PAIRS = 200_000     # bounded memory for very long rounds


def load_module(path: str, device: str):
    """Load a TorchScript file, an exported program (.pt2) or a whole pickled nn.Module."""
    import torch

    errors = []
    if path.endswith(".pt2"):
        try:
            return torch.export.load(path).module().to(device)
        except Exception as exc:
            errors.append(f"torch.export.load: {message_line(exc, 120)}")
    try:
        return torch.jit.load(path, map_location=device)
    except Exception as exc:
        errors.append(f"torch.jit.load: {message_line(exc, 120)}")
    try:
        obj = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        errors.append(f"torch.load: {message_line(exc, 120)}")
        raise ModelError(f"torch cannot load {path}: {'; '.join(errors)}") from None
    if isinstance(obj, torch.nn.Module):
        return obj.to(device)
    raise ModelError(f"{path} holds a {type(obj).__name__}, not a torch module (a state_dict needs its model class)")


class TorchRuntime(Runtime):
    name = "torch"
    formats = ("pt", "pt2", "torchscript")

    def __init__(self, config):
        super().__init__(config)
        self.model = None
        self.device = "cpu"
        self._inputs: list[Any] = []
        self._events: list[tuple[Any, Any]] = []
        self._h2d_ms: list[float] = []
        self._d2h_ms: list[float] = []

    def _pick_device(self) -> str:
        import torch

        wanted = self.config.options.get("device", "auto")
        if wanted == "cpu":
            return "cpu"
        if torch.cuda.is_available():
            return f"cuda:{self.config.device_index}"
        if wanted == "cuda":
            raise ModelError("options device=cuda but torch sees no CUDA device (CPU-only torch build or no GPU)")
        return "cpu"

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def load(self, path: str) -> None:
        import torch

        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        self.device = self._pick_device()
        self.model = load_module(path, self.device)
        try:
            self.model.eval()
        except NotImplementedError:
            pass   # torch.export modules are already in inference form and refuse eval()
        if self._half_weights:
            try:
                self.model = self.model.half()
            except Exception as exc:
                raise ModelError(f"cannot cast {path} to FP16: {message_line(exc, 160)}; try options autocast=true"
                                 ) from None

    @property
    def _half_weights(self) -> bool:
        return bool(self.config.options.get("fp16")) and self.on_cuda

    @property
    def precision(self) -> str:
        if self._half_weights:
            return "fp16"
        if self.config.options.get("fp16") or self.config.options.get("autocast"):
            return "fp16-autocast" if self.on_cuda else "bf16-autocast"
        return "fp32"

    def _to_device(self, host):
        """A host tensor on the module's device, in FP16 when the weights are (integer inputs keep their type)."""
        t = host.to(self.device)
        return t.half() if self._half_weights and t.is_floating_point() else t

    def _autocast(self):
        import torch

        if self.precision not in ("fp16-autocast", "bf16-autocast"):
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda" if self.on_cuda else "cpu",
                              dtype=torch.float16 if self.on_cuda else torch.bfloat16)

    def _forward(self, inputs):
        import torch

        with torch.inference_mode(), self._autocast():
            return self.model(*inputs)

    def _timed_copies(self, make: Callable[[], Any]) -> list[float]:
        import torch

        samples = []
        for _ in range(int(self.config.options.get("transfer_samples", DEFAULT_TRANSFER_SAMPLES))):
            if self.on_cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                make()
                end.record()
                end.synchronize()
                samples.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                make()
                samples.append((time.perf_counter() - t0) * 1e3)
        return samples

    def make_step(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        import torch

        host = [torch.from_numpy(np.ascontiguousarray(v)) for v in feeds.values()]
        if self.on_cuda:
            host = [t.pin_memory() for t in host]
            self._h2d_ms = self._timed_copies(lambda: [t.to(self.device, non_blocking=True) for t in host])
        self._inputs = [self._to_device(t) for t in host]
        outputs = self._forward(self._inputs)
        if self.on_cuda:
            flat = outputs if isinstance(outputs, (tuple, list)) else [outputs]
            self._d2h_ms = self._timed_copies(lambda: [o.to("cpu") for o in flat])
            return self._cuda_step
        return self._cpu_step

    def _cpu_step(self) -> None:
        self._forward(self._inputs)

    def _cuda_step(self) -> None:
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        self._forward(self._inputs)
        end.record()
        end.synchronize()
        if len(self._events) < MAX_EVENT_PAIRS:
            self._events.append((start, end))

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        import torch

        inputs = [self._to_device(torch.from_numpy(np.ascontiguousarray(v))) for v in feeds.values()]
        try:
            out = self._forward(inputs)
        except Exception as exc:
            raise ModelError(f"torch inference failed: {message_line(exc, 200)}") from None
        flat = out if isinstance(out, (tuple, list)) else [out]
        # FP16 outputs are widened so quality comparisons against FP32 are made in FP32
        return [o.detach().float().cpu().numpy() if o.is_floating_point() else o.detach().cpu().numpy()
                for o in flat]

    def profile_layers(self, calls, iterations, duration_s):
        import torch

        from harness.runtimes.profile_torch import profile_modules

        inputs = [self._to_device(torch.from_numpy(np.ascontiguousarray(v))) for v in calls[0].values()]
        return profile_modules(self.model, lambda: self._forward(inputs), self.on_cuda, iterations, duration_s)

    def device_timings(self) -> dict[str, list[float]] | None:
        """Device timings since the previous call (events of the round just run), in ms."""
        if not self.on_cuda:
            return None
        events, self._events = self._events, []
        return {"compute_ms": [s.elapsed_time(e) for s, e in events], "h2d_ms": list(self._h2d_ms),
                "d2h_ms": list(self._d2h_ms)}

    def describe(self) -> dict[str, Any]:
        import torch

        out: dict[str, Any] = {"runtime": self.name, "torch_version": torch.__version__, "device": self.device,
                               "precision": self.precision,
                               "threads": torch.get_num_threads()}
        if self.on_cuda:
            out.update({"cuda_version": torch.version.cuda, "cudnn_version": torch.backends.cudnn.version(),
                        "gpu_name": torch.cuda.get_device_name(self.device)})
        return out

    def close(self) -> None:
        self.model = None
        self._inputs = []
        self._events = []
        if self.on_cuda:
            import torch

            torch.cuda.empty_cache()
