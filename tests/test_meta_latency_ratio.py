"""The meta-dataset's latency ratio against the FP32 root, so a machine that switches between two speed levels
during a run does not decide the ratio: the fast level's ratio (1st percentiles of every call), round-paired p50s
with too few calls, pooled p50s with too few rounds (real DuckDB file, the store's own query)."""
from __future__ import annotations

import numpy as np
import pytest

from harness.meta.dataset import FAST_MIN_CALLS, PAIRED_MIN_ROUNDS, latency_ratio, point_targets
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


@pytest.mark.parametrize("work", [1.0, 0.5])
def test_levels_switching_inside_rounds_do_not_decide_the_ratio(tmp_path, work):
    # the machine's level switches faster than a round: in rounds 0-6 the root was timed on the slow level and the
    # variant on the fast one, in rounds 7-9 the other way round. The round-paired median is off by the levels'
    # ratio; the fast level, which both reached, gives the compute's ratio
    fast, slow = 10_000, 16_000
    root = [np.full(40, slow)] * 7 + [np.full(40, fast)] * 3
    variant = [np.full(40, fast * work)] * 7 + [np.full(40, slow * work)] * 3
    p = next(p for p in measured_points(_store_run(tmp_path / "m.duckdb", root, variant)) if p["name"] != "fp32")
    assert p["paired_latency_ratio"] == pytest.approx(work * fast / slow)
    assert p["fast_calls"] == 400 and latency_ratio(p) == pytest.approx(work)


def test_few_calls_fall_back_to_the_paired_rounds(tmp_path):
    calls = max(1, (FAST_MIN_CALLS - 1) // 10)
    root = [np.full(calls, 10_000 if k % 2 else 16_000) for k in range(10)]
    variant = [np.full(calls, 20_000 if k % 2 else 32_000) for k in range(10)]
    variant[3] = np.full(calls, 15_000)       # one odd round: the fast end of so few calls says 1.5, the rounds 2
    p = next(p for p in measured_points(_store_run(tmp_path / "m.duckdb", root, variant)) if p["name"] != "fp32")
    assert p["fast_calls"] < FAST_MIN_CALLS and p["fast_latency_ratio"] == pytest.approx(1.5)
    assert latency_ratio(p) == pytest.approx(p["paired_latency_ratio"]) == pytest.approx(2.0)
