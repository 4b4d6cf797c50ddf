"""Does the harness timing loop add overhead? Times one onnxruntime session with harness's loop and with a bare
`session.run` loop, interleaved in blocks, on the digits CNN and a ResNet-18-shaped net, and prints the p50 ratio
harness/bare. Target: <= 1.01 at millisecond scale.

    python benchmarks/fidelity.py [--blocks 10] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def bare_loop(session, feeds, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        session.run(None, feeds)
        out[i] = clock() - t0
    return out


def export(example_name: str, out_dir: Path) -> tuple[str, dict]:
    from harness.examples import load_example
    from harness.exporters.base import ExportContext
    from harness.exporters.fp32 import Fp32Exporter

    example = load_example(example_name)
    art = Fp32Exporter().export(None, ExportContext(example=example, out_dir=out_dir))
    feeds = {n: t.numpy() for n, t in zip(example.input_names, example.example_inputs)}
    return art.variant.path, feeds


def compare(path: str, feeds: dict, threads: int, blocks: int, block_s: float) -> tuple[float, float, int]:
    from harness.runtimes.base import RuntimeConfig
    from harness.runtimes.onnxruntime_runtime import OnnxRuntime
    from harness.timing import timed_loop, warmup

    runtime = OnnxRuntime(RuntimeConfig(threads=threads))
    runtime.load(path)
    step = runtime.make_step(feeds)
    warmup(step, 20, 0.5)
    per_call = np.median(timed_loop(step, 10, 0.1)) / 1e9
    n = max(20, int(block_s / per_call))
    harness_ns, bare_ns = [], []
    for b in range(blocks):
        # alternate which loop goes first so drift within a block pair favours neither
        order = (0, 1) if b % 2 == 0 else (1, 0)
        for which in order:
            if which == 0:
                harness_ns.append(timed_loop(step, n, 0.0, max_iterations=n))
            else:
                bare_ns.append(bare_loop(runtime.session, feeds, n))
    h, b_ = np.median(np.concatenate(harness_ns)), np.median(np.concatenate(bare_ns))
    return h / 1e6, b_ / 1e6, n * blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--block-seconds", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'model':<10} {'harness p50 ms':>15} {'bare p50 ms':>12} {'ratio':>7} {'samples':>8}")
        for name in ("digits", "resnet18"):
            path, feeds = export(name, Path(tmp))
            h, b, n = compare(path, feeds, args.threads, args.blocks, args.block_seconds)
            print(f"{name:<10} {h:>15.4f} {b:>12.4f} {h / b:>7.3f} {n:>8}  (target <= 1.01)")


if __name__ == "__main__":
    main()
