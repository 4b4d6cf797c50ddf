"""`harness export-tensorboard RUN --logdir DIR`: the run's figures as TensorBoard event files."""
from __future__ import annotations

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, add_run_argument,
                                     from_args, store_at)


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
    p.set_defaults(func=from_args(run))


def run(*, logdir, run, base='fp32', db=DEFAULT_DB, lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    from harness.core.import_utils import require_tensorboardx

    require_tensorboardx()
    from harness.reports.tensorboard import export_tensorboard

    store = store_at(db, lock_timeout)
    run_id = store.resolve_run(run)
    tags = export_tensorboard(store, run_id, logdir, base=base)
    print(f"wrote {len(tags)} tag(s) for run {run_id} to {logdir}; view with `tensorboard --logdir "
          f"{logdir}`")
    return 0
