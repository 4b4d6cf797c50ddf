import numpy as np
import pytest

from harness.core.stats import min_samples_for_percentile, summarize


def test_summary_against_hand_computed_values():
    # 1..5 ms: mean 3, sample std sqrt(2.5), linear-interpolated p90 at rank 3.6 -> 4.6
    s = summarize(np.array([1, 2, 3, 4, 5]) * 1_000_000, batch_size=4)
    assert s.count == 5
    assert s.min_ms == 1.0 and s.max_ms == 5.0
    assert s.mean_ms == pytest.approx(3.0)
    assert s.std_ms == pytest.approx(2.5 ** 0.5)
    assert s.cv == pytest.approx(2.5 ** 0.5 / 3)
    assert s.p50_ms == pytest.approx(3.0)
    assert s.p90_ms == pytest.approx(4.6)
    assert s.p95_ms == pytest.approx(4.8)
    assert s.p99_ms == pytest.approx(4.96)
    assert s.p999_ms == pytest.approx(4.996)
    # 5 calls in 15 ms of busy time
    assert s.throughput_ips == pytest.approx(5 / 0.015)
    assert s.throughput_sps == pytest.approx(4 * 5 / 0.015)


def test_warnings_for_high_cv_and_too_few_samples():
    s = summarize(np.array([1, 2, 3, 4, 5]) * 1_000_000)
    text = " ".join(s.warnings)
    assert "CV" in text
    assert "p90 from 5 samples: needs >= 64" in text
    assert "p99 from 5 samples: needs >= 662" in text


def test_no_warnings_for_a_steady_large_sample():
    lat = np.full(7000, 1_000_000) + np.arange(7000) % 3  # CV ~ 1e-6, enough samples for p99.9
    assert summarize(lat).warnings == ()


def test_min_samples_match_mlperf_loadgen():
    assert min_samples_for_percentile(90) == 64
    assert min_samples_for_percentile(99) == 662
    assert min_samples_for_percentile(50) < 64 < min_samples_for_percentile(95) < 662


def test_empty_samples_rejected():
    with pytest.raises(ValueError):
        summarize(np.array([], dtype=np.int64))
