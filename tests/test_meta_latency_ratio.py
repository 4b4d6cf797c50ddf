"""The meta-dataset's latency ratio: round-paired against the FP32 root, so a machine that switches between two
speed levels during a run does not decide the ratio (real DuckDB file, the store's own query)."""
from __future__ import annotations

import numpy as np
import pytest

from harness.meta.dataset import PAIRED_MIN_ROUNDS, latency_ratio, point_targets
from harness.store import Store
from harness.store.meta import measured_points
from harness.store.store import utcnow


def _store_run(path, root_rounds, variant_rounds) -> Store:
    """One sweep-like run: an FP32 root and one variant, each with its timed rounds (ns per call)."""
    store = Store(path)
    store.migrate()
    store.create_run({"run_id": "r", "created_at": utcnow(), "status": "complete", "tag": "sweep", "model": "net",
                      "device": "cpu"})
    pooled = {k: float(np.median(np.concatenate(v))) / 1e6 for k, v in (("root", root_rounds),
                                                                          ("var", variant_rounds))}
    with store.write() as con:
        store.insert_rows(con, "variants", [
            {"run_id": "r", "variant_id": "root", "name": "fp32", "model": "net", "root_id": "root",
             "status": "ok", "size_bytes": 1000},
            {"run_id": "r", "variant_id": "var", "name": "prune-unstructured:0.5", "model": "net",
             "base_id": "root", "root_id": "root", "status": "ok", "size_bytes": 1000}])
        store.insert_rows(con, "measurements", [
            {"measurement_id": f"m-{k}", "run_id": "r", "variant_id": k, "status": "ok", "batch_size": 1,
             "threads": 1, "p50_ms": pooled[k]} for k in ("root", "var")])
        store.insert_samples(con, "m-root", root_rounds)
        store.insert_samples(con, "m-var", variant_rounds)
    return store


def test_a_speed_switch_between_rounds_does_not_decide_the_ratio(tmp_path):
    # identical compute; the machine runs at 10 us in rounds 0-5 and at 16 us from round 6 on. The variant's rounds
    # happened to hold more calls in the slow half, so its pooled median lands on the slow level: pooled ratio 1.6
    fast, slow = np.full(50, 10_000), np.full(50, 16_000)
    root = [fast] * 6 + [slow] * 4
    variant = [fast[:10]] * 6 + [np.full(200, 16_000)] * 4
    points = measured_points(_store_run(tmp_path / "m.duckdb", root, variant))
    p = next(p for p in points if p["name"] != "fp32")
    assert p["p50_ms"] / p["root_p50_ms"] == pytest.approx(1.6)
    assert p["paired_rounds"] == 10 and p["paired_latency_ratio"] == pytest.approx(1.0)
    assert point_targets(p)[1]["latency_ratio"] == pytest.approx(1.0)
    # the root against itself: every round 1
    root_point = next(p for p in points if p["name"] == "fp32")
    assert root_point["paired_latency_ratio"] == pytest.approx(1.0)


def test_few_rounds_fall_back_to_the_pooled_ratio(tmp_path):
    root = [np.full(20, 10_000), np.full(20, 12_000)][:PAIRED_MIN_ROUNDS - 1]
    variant = [np.full(20, 15_000), np.full(20, 18_000)][:PAIRED_MIN_ROUNDS - 1]
    p = next(p for p in measured_points(_store_run(tmp_path / "m.duckdb", root, variant)) if p["name"] != "fp32")
    assert p["paired_rounds"] == PAIRED_MIN_ROUNDS - 1
    assert latency_ratio(p) == pytest.approx(p["p50_ms"] / p["root_p50_ms"])
