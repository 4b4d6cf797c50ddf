"""The one definition of every figure against a base variant (FP32 by default), with Compression Board's meanings.

`harness compare`, the dashboard, the HTML report and the TensorBoard export all take their ratios from here,
so the terminal and the page show the same number for the same pair:
  size_ratio            base size / variant size (3.9 = 3.9x smaller); gzip_ratio the same on gzip sizes
  size_reduction_pct    (1 - variant / base) x 100
  speedup_p50/_p90      base latency / variant latency at that percentile (>1 = faster); speedup_mean on the mean
                        (the only latency an imported Compression Board file has)
  memory_reduction_pct  (1 - variant / base) x 100 of peak memory (device memory where both have it, else RSS)
  quality_drop          base - variant task metric (accuracy, or cosine to FP32 for embeddings), in points x100
  quality_retention_pct variant / base task metric x 100
  memory_reduction_bytes base - variant peak memory in bytes (Compression Board's memory_reduction_mb)
  energy_reduction_pct  (1 - variant / base) x 100 of energy per inference, where both were measured
  energy_ratio          base energy / variant energy per inference (>1 = less energy); where neither has energy
                        but both have an average power (imported Compression Board files), base / variant power,
                        and energy_ratio_of says which
  relative              variant value / base value: the reports' plain "x base" multiple of any metric
Latency, memory and energy are compared within the same scenario (batch size, threads, provider). The base is a
variant found by `find_base`: by name or variant id as the user typed it, "fp32" falling back to the provenance
root. Callers holding a variant id (the dashboard's base selector) pass the id.
"""
from __future__ import annotations

from typing import Any, Iterable

from harness.core.errors import UsageError
from harness.core.json_column import json_object

QUALITY_METRICS = ("accuracy", "cosine_similarity")   # the first one a run has is its task metric
MEMORY_COLUMNS = ("device_memory_peak_bytes", "peak_rss_bytes", "maxrss_bytes")


def _missing(value) -> bool:
    return value is None or value != value   # None or NaN (pandas hands NaN for a missing value)


def _ratio(num, den) -> float | None:
    return None if _missing(num) or _missing(den) or den == 0 else float(num) / float(den)


def size_ratio(base_bytes, variant_bytes) -> float | None:
    """base / variant size: 3.9 = 3.9x smaller."""
    return _ratio(base_bytes, variant_bytes)


def speedup(base_ms, variant_ms) -> float | None:
    """base / variant latency: >1 = faster."""
    return _ratio(base_ms, variant_ms)


def energy_ratio(base_mj, variant_mj) -> float | None:
    """base / variant energy per inference: >1 = less energy."""
    return _ratio(base_mj, variant_mj)


def relative(value, base_value) -> float | None:
    """variant / base value: the plain multiple of the base shown in the reports' "x base" columns."""
    return _ratio(value, base_value)


def reduction_pct(variant, base) -> float | None:
    """(1 - variant / base) x 100: how much smaller the variant's size, memory or energy is, in %."""
    r = _ratio(variant, base)
    return None if r is None else (1.0 - r) * 100.0


def accuracy_drop_pts(base, variant) -> float | None:
    """base - variant task metric in percentage points (metric values are fractions)."""
    return None if _missing(base) or _missing(variant) else (float(base) - float(variant)) * 100.0


def retention_pct(base, variant) -> float | None:
    """variant / base task metric x 100."""
    r = _ratio(variant, base)
    return None if r is None else r * 100.0


def find_base(variants: list[dict[str, Any]], base: str) -> dict[str, Any]:
    """The base variant by name or variant id (prefix); "fp32" falls back to the provenance root."""
    ok = [v for v in variants if v.get("status") == "ok"]
    for v in ok:
        if v["name"] == base or v["variant_id"] == base:
            return v
    prefixed = [v for v in ok if str(v["variant_id"]).startswith(base)]
    if len(prefixed) == 1:
        return prefixed[0]
    if base == "fp32":
        roots = [v for v in ok if not v.get("base_id")]
        if len(roots) == 1:
            return roots[0]
    names = ", ".join(sorted(v["name"] for v in ok)) or "none"
    raise UsageError(f"no measured variant named {base!r} in this run; variants: {names}")


def scenario_key(m) -> tuple:
    """What latency, memory and energy are compared within (a fleet run's board too: each board against its own
    base); NaN (a pandas missing value) reads as None."""
    return tuple(None if _missing(m.get(k)) else m.get(k) for k in ("batch_size", "threads", "provider", "board"))


def _memory(m: dict[str, Any], other: dict[str, Any]) -> tuple[str | None, Any, Any]:
    for col in MEMORY_COLUMNS:
        if m.get(col) is not None and other.get(col) is not None:
            return col, m[col], other[col]
    return None, None, None


def task_quality(quality: Iterable[dict[str, Any]]) -> dict[str, tuple[str, float]]:
    """{variant_id: (metric, value)} of the task metric rows."""
    rows = [q for q in quality if q.get("reference") == "task" and q.get("metric") in QUALITY_METRICS]
    present = [m for m in QUALITY_METRICS if any(q["metric"] == m for q in rows)]
    if not present:
        return {}
    metric = present[0]
    return {q["variant_id"]: (metric, q["value"]) for q in rows if q["metric"] == metric}


def against_base(variants: list[dict[str, Any]], measurements: list[dict[str, Any]],
                 quality: list[dict[str, Any]], base: str = "fp32") -> list[dict[str, Any]]:
    """One row per variant and scenario with the figures above; variants without a measurement get size and
    quality figures only, failed variants their status and error."""
    b = find_base(variants, base)
    q = task_quality(quality)
    agreement = {r["variant_id"]: r["value"] for r in quality
                 if r.get("reference") == "root" and r.get("metric") == "top1_agreement"}
    cosine = {r["variant_id"]: r["value"] for r in quality
              if r.get("reference") == "root" and r.get("metric") == "cosine_similarity"}
    ok_meas = [m for m in measurements if m.get("status", "ok") == "ok"]
    base_meas = {scenario_key(m): m for m in ok_meas if m["variant_id"] == b["variant_id"]}
    q_metric, q_base = q.get(b["variant_id"], (None, None))
    rows = []
    for v in variants:
        common = {
            "name": v["name"], "variant_id": v["variant_id"], "operation": v.get("operation"),
            "precision": v.get("precision"), "status": v.get("status"), "error": v.get("error"),
            "is_base": v["variant_id"] == b["variant_id"], "base_name": b["name"],
            "size_bytes": v.get("size_bytes"), "gzip_bytes": v.get("gzip_bytes"),
            "size_ratio": size_ratio(b.get("size_bytes"), v.get("size_bytes")),
            "size_reduction_pct": reduction_pct(v.get("size_bytes"), b.get("size_bytes")),
            "gzip_ratio": size_ratio(b.get("gzip_bytes"), v.get("gzip_bytes")),
        }
        metric, value = q.get(v["variant_id"], (q_metric, None))
        common.update({
            "quality_metric": metric, "quality": value, "quality_base": q_base,
            "quality_drop": accuracy_drop_pts(q_base, value),
            "quality_retention_pct": retention_pct(q_base, value),
            "top1_agreement_root": agreement.get(v["variant_id"]),
            "cosine_root": cosine.get(v["variant_id"]),
            "no_effect": _info(v).get("no_effect"),
        })
        mine = [m for m in ok_meas if m["variant_id"] == v["variant_id"]]
        if not mine:
            rows.append(common | _empty_perf())
            continue
        for m in sorted(mine, key=lambda m: tuple(str(x) for x in scenario_key(m))):
            bm = base_meas.get(scenario_key(m), {})
            col, mem, mem_base = _memory(m, bm)
            rows.append(common | {
                "batch_size": m.get("batch_size"), "threads": m.get("threads"), "provider": m.get("provider"),
                "p50_ms": m.get("p50_ms"), "p90_ms": m.get("p90_ms"),
                "speedup_p50": speedup(bm.get("p50_ms"), m.get("p50_ms")),
                "speedup_p90": speedup(bm.get("p90_ms"), m.get("p90_ms")),
                "mean_ms": m.get("mean_ms"), "speedup_mean": speedup(bm.get("mean_ms"), m.get("mean_ms")),
                "memory_metric": col, "memory_bytes": mem,
                "memory_reduction_pct": reduction_pct(mem, mem_base),
                "memory_reduction_bytes": None if _missing(mem) or _missing(mem_base) else mem_base - mem,
                "energy_per_inference_mj": m.get("energy_per_inference_mj"),
                "energy_reduction_pct": reduction_pct(m.get("energy_per_inference_mj"),
                                                      bm.get("energy_per_inference_mj")),
                **_energy_ratio(m, bm),
            })
    return rows


def _energy_ratio(m: dict[str, Any], bm: dict[str, Any]) -> dict[str, Any]:
    energy = energy_ratio(bm.get("energy_per_inference_mj"), m.get("energy_per_inference_mj"))
    if energy is not None:
        return {"energy_ratio": energy, "energy_ratio_of": "energy_per_inference_mj"}
    power = _ratio(bm.get("avg_power_mw"), m.get("avg_power_mw"))
    return {"energy_ratio": power, "energy_ratio_of": "avg_power_mw" if power is not None else None}


def _info(v: dict[str, Any]) -> dict[str, Any]:
    return json_object(v.get("info"))


def _empty_perf() -> dict[str, Any]:
    keys = ("batch_size", "threads", "provider", "p50_ms", "p90_ms", "speedup_p50", "speedup_p90", "mean_ms",
            "speedup_mean", "memory_metric", "memory_bytes", "memory_reduction_pct", "memory_reduction_bytes",
            "energy_per_inference_mj", "energy_reduction_pct", "energy_ratio", "energy_ratio_of")
    return dict.fromkeys(keys)


def split_by_board(variants: list[dict[str, Any]], measurements: list[dict[str, Any]],
                   quality: list[dict[str, Any]]) -> dict[str | None, tuple[list, list, list]]:
    """A fleet run's rows per board, each as `compare` takes them: the variants measured on (or built on) that
    board plus the run's unmeasured shared variants (failed exports), its measurements and its quality rows.
    A single-machine run gives {None: (all rows)}."""
    boards = sorted({m["board"] for m in measurements if m.get("board")})
    if not boards:
        return {None: (variants, measurements, quality)}
    measured_anywhere = {m["variant_id"] for m in measurements}
    out = {}
    for board in boards:
        mine = [m for m in measurements if m.get("board") == board]
        ids = {m["variant_id"] for m in mine}
        vs = [v for v in variants if v["variant_id"] in ids or v.get("board") == board
              or (not v.get("board") and v["variant_id"] not in measured_anywhere)]
        qs = [q for q in quality if q.get("board") in (board, None)]
        out[board] = (vs, mine, qs)
    return out
