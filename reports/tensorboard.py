"""TensorBoard export in Compression Board's tag layout, so TensorBoard users see the same figures.

Per variant `{model}` (the variant's name, e.g. `fp32`, `int8-static`):
  {model}/accuracy                  task metric (accuracy, or cosine to FP32 for embedding models), %
  {model}/latency                   p50 latency, ms (and {model}/latency_p90)
  {model}/model_size                file size, MB (10^6 bytes)
  {model}/compression/size_ratio    base size / variant size (from harness.core.comparison)
  {model}/compression/speedup       base p50 / variant p50
  {model}/compression/accuracy_drop base - variant task metric, percentage points
  {model}/latency_histogram         histogram of the raw latency samples, ms
  {model}/drift/{output}/{metric}   drift of every output against the original: cosine, mse, max_abs_diff,
                                    top1_agreement_pct, kl_divergence (only the metrics that fit the output)
Scalars are written at step = the variant's batch size, so multi-batch runs become a curve. A text summary
(`summary/units`) states the units, which TensorBoard itself cannot show.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.core.comparison import against_base
from harness.store import queries
from harness.store.queries import comparison_rows, run_row


DRIFT_TAGS = (("cosine", "cosine"), ("MSE", "mse"), ("max |diff|", "max_abs_diff"),
              ("top-1 agree %", "top1_agreement_pct"), ("KL nats", "kl_divergence"))


def _walltime(run: dict[str, Any]) -> float | None:
    created = run.get("created_at")
    return created.timestamp() if hasattr(created, "timestamp") else None


def export_tensorboard(store, run_id: str, logdir: str | Path, base: str = "fp32") -> list[str]:
    """Write the run's event file under `logdir`; returns the tags written."""
    from tensorboardX import SummaryWriter

    from harness.reports.data import ReportReader

    variants, measurements, quality = comparison_rows(store, run_id)
    rows = against_base(variants, measurements, quality, base=base)
    run = run_row(store, run_id)
    reader = ReportReader(store.path, lock_timeout_s=store.lock_timeout_s)
    wall = _walltime(run)
    tags: list[str] = []
    writer = SummaryWriter(logdir=str(logdir), comment=f"-{run_id}")
    try:
        def scalar(tag: str, value, step) -> None:
            if value is None:
                return
            writer.add_scalar(tag, float(value), global_step=int(step or 1), walltime=wall)
            tags.append(tag)

        for r in rows:
            if r.get("status") != "ok":
                continue
            name, step = r["name"], r.get("batch_size") or 1
            if r.get("quality") is not None:
                scalar(f"{name}/accuracy", 100.0 * r["quality"], step)
            scalar(f"{name}/latency", r.get("p50_ms"), step)
            scalar(f"{name}/latency_p90", r.get("p90_ms"), step)
            scalar(f"{name}/model_size", None if r.get("size_bytes") is None else r["size_bytes"] / 1e6, step)
            if not r.get("is_base"):
                scalar(f"{name}/compression/size_ratio", r.get("size_ratio"), step)
                scalar(f"{name}/compression/speedup", r.get("speedup_p50"), step)
                scalar(f"{name}/compression/accuracy_drop", r.get("quality_drop"), step)
        from harness.core.output_drift import drift_table

        names = {v["variant_id"]: v["name"] for v in variants}
        for d in drift_table(queries.drift_rows(store, run_id), names):
            for label, key in DRIFT_TAGS:
                scalar(f"{d['variant']}/drift/{d['output']}/{key}", d.get(label), 1)
        for m in measurements:
            if m.get("status") != "ok":
                continue
            stats = reader.sample_stats(m["measurement_id"])
            if not stats:
                continue
            name = next(v["name"] for v in variants if v["variant_id"] == m["variant_id"])
            writer.add_histogram_raw(f"{name}/latency_histogram", global_step=int(m.get("batch_size") or 1),
                                     walltime=wall, **stats)
            tags.append(f"{name}/latency_histogram")
        writer.add_text("summary/units", "accuracy: % · latency: ms (p50; latency_p90: p90) · model_size: MB · "
                        "size_ratio and speedup: × against " + (rows[0]["base_name"] if rows else base)
                        + " · accuracy_drop: percentage points · drift/*: against the original, "
                        "top1_agreement_pct in %, kl_divergence in nats", global_step=0, walltime=wall)
    finally:
        writer.close()
    return sorted(set(tags))
