"""`harness sweep`: measure a grid of recipes over models (the meta-dataset of `predict` and `recommend`)."""
from __future__ import annotations

from harness.commands.common import add_db_argument


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="measure a grid of recipes over models (resumable); trains the predictor",
        description="Export and measure every recipe of a grid (method x level) for each model; each point is a "
                    "normal variant in the store. Points a previous sweep stored are not redone. Timing per "
                    "point is short (10 interleaved rounds, >= 60 calls / 0.2 s): enough for ratios, not for tail latencies.")
    p.add_argument("--model", action="append", dest="models", metavar="EXAMPLE",
                   help="example to sweep, repeatable (default: the digits zoo, harness.examples.zoo.DIGITS_ZOO, "
                        "twenty-three architectures in ten families; add zoo-minilm for text)")
    p.add_argument("--recipe", action="append", dest="recipes", metavar="RECIPE",
                   help="recipe of the grid, repeatable (default: the built-in grid, see harness.meta.sweep)")
    p.add_argument("--device", default="cpu", help="device profile (default cpu)")
    p.add_argument("--budget-s", type=float, help="start no new bench run after this many seconds")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads while timing (default 1)")
    p.add_argument("--chunk-size", type=int, default=8, help="recipes per bench run (default 8)")
    p.add_argument("--artifacts", help="exported variants and zoo weights (default: harness-artifacts/ beside --db)")
    p.add_argument("--no-train", action="store_true", help="do not (re)train the predictor afterwards")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_db_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from harness.examples.zoo import DIGITS_ZOO
    from harness.meta.sweep import SweepConfig, run_sweep

    config = SweepConfig(
        examples=tuple(args.models or DIGITS_ZOO), recipes=tuple(args.recipes) if args.recipes else None,
        device=args.device, db=args.db, artifacts_dir=args.artifacts, lock_timeout_s=args.lock_timeout,
        budget_s=args.budget_s, chunk_size=args.chunk_size, threads=args.threads, progress=not args.no_progress)
    result = run_sweep(config)
    for line in result.failed:
        print(f"harness: warning: {line}", file=sys.stderr)
    print(f"sweep: measured {len(result.measured)} point(s), {len(result.already)} already in the store"
          + (f", {len(result.left)} left for later (budget reached; run again to resume)" if result.budget_hit
             else ""))
    if not args.no_train and (result.measured or result.already):
        from harness.meta.predictor import train_and_store
        from harness.meta.probes import PROBES

        pred = train_and_store(args.db, device=args.device, lock_timeout_s=args.lock_timeout)
        print(f"predictor {pred.predictor_id}: trained on {pred.n_rows} point(s) "
              f"({', '.join(t for t, info in pred.targets.items() if info['trained'])})"
              + (f"; probe-anchored companion {pred.probe.predictor_id} for models with "
                 f"{', '.join(PROBES)} measured" if pred.probe is not None else ""))
    return 0
