"""The figures the reports compare variants by: name, unit, display scale and which direction is better.

One registry so the dashboard, the HTML report and the TensorBoard export label every number the same way.
Values are kept in the store's units (bytes, ms, fractions); `scale` converts them for display only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    key: str              # column of the run table (harness.reports.data.RunData.table)
    label: str
    unit: str
    better: str           # "lower" | "higher"
    scale: float = 1.0    # store value * scale = displayed value
    digits: int = 3

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def display(self, value: Any) -> float | None:
        if value is None or value != value:   # None or NaN
            return None
        return float(value) * self.scale

    def format(self, value: Any) -> str:
        shown = self.display(value)
        if shown is None:
            return "–"
        text = f"{shown:,.{self.digits}g}" if abs(shown) < 1000 else f"{shown:,.0f}"
        return f"{text} {self.unit}".rstrip()


METRICS: dict[str, Metric] = {m.key: m for m in [
    Metric("size_bytes", "Size", "KiB", "lower", 1 / 1024),
    Metric("p50_ms", "p50 latency", "ms", "lower"),
    Metric("p90_ms", "p90 latency", "ms", "lower"),
    Metric("throughput_sps", "Throughput", "samples/s", "higher"),
    Metric("peak_rss_bytes", "Peak memory", "MiB", "lower", 1 / 2**20),
    Metric("energy_per_inference_mj", "Energy per inference", "mJ", "lower"),
    Metric("accuracy", "Accuracy", "%", "higher", 100.0),
    Metric("agreement", "Top-1 agreement vs FP32", "%", "higher", 100.0),
    Metric("kl", "KL divergence vs FP32", "nats", "lower", 1.0),
]}

# quality table (reference, metric names) -> run table column; first match wins. Only names the quality pass
# (harness/quality.py) writes: classifiers get top1_agreement and kl_divergence, embedding models
# cosine_similarity against the FP32 root.
QUALITY_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "accuracy": [("task", "accuracy")],
    "agreement": [("root", "top1_agreement"), ("root", "cosine_similarity")],
    "kl": [("root", "kl_divergence")],
}


# Compression Board's figures against the base (harness.core.comparison), shown next to the metrics:
# column of the run table -> display title
COMPARISON_COLUMNS: dict[str, str] = {
    "size_ratio": "Size ratio (base/variant)",
    "speedup_p50": "Speedup p50 (base/variant)",
    "speedup_p90": "Speedup p90 (base/variant)",
}


def ratio_key(key: str) -> str:
    return f"{key}_ratio"


def metric_options(keys: list[str] | None = None) -> dict[str, str]:
    """{display title: key} for select widgets."""
    return {METRICS[k].title: k for k in (keys or list(METRICS))}
