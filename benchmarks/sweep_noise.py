"""How steady are the latency ratios `harness sweep` stores? Identical compute, timed as the sweep times it.

Unstructured pruning only zeroes weights: onnxruntime's dense kernels do the same work, so every
prune-unstructured variant's true latency ratio to its FP32 root is 1. This script benches one sweep-sized chunk
(the FP32 root and six pruning levels of a zoo model) with the sweep's timing settings and prints how far the
latency ratios the meta-dataset stores (harness.meta.dataset.latency_ratio: round-paired with 3 rounds or more,
else the ratio of the pooled p50s) stray from 1, for the old sweep timing (2 rounds with a 0.1 s re-warm) and the
current default (harness.meta.sweep.SweepConfig: many short rounds), repeated and interleaved (old, new, old,
new...):

  old_max_abs_dev / new_max_abs_dev     largest |ratio - 1| over every repetition and level
  old_mean_abs_dev / new_mean_abs_dev   mean |ratio - 1|
  old_wall_s / new_wall_s               mean wall time of one chunk (export + workers + timing)
  rep_<i>_<old|new>                     that repetition's ratios

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


def chunk_ratios(model: str, rounds: int, warmup_s: float, db: str, artifacts: str) -> tuple[list[float], float]:
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
    # the ratio the meta-dataset stores: round-paired with enough rounds, else the ratio of the pooled p50s
    return [latency_ratio(p) for p in points], wall


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
    walls = {k: [] for k in settings}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("HARNESS_ZOO_CACHE", str(Path(tmp) / "zoo-weights"))
        for i in range(args.repeats):
            for name, (rounds, warm) in settings.items():
                ratios, wall = chunk_ratios(args.model, rounds, warm, str(Path(tmp) / "noise.duckdb"), tmp)
                devs[name] += [abs(r - 1.0) for r in ratios]
                walls[name].append(wall)
                print(f"rep_{i}_{name} {' '.join(f'{r:.3f}' for r in ratios)}  ({wall:.1f} s)")
    for name in settings:
        print(f"{name}_max_abs_dev {max(devs[name]):.3f}")
        print(f"{name}_mean_abs_dev {sum(devs[name]) / len(devs[name]):.3f}")
        print(f"{name}_wall_s {sum(walls[name]) / len(walls[name]):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
