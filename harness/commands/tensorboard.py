"""`harness export-tensorboard RUN --logdir DIR`: the run's figures as TensorBoard event files."""
from __future__ import annotations

from harness.commands.common import add_db_argument, add_run_argument, open_store


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-tensorboard", help="write a run's figures as TensorBoard events (Compression Board's tags)",
        description="Writes Compression Board's layout: {model}/accuracy|latency|model_size/{variant}, "
                    "{model}/compression/{size_ratio,speedup,...}/{variant}, {model}/latency_distribution/"
                    "{variant} histograms, HParams per variant and training curves; then "
                    "`tensorboard --logdir DIR`.")
    add_run_argument(p)
    p.add_argument("--logdir", required=True, help="TensorBoard log directory")
    p.add_argument("--base", default="fp32", help="variant the compression figures compare against (fp32)")
    add_db_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from reports.tensorboard import export_tensorboard

    store = open_store(args)
    run_id = store.resolve_run(args.run)
    tags = export_tensorboard(store, run_id, args.logdir, base=args.base)
    print(f"wrote {len(tags)} tag(s) for run {run_id} to {args.logdir}; view with `tensorboard --logdir "
          f"{args.logdir}`")
    return 0
