"""GPU check: on an NVIDIA host, time the digits CNN and a ResNet-18-shaped net through the harness torch CUDA
runtime (and the onnxruntime CUDA provider where installed) inside NVML energy windows, next to a bare
CUDA-event loop, and print harness p50 / bare p50 and energy per inference (total and above idle).

    python benchmarks/gpu_check.py [--seconds 3] [--batch 1]

Without a GPU it says why and exits 0. The figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def models(batch: int):
    """(name, module, input array) for the digits CNN and the ResNet-18-shaped net of examples/."""

    from harness.examples.digits.model import build_model
    from harness.examples.resnet18.model import build_model as build_resnet

    out = []
    rng = np.random.default_rng(0)
    out.append(("digits", build_model(), rng.random((batch, 1, 8, 8), dtype=np.float32)))
    resnet = build_resnet()
    out.append(("resnet18-shaped", resnet, rng.random((batch, 3, 224, 224), dtype=np.float32)))
    return out


def bare_loop_p50_ms(path: Path, x: np.ndarray, seconds: float, fp16: bool) -> float:
    """The floor: the same TorchScript file, loaded the same way and in the same precision, in a plain loop of
    forward calls bracketed by CUDA events, nothing of harness in it. (An eager module would not do: its Python
    dispatch of every layer makes it slower than the traced file at batch 1, which flatters harness.)"""
    import time

    import torch

    dev = torch.device("cuda")
    module = torch.jit.load(str(path), map_location=dev).eval()
    xt = torch.from_numpy(x).to(dev)
    if fp16:
        module, xt = module.half(), xt.half()
    times = []
    with torch.inference_mode():
        for _ in range(20):
            module(xt)
        torch.cuda.synchronize()
        end_at = time.perf_counter() + seconds
        while time.perf_counter() < end_at or len(times) < 100:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            module(xt)
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e))
    return float(np.percentile(times, 50))


def measure(profile, runtime, feeds, seconds: float, idle_mw):
    """Harness path: runtime step in the timed loop inside an NVML window; returns p50 ms and mJ/inference."""
    from harness.device_profiles.energy import per_inference
    from harness.timing import timed_loop, warmup

    step = runtime.make_step(feeds)
    warmup(step, 20, 0.5)
    runtime.device_timings()
    profile.begin_window("gpu_check", pid=os.getpid())
    lat_ns = timed_loop(step, 100, seconds)
    reading = profile.end_window("gpu_check")
    total, above = per_inference(reading.energy_mj, len(lat_ns), idle_mw, reading.duration_s)
    dev = runtime.device_timings() or {}
    compute = dev.get("compute_ms") or []
    return {"p50_ms": float(np.percentile(lat_ns, 50)) / 1e6,
            "device_p50_ms": float(np.percentile(compute, 50)) if compute else None,
            "mj_per_inf": total, "mj_above_idle": above, "energy_source": reading.energy_source,
            "avg_power_mw": reading.avg_power_mw, "warnings": list(reading.warnings)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()

    from harness.device_profiles.base import ProfileConfig
    from harness.device_profiles.nvidia_gpu import NvidiaGpuProfile

    found = NvidiaGpuProfile.detect()
    if not found.available:
        print(f"gpu_check: skipped, no NVIDIA GPU here: {found.reason}")
        return 0
    import torch

    if not torch.cuda.is_available():
        print(f"gpu_check: skipped, torch {torch.__version__} has no CUDA (install a CUDA build of torch)")
        return 0
    from harness.runtimes import runtime_class
    from harness.runtimes.base import RuntimeConfig

    profile = NvidiaGpuProfile(ProfileConfig(sample_interval_s=0.02))
    try:
        profile.setup()
        d = profile.describe()
        print(f"GPU {d['gpu_name']}  driver {d['driver']}  CUDA {d['cuda_driver']}  cc {d['compute_capability']}  "
              f"energy counter {d['energy_counter']}  torch {torch.__version__}")
        idle = profile.measure_idle(2.0)
        print(f"idle power: {idle.power_mw / 1000:.1f} W ({idle.source})" if idle.power_mw is not None
              else f"idle power: n/a ({idle.reason})")
        try:
            import onnxruntime as ort
            has_ort_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        except ImportError:
            has_ort_cuda = False
        print(f"{'model':18} {'runtime':18} {'harness p50 ms':>14} {'device p50 ms':>13} {'bare p50 ms':>11} "
              f"{'ratio':>6} {'mJ/inf':>9} {'mJ/inf>idle':>11}")
        with tempfile.TemporaryDirectory() as tmp:
            for name, module, x in models(args.batch):
                path = Path(tmp, f"{name}.pt")
                torch.jit.trace(module.cpu().eval(), torch.from_numpy(x)).save(str(path))
                runs = [("torch", {}), ("torch-fp16", {"fp16": True}), ("torch-autocast", {"autocast": True})]
                if has_ort_cuda:
                    onnx_path = Path(tmp, f"{name}.onnx")
                    torch.onnx.export(module.cpu(), (torch.from_numpy(x),), str(onnx_path), input_names=["x"],
                                      dynamo=False)
                    runs.append(("onnxruntime-cuda", {}))
                for label, opts in runs:
                    rt_name = "torch" if label.startswith("torch") else label
                    rt = runtime_class(rt_name)(RuntimeConfig(name=rt_name, options=opts))
                    rt.load(str(onnx_path if rt_name.startswith("onnx") else path))
                    r = measure(profile, rt, {"x": x}, args.seconds, idle.power_mw)
                    rt.close()
                    # the floor in the same precision, measured right after (interleaved per row)
                    bare = bare_loop_p50_ms(path, x, args.seconds, fp16=bool(opts.get("fp16")))

                    def fmt(v, spec):
                        return format(v, spec) if v is not None else "n/a"
                    print(f"{name:18} {label:18} {r['p50_ms']:14.3f} {fmt(r['device_p50_ms'], '13.3f')} "
                          f"{bare:11.3f} {r['p50_ms'] / bare:6.2f} {fmt(r['mj_per_inf'], '9.3f')} "
                          f"{fmt(r['mj_above_idle'], '11.3f')}  [{r['energy_source']}]"
                          + (f"  warnings: {'; '.join(r['warnings'])}" if r["warnings"] else ""))
    finally:
        profile.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
