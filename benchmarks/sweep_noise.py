"""How steady are the latency ratios `harness sweep` stores? Identical compute, timed as the sweep times it.

Unstructured pruning only zeroes weights: onnxruntime's dense kernels do the same work, so every
prune-unstructured variant's true latency ratio to its FP32 root is 1. This script benches one sweep-sized chunk
(the FP32 root and six pruning levels of a zoo model) with the sweep's timing settings and prints how far the
latency ratios the meta-dataset stores (harness.meta.dataset.latency_ratio: the fast level's with 50 calls or more,
else round-paired with 3 rounds or more, else the ratio of the pooled p50s) stray from 1, for the old sweep timing
(2 rounds with a 0.1 s re-warm) and the current default (harness.meta.sweep.SweepConfig: many short rounds),
repeated and interleaved (old, new, old, new...):

  old_max_abs_dev / new_max_abs_dev     largest |ratio - 1| over every repetition and level (the stored ratio)
  old_mean_abs_dev / new_mean_abs_dev   mean |ratio - 1|
  old_wall_s / new_wall_s               mean wall time of one chunk (export + workers + timing)
  new_<estimator>_max_abs_dev / _mean_abs_dev   the current timing with each estimator on its own: fast (1st
                                        percentiles of every call), paired (median of the round-paired p50
                                        ratios), pooled (p50 over p50)
  rep_<i>_<old|new>                     that repetition's stored ratios

Not a test: timings are never asserted. On a shared VM the figures move with the neighbours' load.

    python benchmarks/sweep_noise.py [--model zoo-lenet] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LEVELS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
# how the ratio is estimated (harness.store.meta): the fast level's 1st percentiles, the round-paired p50s, the
# pooled p50s
ESTIMATORS = ("fast", "paired", "pooled")


def chunk_ratios(model: str, rounds: int, warmup_s: float, db: str, artifacts: str) -> tuple[list[dict], float]:
    """One chunk benched as `harness sweep` benches it; (latency ratios of the pruned variants, wall seconds)."""
    from harness.engine import Engine
    from harness.meta.dataset import latency_ratio
    from harness.meta.sweep import SweepConfig, chunk_bench
    from harness.store import Store
    from harness.store.meta import measured_points

    config = SweepConfig(examples=(model,), db=db, artifacts_dir=artifacts, rounds=rounds, warmup_s=warmup_s)
    t0 = time.monotonic()
    out = Engine(chunk_bench(config, model, [f"prune-unstructured:{s}" for s in LEVELS]),
                 echo=lambda m: None).run()
    wall = time.monotonic() - t0
    points = [p for p in measured_points(Store(db)) if p["run_id"] == out.run_id and p["name"] != "fp32"]
    # the ratio the meta-dataset stores (the fast level's with enough calls), and each estimator on its own
    return [{"stored": latency_ratio(p), "fast": p["fast_latency_ratio"], "paired": p["paired_latency_ratio"],
             "pooled": p["p50_ms"] / p["root_p50_ms"]} for p in points], wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="zoo-lenet", help="a zoo example with microsecond-scale latency")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from harness.meta.sweep import SweepConfig

    new = SweepConfig(examples=(args.model,))
    settings = {"old": (2, 0.1), "new": (new.rounds, new.warmup_s)}
    print(f"model {args.model}")
    for name, (rounds, warm) in settings.items():
        print(f"{name}_settings rounds={rounds},warmup_s={warm:g},min_duration_s={new.min_duration_s:g}")
    devs = {k: [] for k in settings}
    by_estimator = {k: [] for k in ESTIMATORS}      # the current timing only
    walls = {k: [] for k in settings}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("HARNESS_ZOO_CACHE", str(Path(tmp) / "zoo-weights"))
        for i in range(args.repeats):
            for name, (rounds, warm) in settings.items():
                ratios, wall = chunk_ratios(args.model, rounds, warm, str(Path(tmp) / "noise.duckdb"), tmp)
                devs[name] += [abs(r["stored"] - 1.0) for r in ratios]
                if name == "new":
                    for k in ESTIMATORS:
                        by_estimator[k] += [abs(r[k] - 1.0) for r in ratios if r[k] is not None]
                walls[name].append(wall)
                stored = " ".join(f"{r['stored']:.3f}" for r in ratios)
                print(f"rep_{i}_{name} {stored}  ({wall:.1f} s)")
    for name in settings:
        print(f"{name}_max_abs_dev {max(devs[name]):.3f}")
        print(f"{name}_mean_abs_dev {sum(devs[name]) / len(devs[name]):.3f}")
        print(f"{name}_wall_s {sum(walls[name]) / len(walls[name]):.1f}")
    for k, d in by_estimator.items():
        print(f"new_{k}_max_abs_dev {max(d):.3f}")
        print(f"new_{k}_mean_abs_dev {sum(d) / len(d):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
