"""Where a measurement sits on the device's roofline: work per inference (graph_cost), the rate it reached, and
the fraction of the device's peak for the variant's precision (device_profiles/peaks)."""
from __future__ import annotations

from typing import Any

from harness.core.graph_cost import GraphCost

FIELDS = ("macs", "bytes", "arithmetic_intensity", "achieved_gops", "peak_gops", "peak_bandwidth_gbps",
          "peak_fraction", "peak_source", "roofline_reason")


def roofline_fields(cost: GraphCost | None, cost_reason: str | None, calls_per_s: float | None,
                    precision: str | None, peaks) -> dict[str, Any]:
    """The roofline columns of one measurement. `calls_per_s` is the sustained rate of whole-graph calls (one
    call = one inference at the measured batch size); a figure that cannot be had is null and
    `roofline_reason` says why."""
    out: dict[str, Any] = {k: None for k in FIELDS}
    reasons: list[str] = []
    if cost is None:
        reasons.append(cost_reason or "graph not counted")
    else:
        out.update(macs=cost.macs, bytes=cost.bytes, arithmetic_intensity=cost.arithmetic_intensity)
        if cost.uncounted:
            reasons.append(f"{len(cost.uncounted)} dense op(s) not counted: {cost.uncounted[0]}")
        if calls_per_s and calls_per_s > 0 and cost.macs:
            out["achieved_gops"] = cost.flops * calls_per_s / 1e9
    if peaks is not None:
        peak, why = peaks.peak_for(precision)
        out.update(peak_gops=peak, peak_bandwidth_gbps=peaks.bandwidth_gbps, peak_source=peaks.source)
        if peak is None:
            reasons.append(why)
        elif out["achieved_gops"] is not None:
            out["peak_fraction"] = out["achieved_gops"] / peak
    else:
        reasons.append("no device peak")
    out["roofline_reason"] = "; ".join(reasons) or None
    return out


def ridge_point(peak_gops: float | None, bandwidth_gbps: float | None) -> float | None:
    """Arithmetic intensity (ops/byte) where the memory roof meets the compute roof."""
    if not peak_gops or not bandwidth_gbps:
        return None
    return peak_gops / bandwidth_gbps


def attainable_gops(intensity: float, peak_gops: float, bandwidth_gbps: float) -> float:
    return min(peak_gops, intensity * bandwidth_gbps)
