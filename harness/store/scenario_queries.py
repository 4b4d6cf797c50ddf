"""Named store questions and writes for LoadGen results and the roofline (schema v3)."""
from __future__ import annotations

import json
from typing import Any

from harness.store.store import Store, to_json

ROOFLINE_COLUMNS = ("macs", "bytes", "arithmetic_intensity", "achieved_gops", "peak_gops", "peak_bandwidth_gbps",
                    "peak_fraction", "peak_source", "roofline_reason")


def loadgen_row(measurement_id: str, run_id: str, summary: dict[str, Any], settings: dict[str, Any],
                log_dir: str | None) -> dict[str, Any]:
    """A `loadgen_results` row from a parsed LoadGen summary (LoadgenSummary.as_dict())."""
    keys = ("query_count", "samples_per_query", "qps", "qps_source", "min_ms", "mean_ms", "p50_ms", "p90_ms",
            "p95_ms", "p97_ms", "p99_ms", "p999_ms", "max_ms", "target_qps", "target_latency_ms",
            "target_latency_percentile", "early_stopping", "loadgen_version")
    row = {k: summary.get(k) for k in keys}
    row.update(measurement_id=measurement_id, run_id=run_id, scenario=summary["scenario"],
               valid=bool(summary["valid"]), verdict=summary["verdict"], reasons=to_json(list(summary["reasons"])),
               settings=to_json(settings), summary=to_json(summary), log_dir=log_dir)
    return row


def insert_loadgen_results(con, rows: list[dict[str, Any]]) -> None:
    Store.insert_rows(con, "loadgen_results", rows)


def loadgen_results_for_run(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    """measurement_id -> LoadGen result (reasons, settings and summary decoded) for one run."""
    rows = store.query("SELECT * FROM loadgen_results WHERE run_id = ?", [run_id])
    out = {}
    for r in rows:
        for key in ("reasons", "settings", "summary"):
            r[key] = json.loads(r[key]) if r.get(key) else None
        out[r["measurement_id"]] = r
    return out


def roofline_points(store: Store, run_ids: list[str]) -> list[dict[str, Any]]:
    """One point per ok measurement of the given runs: variant, precision, intensity, achieved rate, peaks."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    return store.query(
        "SELECT m.run_id, m.measurement_id, v.name, v.precision, m.batch_size, m.scenario, m.macs, m.bytes, "
        "m.arithmetic_intensity, m.achieved_gops, m.peak_gops, m.peak_bandwidth_gbps, m.peak_fraction, "
        "m.peak_source, m.roofline_reason FROM measurements m JOIN variants v "
        "ON v.run_id = m.run_id AND v.variant_id = m.variant_id "
        f"WHERE m.run_id IN ({marks}) AND m.status = 'ok' ORDER BY v.name, m.batch_size", list(run_ids))


def scenario_figures(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Per measurement of a run: its scenario, roofline columns and LoadGen verdict (null for harness's loop)."""
    rows = store.query(
        "SELECT m.measurement_id, m.variant_id, m.batch_size, m.threads, m.provider, m.scenario, m.macs, m.bytes, "
        "m.arithmetic_intensity, m.achieved_gops, m.peak_gops, m.peak_bandwidth_gbps, m.peak_fraction, "
        "m.peak_source, m.roofline_reason, l.verdict AS loadgen_verdict, l.reasons AS loadgen_reasons, "
        "l.qps AS loadgen_qps, l.p90_ms AS loadgen_p90_ms, l.p99_ms AS loadgen_p99_ms, "
        "l.scenario AS loadgen_scenario FROM measurements m "
        "LEFT JOIN loadgen_results l ON l.measurement_id = m.measurement_id WHERE m.run_id = ?", [run_id])
    for r in rows:
        r["loadgen_reasons"] = json.loads(r["loadgen_reasons"]) if r.get("loadgen_reasons") else None
    return rows
