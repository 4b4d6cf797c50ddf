"""A metric's series across runs for one variant, with the step changes in it."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness.core.errors import UsageError
from harness.core.steps import Segment, Step, detect_steps
from harness.store import queries

# short names users type -> measurement columns
ALIASES = {"p50": "p50_ms", "p90": "p90_ms", "p95": "p95_ms", "p99": "p99_ms", "p999": "p999_ms",
           "mean": "mean_ms", "min": "min_ms", "max": "max_ms", "std": "std_ms", "throughput": "throughput_sps",
           "rss": "peak_rss_bytes", "memory": "peak_rss_bytes", "energy": "energy_per_inference_mj",
           "size": "size_bytes", "load": "load_ms", "accuracy": "task.accuracy"}
NON_METRIC = {"run_id", "variant_id", "measurement_id", "name", "model", "status", "error", "path", "format",
              "precision", "runtime", "provider", "created_at", "sensors", "warnings", "info", "params", "operation"}


@dataclass
class Series:
    """One scenario's values in run order, with the fitted levels and steps."""

    scenario: dict[str, Any]
    points: list[dict[str, Any]]             # run_id, created_at, tag, value
    segments: list[Segment] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "points": self.points,
            "segments": [{"start_run": self.points[s.start]["run_id"], "runs": s.stop - s.start,
                          "median": s.median} for s in self.segments],
            "steps": [{"run_id": self.points[s.index]["run_id"], "created_at": self.points[s.index]["created_at"],
                       "before": s.before, "after": s.after, "change": s.change} for s in self.steps],
        }


def resolve_metric(store, metric: str) -> tuple[str, str]:
    """('measurements' | 'variants' | 'quality', column or REFERENCE.METRIC). Only known column names are ever
    placed in SQL."""
    name = ALIASES.get(metric, metric)
    measurement_cols = queries.table_columns(store, "measurements") - NON_METRIC
    variant_cols = queries.table_columns(store, "variants") - NON_METRIC
    for candidate in (name, f"{name}_ms"):
        if candidate in measurement_cols:
            return "measurements", candidate
        if candidate in variant_cols:
            return "variants", candidate
    reference, dot, qmetric = name.partition(".")
    if dot and reference in ("task", "base", "root") and qmetric:
        return "quality", name
    known = sorted(ALIASES) + sorted(c for c in measurement_cols | variant_cols if not c.endswith("_id"))
    raise UsageError(f"unknown metric {metric!r}; use one of {', '.join(known[:24])}, ... "
                     "or a quality metric as REFERENCE.METRIC (e.g. task.accuracy, root.kl_divergence)")


def load_history(store, model: str | None, variant: str, metric: str, tag: str | None = None,
                 device: str | None = None, batch_size: int | None = None, threads: int | None = None,
                 min_change: float = 0.05) -> tuple[str, list[Series]]:
    """The metric's series for a variant across complete runs (oldest first), one per scenario."""
    source, column = resolve_metric(store, metric)
    rows = queries.metric_series_rows(store, source, column, variant, model=model, tag=tag, device=device,
                                      batch_size=batch_size, threads=threads)
    keys = (("model", "device", "batch_size", "threads", "provider", "runtime") if source == "measurements"
            else ("model", "device"))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row["value"] is None:
            continue
        groups[tuple(row[k] for k in keys)].append(
            {"run_id": row["run_id"], "created_at": row["created_at"], "tag": row["tag"], "value": row["value"]})
    series = []
    for key, points in groups.items():
        s = Series(dict(zip(keys, key)), points)
        s.segments, s.steps = detect_steps([p["value"] for p in points], min_change=min_change)
        series.append(s)
    series.sort(key=lambda s: tuple(str(v) for v in s.scenario.values()))
    return column, series
