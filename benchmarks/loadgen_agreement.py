"""Do harness's single-stream loop and MLPerf LoadGen's SingleStream agree? Times one onnxruntime session (same
model, same session settings, same prepared inputs) alternately with harness's timed loop and with a LoadGen
SingleStream run driving the same `step`, in interleaved blocks, on the digits CNN and the ResNet-18-shaped net,
and prints the ratio of the medians (over blocks) of each block's p50 and p90. Target: within 2 % at millisecond
scale. LoadGen's latency is issue-to-completion, so it includes LoadGen's own per-query overhead (a few µs).

    python benchmarks/loadgen_agreement.py [--blocks 8] [--queries 200] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def export(example_name: str, out_dir: Path) -> tuple[str, dict]:
    from harness.examples import load_example
    from harness.exporters.base import ExportContext
    from harness.exporters.fp32 import Fp32Exporter

    example = load_example(example_name)
    art = Fp32Exporter().export(None, ExportContext(example=example, out_dir=out_dir))
    feeds = {n: t.numpy() for n, t in zip(example.input_names, example.example_inputs)}
    return art.variant.path, feeds


def agreement(path: str, feeds: dict, threads: int, blocks: int, queries: int, log_root: Path) -> dict:
    from harness.runtimes.base import RuntimeConfig
    from harness.runtimes.onnxruntime_runtime import OnnxRuntime
    from harness.scenarios.loadgen_scenario import LoadgenSettings, run_loadgen
    from harness.timing import timed_loop, warmup

    runtime = OnnxRuntime(RuntimeConfig(threads=threads))
    runtime.load(path)
    step = runtime.make_step(feeds)
    warmup(step, 20, 0.5)
    h50, h90, l50, l90, lvalid, c50 = [], [], [], [], [], []
    settings = LoadgenSettings(scenario="single-stream", min_duration_ms=0, min_query_count=queries)
    for b in range(blocks):
        # alternate which goes first so drift within a block pair favours neither
        for which in ((0, 1) if b % 2 == 0 else (1, 0)):
            if which == 0:
                lat = timed_loop(step, queries, 0.0, max_iterations=queries) / 1e6
                h50.append(np.percentile(lat, 50))
                h90.append(np.percentile(lat, 90))
            else:
                result = run_loadgen(step, settings, log_root / f"block{b}")
                s = result["summary"]
                # the same call timed inside the SUT: separates LoadGen's accounting from contention
                c50.append(np.percentile(result["compute_ns"] / 1e6, 50))
                l50.append(s["p50_ms"])
                l90.append(s["p90_ms"])
                lvalid.append(s["verdict"])
    med = lambda xs: float(np.median(xs))  # noqa: E731
    return {"h50": med(h50), "h90": med(h90), "l50": med(l50), "l90": med(l90), "c50": med(c50),
            "valid": sum(v == "VALID" for v in lvalid), "runs": len(lvalid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--queries", type=int, default=200, help="calls per block and per LoadGen run (>= 64)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'model':<10} {'harness p50':>11} {'LoadGen p50':>11} {'ratio':>6}   "
              f"{'harness p90':>11} {'LoadGen p90':>11} {'ratio':>6}  LoadGen VALID")
        for name in ("digits", "resnet18"):
            path, feeds = export(name, Path(tmp))
            r = agreement(path, feeds, args.threads, args.blocks, args.queries, Path(tmp) / f"lg-{name}")
            print(f"{name:<10} {r['h50']:>11.4f} {r['l50']:>11.4f} {r['l50'] / r['h50']:>6.3f}   "
                  f"{r['h90']:>11.4f} {r['l90']:>11.4f} {r['l90'] / r['h90']:>6.3f}  {r['valid']}/{r['runs']}"
                  "   (ms; target: ratios within 0.98-1.02)")
            print(f"{'':<10} p50 of the same call timed inside LoadGen's SUT: {r['c50']:.4f} ms "
                  f"({r['c50'] / r['h50']:.3f} x harness's loop)")


if __name__ == "__main__":
    main()
