"""What the compression exporters buy on this machine, at 1 thread, timings interleaved in one process.

ResNet-18-shaped net (224x224, batch 1): p50 speedup over FP32 of int8-static as harness exports it (QDQ U8S8,
per-channel on x86) next to onnxruntime's library defaults (QDQ S8S8, per-tensor); target >= 3.3x.
MiniLM-L6 (16 tokens, batch 1): int8-dynamic (per-channel) cosine to FP32 over the shipped sentences (target
>= 0.99) and p50 speedup (target >= 2.2x).

    python benchmarks/compression.py [--rounds 20] [--iters 8] [--skip-minilm] [--skip-resnet]

Prints figures; asserts nothing (timings on shared machines are noisy).
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESNET_RECIPES = {
    "fp32": "fp32",
    "int8-static (harness: U8S8, per-channel)": "int8-static",
    "int8-static (library defaults: S8S8, per-tensor)":
        "int8-static:format=s8s8,per_channel=false,symmetric_activations=false",
}
MINILM_RECIPES = {"fp32": "fp32", "int8-dynamic (per-channel)": "int8-dynamic"}


def session(path: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def interleaved_p50(paths: dict[str, str], feeds: dict, rounds: int, iters: int) -> dict[str, float]:
    """p50 latency (ms) per model over all rounds; many short rounds, interleaved, so load from other processes
    and machine drift hit every model alike."""
    sessions = {k: session(p) for k, p in paths.items()}
    for s in sessions.values():
        for _ in range(3):
            s.run(None, feeds)
    samples: dict[str, list[float]] = {k: [] for k in sessions}
    for r in range(rounds):
        order = list(sessions)
        order = order[r % len(order):] + order[:r % len(order)]
        for k in order:
            s = sessions[k]
            for _ in range(iters):
                t0 = time.perf_counter_ns()
                s.run(None, feeds)
                samples[k].append((time.perf_counter_ns() - t0) / 1e6)
    return {k: float(np.median(v)) for k, v in samples.items()}


def export(example, recipes: dict[str, str], out: Path) -> dict[str, object]:
    from harness.exporters.base import ExportContext
    from harness.exporters.recipes import build_variants

    ctx = ExportContext(example=example, out_dir=out, target_device="cpu",
                        target_info={"machine": platform.machine()})
    variants = {v.name: v for v in build_variants(example, list(recipes.values()), ctx)}
    result = {}
    for label, recipe in recipes.items():
        v = variants[recipe]
        if not v.ok:
            raise SystemExit(f"{label}: export failed: {v.error}")
        result[label] = v
    return result


def resnet(args, tmp: Path) -> None:
    from harness.examples import load_example

    ex = load_example("resnet18")
    variants = export(ex, RESNET_RECIPES, tmp / "resnet18")
    feeds = {"input": ex.eval_data().inputs["input"][:1]}
    p50 = interleaved_p50({k: v.path for k, v in variants.items()}, feeds, args.rounds, args.iters)
    base = p50["fp32"]
    print("\nResNet-18-shaped net, 224x224, batch 1, 1 thread")
    print(f"{'variant':<50} {'p50 ms':>8} {'speedup':>8} {'fused':>7} {'size MB':>8}")
    for k, v in variants.items():
        fused = v.info.get("fused_fraction")
        print(f"{k:<50} {p50[k]:8.2f} {base / p50[k]:7.2f}x {'-' if fused is None else f'{fused:.0%}':>7} "
              f"{v.size_bytes / 1e6:8.2f}")
    ours = base / p50["int8-static (harness: U8S8, per-channel)"]
    print(f"int8-static speedup {ours:.2f}x (target >= 3.3x): {'met' if ours >= 3.3 else 'MISSED'}")


def minilm(args, tmp: Path) -> None:
    from harness.examples import load_example
    from harness.core.drift import cosine

    ex = load_example("minilm")
    variants = export(ex, MINILM_RECIPES, tmp / "minilm")
    data = ex.eval_data().inputs
    outs = {k: session(v.path).run(None, data)[0] for k, v in variants.items()}
    cos = cosine(outs["fp32"], outs["int8-dynamic (per-channel)"])
    feeds = {k: v[:1] for k, v in data.items()}
    p50 = interleaved_p50({k: v.path for k, v in variants.items()}, feeds, args.rounds, args.iters * 5)
    base = p50["fp32"]
    print(f"\nMiniLM-L6, {feeds['input_ids'].shape[1]} tokens, batch 1, 1 thread, "
          f"cosine over {len(cos)} sentences")
    print(f"{'variant':<50} {'p50 ms':>8} {'speedup':>8} {'cosine':>8} {'size MB':>8}")
    for k, v in variants.items():
        c = 1.0 if k == "fp32" else float(cos.mean())
        print(f"{k:<50} {p50[k]:8.2f} {base / p50[k]:7.2f}x {c:8.4f} {v.size_bytes / 1e6:8.2f}")
    speed = base / p50["int8-dynamic (per-channel)"]
    print(f"int8 cosine mean {cos.mean():.4f}, min {cos.min():.4f} (target >= 0.99): "
          f"{'met' if cos.mean() >= 0.99 else 'MISSED'}")
    print(f"int8 speedup {speed:.2f}x (target >= 2.2x): {'met' if speed >= 2.2 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--iters", type=int, default=8, help="timed calls per model per round (x5 for MiniLM)")
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    import onnxruntime as ort

    print(f"onnxruntime {ort.__version__}, {platform.machine()}, {platform.processor() or 'cpu'}")
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        if not args.skip_resnet:
            resnet(args, Path(tmp))
        if not args.skip_minilm:
            minilm(args, Path(tmp))


if __name__ == "__main__":
    main()
