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


def stored_outcomes(store, root: dict, device: str, recipes=None, timed: bool = False) -> tuple[Sizes, str | None]:
    """What the store holds of the size-only exports of one FP32 root point (`root`) on `device`, for `recipes`
    (every recipe when None): their sizes by status and, with `timed`, their latency ratios timed on this host
    when it may time them (harness.meta.timed_latency.timing_refusal; else the refusal is each recipe's reason).
    Returns the Sizes and this host's key, or None when nothing is timed here."""
    from harness.meta.timed_latency import TimedRatio, this_host_key, timing_refusal
    from harness.store.meta import stored_latencies, stored_sizes

    def mine(part: dict) -> dict:
        return {r: v for r, v in part.items() if recipes is None or r in recipes}

    out = Sizes(*(mine(part) for part in stored_sizes(store, root["root_id"], device)))
    if not timed:
        return out, None
    refusal = timing_refusal(device, root.get("environment"))
    if refusal:
        out.latency_reasons.update({r: refusal for r in recipes or ()})
        return out, None
    host = this_host_key(device)
    times, why = stored_latencies(store, root["root_id"], device, host)
    out.latency.update({r: TimedRatio(*v) for r, v in mine(times).items()})
    out.latency_reasons.update(mine(why))
    return out, host
