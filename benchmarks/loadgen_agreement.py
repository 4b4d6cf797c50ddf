"""Do harness's single-stream loop and MLPerf LoadGen's SingleStream agree? Times one onnxruntime session (same
model, same session settings, same prepared inputs) alternately with harness's timed loop and with a LoadGen
SingleStream run driving the same `step`, in pairs of blocks whose order alternates, and prints per model:

  p50 ratio, p90 ratio   median over pairs of (LoadGen block / harness block), with the spread of the pair ratios
                         (25th-75th percentile). A paired ratio cancels the slow drifts of a shared host (another
                         tenant, frequency) that a ratio of medians taken across the whole run would pick up.
  sut_compute            the same call timed inside LoadGen's SUT callback, against harness's loop: separates
                         contention and thread placement (this ratio moves) from LoadGen's accounting (it does not)
  loadgen_overhead_us    LoadGen p50 minus the SUT's compute p50: LoadGen's own issue-to-completion cost per query

Models: the digits CNN (tens of µs per call), the zoo's wide CNN on digits upsampled to 32x32 (milliseconds), and
the ResNet-18-shaped net (tens of ms). Target: p50 and p90 within 2 % (ratios 0.98-1.02) at millisecond scale. At
µs scale LoadGen's fixed per-query cost (a C++ -> Python callback and its completion call, a few µs) is a visible
share of the latency; that is reported, not hidden.

    python benchmarks/loadgen_agreement.py [--pairs 12] [--queries 200] [--threads 1] [--models digits,wide-cnn,resnet18]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np


MODELS = {"digits": "digits", "wide-cnn": "harness.examples.zoo.models:make_wide_cnn", "resnet18": "resnet18"}


def export(example_ref: str, out_dir: Path) -> tuple[str, dict]:
    from harness.examples import load_example
    from harness.exporters.base import ExportContext
    from harness.exporters.fp32 import Fp32Exporter

    example = load_example(example_ref)
    out_dir.mkdir(parents=True, exist_ok=True)
    art = Fp32Exporter().export(None, ExportContext(example=example, out_dir=out_dir))
    feeds = {n: t.numpy() for n, t in zip(example.input_names, example.example_inputs)}
    return art.variant.path, feeds


def agreement(path: str, feeds: dict, threads: int, pairs: int, queries: int, log_root: Path) -> dict:
    from harness.runtimes.base import RuntimeConfig
    from harness.runtimes.onnxruntime_runtime import OnnxRuntime
    from harness.scenarios.loadgen_scenario import LoadgenSettings, run_loadgen
    from harness.timing import timed_loop, warmup

    runtime = OnnxRuntime(RuntimeConfig(threads=threads))
    runtime.load(path)
    step = runtime.make_step(feeds)
    warmup(step, 20, 0.5)
    settings = LoadgenSettings(scenario="single-stream", min_duration_ms=0, min_query_count=queries)
    rows = []    # per pair: harness p50/p90, LoadGen p50/p90, SUT compute p50, verdict
    for b in range(pairs):
        row = {}
        # alternate which goes first so drift within a pair favours neither
        for which in (("h", "l") if b % 2 == 0 else ("l", "h")):
            if which == "h":
                lat = timed_loop(step, queries, 0.0, max_iterations=queries) / 1e6
                row["h50"], row["h90"] = np.percentile(lat, 50), np.percentile(lat, 90)
            else:
                result = run_loadgen(step, settings, log_root / f"pair{b}")
                s = result["summary"]
                row["l50"], row["l90"], row["valid"] = s["p50_ms"], s["p90_ms"], s["verdict"] == "VALID"
                row["c50"] = np.percentile(result["compute_ns"] / 1e6, 50)
        rows.append(row)

    def paired(num: str, den: str) -> tuple[float, float, float]:
        r = np.array([row[num] / row[den] for row in rows])
        return float(np.median(r)), float(np.percentile(r, 25)), float(np.percentile(r, 75))

    return {"p50": paired("l50", "h50"), "p90": paired("l90", "h90"), "sut": paired("c50", "h50"),
            "h50": float(np.median([r["h50"] for r in rows])),
            "overhead_us": float(np.median([(r["l50"] - r["c50"]) * 1e3 for r in rows])),
            "valid": sum(r["valid"] for r in rows), "runs": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--queries", type=int, default=200, help="calls per block and per LoadGen run (>= 64)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    args = parser.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(MODELS)}")
    load = os.getloadavg()[0]
    print(f"host: {os.cpu_count()} CPUs, load average {load:.2f} at start; {args.pairs} pairs x {args.queries} "
          f"queries, {args.threads} thread(s); target: p50/p90 ratios within 0.98-1.02 at millisecond scale")
    fmt = lambda t: f"{t[0]:.3f} [{t[1]:.3f}-{t[2]:.3f}]"  # noqa: E731
    print(f"{'model':<10} {'harness p50 ms':>14} {'p50 ratio':>21} {'p90 ratio':>21} {'sut_compute':>21} "
          f"{'overhead us':>11}  VALID")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path, feeds = export(MODELS[name], Path(tmp) / name)
            r = agreement(path, feeds, args.threads, args.pairs, args.queries, Path(tmp) / f"lg-{name}")
            print(f"{name:<10} {r['h50']:>14.4f} {fmt(r['p50']):>21} {fmt(r['p90']):>21} {fmt(r['sut']):>21} "
                  f"{r['overhead_us']:>11.1f}  {r['valid']}/{r['runs']}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
