"""Time and precision per module of a torch model, from torch's profiler (inside the measurement worker).

Each leaf module's forward is wrapped in a `record_function` range named after the module, by forward hooks;
torch.profiler then reports the range's time per call: CPU time on the CPU, device (CUDA kernel) time on a GPU.
The module's name becomes the scope torch's ONNX exporter writes into node names (`features.0` ->
`/features/features.0/...`), which is how a module is matched to the FP32 ONNX root's layer.
A scripted module takes no Python hooks: it is profiled per operator (aten::conv2d...), unmatched to layers.
"""
from __future__ import annotations

import time
from typing import Any, Callable

LABEL = "harness.layer:"
WARM_RUNS = 2
_PRECISION = {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.qint8": "int8",
              "torch.quint8": "int8", "torch.int8": "int8"}


def onnx_scope(module_name: str) -> str:
    """`a.b.c` -> `/a/a.b/a.b.c`: the scope torch.onnx.export gives the nodes of that module."""
    parts = module_name.split(".")
    return "/" + "/".join(".".join(parts[: i + 1]) for i in range(len(parts)))


def _hooks(model, dtypes: dict[str, str]) -> list:
    import torch

    handles, open_ranges = [], []
    for name, module in model.named_modules():
        if not name or any(True for _ in module.children()):
            continue

        def pre(_mod, _args, name=name):
            rng = torch.autograd.profiler.record_function(LABEL + name)
            rng.__enter__()
            open_ranges.append(rng)

        def post(_mod, _args, out, name=name):
            open_ranges.pop().__exit__(None, None, None)
            first = out[0] if isinstance(out, (tuple, list)) and out else out
            if hasattr(first, "dtype"):
                dtypes.setdefault(name, _PRECISION.get(str(first.dtype), str(first.dtype)))

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return handles


def profile_modules(model, step: Callable[[], Any], on_cuda: bool, iterations: int, duration_s: float
                    ) -> dict[str, Any]:
    """{"source", "runs", "nodes": [{name, scope, op_type, precision, provider, time_ms}]} per leaf module (or
    per operator for a scripted module)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    scripted = isinstance(model, torch.jit.ScriptModule)
    dtypes: dict[str, str] = {}
    handles = [] if scripted else _hooks(model, dtypes)
    types = {name: type(m).__name__ for name, m in model.named_modules()} if not scripted else {}
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    try:
        for _ in range(WARM_RUNS):
            step()
        runs = 0
        with profile(activities=activities) as prof:
            t0 = time.perf_counter()      # after the profiler's own start-up
            for _ in range(max(1, iterations)):
                step()
                runs += 1
                if time.perf_counter() - t0 > duration_s:
                    break
            if on_cuda:
                torch.cuda.synchronize()
    finally:
        for h in handles:
            h.remove()
    nodes = []
    for ev in prof.key_averages():
        key = ev.key
        if not scripted and not key.startswith(LABEL):
            continue
        if scripted and not key.startswith("aten::"):
            continue
        device_us = getattr(ev, "device_time_total", None) or getattr(ev, "cuda_time_total", 0)
        total_us = device_us if on_cuda else ev.cpu_time_total
        name = key[len(LABEL):] if not scripted else key
        nodes.append({"name": onnx_scope(name) if not scripted else name, "scope": not scripted,
                      "module": name, "op_type": types.get(name, name), "inputs": [], "outputs": [],
                      "precision": dtypes.get(name), "provider": "cuda" if on_cuda else "cpu",
                      "time_ms": total_us / runs / 1e3 if runs else None})
    source = "torch profiler" + (" (scripted module: per operator)" if scripted else "")
    return {"source": source, "runs": runs, "nodes": nodes}
