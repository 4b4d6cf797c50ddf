"""Which layers cost a variant its time or its accuracy, from the per-layer rows (harness.store.queries
.layer_profile_rows). Pure functions over rows: the CLI, the dashboard and the report say the same thing."""
from __future__ import annotations

from typing import Any

# a variant "lost accuracy" past these: more than a point of its metric, or under 99 % top-1 agreement
DROP_PTS = 1.0
MIN_AGREEMENT = 0.99


def time_added_ms(row: dict[str, Any]) -> float | None:
    t, b = row.get("time_ms"), row.get("base_time_ms")
    if t is None and b is None:
        return None
    return (t or 0.0) - (b or 0.0)


def order_layers(rows: list[dict[str, Any]], how: str = "time") -> list[dict[str, Any]]:
    """Rows by time added over the root (a root's own rows: by their time, as they have no base), by error added
    (relative L2 where that is unknown), or in graph order ("order"); unknown values last."""
    if how == "order":
        return sorted(rows, key=lambda r: r["layer_order"] if r.get("layer_order") is not None else 1 << 30)

    def value(r: dict[str, Any]) -> float | None:
        if how == "error":
            return r["error_added"] if r.get("error_added") is not None else r.get("rel_l2")
        return time_added_ms(r)

    return sorted(rows, key=lambda r: -value(r) if value(r) is not None else float("inf"))


def slowest_layers(rows: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The `n` layers that added the most time over the root (only those that added any)."""
    scored = [(time_added_ms(r), r) for r in rows]
    scored = [(d, r) for d, r in scored if d is not None and d > 0]
    return [r for _, r in sorted(scored, key=lambda x: -x[0])[:n]]


def lossiest_layers(rows: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The `n` layers where the most error entered (error_added; rel_l2 where that is unknown)."""
    def score(r):
        return r.get("error_added") if r.get("error_added") is not None else r.get("rel_l2")

    scored = [(score(r), r) for r in rows if score(r) is not None and score(r) > 0]
    return [r for _, r in sorted(scored, key=lambda x: -x[0])[:n]]


def _time_text(r: dict[str, Any]) -> str:
    parts = [f"+{time_added_ms(r):.3f} ms", r.get("ran_as") or r.get("op_type") or "?", r.get("precision") or "?"]
    if r.get("unfused_qdq"):
        parts.append("float between Q/DQ")
    return f"{r['layer']} ({', '.join(parts)})"


def _error_text(r: dict[str, Any]) -> str:
    added = r.get("error_added")
    parts = [f"error +{added:.3f}" if added is not None else f"error {r['rel_l2']:.3f}",
             r.get("ran_as") or r.get("op_type") or "?", r.get("precision") or "?"]
    return f"{r['layer']} ({', '.join(parts)})"


def explain(name: str, rows: list[dict[str, Any]], speedup: float | None, drop_pts: float | None,
            agreement: float | None) -> list[str]:
    """Up to two lines for a variant: the layers that lost the time when it is slower than its root, the layers
    where error entered when it lost accuracy."""
    lines = []
    if speedup is not None and speedup < 1.0:
        slow = slowest_layers(rows)
        if slow:
            lines.append(f"{name} runs {speedup:.2f}x its FP32 root (slower); time added in: "
                         + "; ".join(_time_text(r) for r in slow))
    lost = (drop_pts is not None and drop_pts > DROP_PTS) or (agreement is not None and agreement < MIN_AGREEMENT)
    if lost:
        bad = lossiest_layers(rows)
        if bad:
            what = f"lost {drop_pts:.1f} points" if drop_pts is not None and drop_pts > DROP_PTS else \
                f"agrees with FP32 on {100 * agreement:.1f} % of top-1"
            lines.append(f"{name} {what}; error entered at: " + "; ".join(_error_text(r) for r in bad))
    return lines


def explain_variants(rows: list[dict[str, Any]], variants: list[dict[str, Any]],
                     measurements: list[dict[str, Any]], quality: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{variant_id: {speedup, quality_drop, agreement, lines}} of every profiled variant that is not a root: its
    p50 speedup and accuracy drop against its FP32 root (harness.core.comparison.against_base, as `harness
    bench` prints them) and explain()'s lines. `rows`: the run's layer_profile rows; the rest: the run's
    comparison rows (harness.store.queries.comparison_rows)."""
    from harness.core.comparison import against_base
    from harness.core.errors import HarnessError

    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_variant.setdefault(r["variant_id"], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for root in [v for v in variants if v.get("status") == "ok" and not v.get("base_id")]:
        members = [v for v in variants if (v.get("root_id") or v["variant_id"]) == root["variant_id"]]
        try:
            compared = against_base(members, measurements, quality, base=root["variant_id"])
        except HarnessError:
            continue
        for c in compared:      # one row per scenario: the first (smallest batch) speaks for the variant
            vid = c["variant_id"]
            if c["is_base"] or vid not in by_variant or vid in out:
                continue
            figures = {"speedup": c.get("speedup_p50"), "quality_drop": c.get("quality_drop"),
                       "agreement": c.get("top1_agreement_root")}
            out[vid] = {**figures, "lines": explain(c["name"], by_variant[vid], *figures.values())}
    return out
