"""What size-only exports told about the candidates of a model not measured yet (harness.meta.sizing computes it;
`harness recommend`, the dashboard and benchmarks/recommend.py read it)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sizes:
    """Computed file sizes of a model's recipes (bytes, with external data), the recipes whose export failed
    (they cannot be made from this model: the size-only export runs the recipe's own exporters on its graph), and
    why the others were not tried."""
    bytes: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)      # recipe -> the exporter's error
    reasons: dict[str, str] = field(default_factory=dict)     # recipe -> why no size was computed
    # latency ratios timed from the size-only exports (harness.meta.timed_latency), and why a recipe has none
    latency: dict[str, object] = field(default_factory=dict)  # recipe -> TimedRatio
    latency_reasons: dict[str, str] = field(default_factory=dict)
