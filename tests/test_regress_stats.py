"""Statistics behind the latency verdict, checked against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.regress.significance import (auto_block_len, block_medians, compare_latency, hierarchical_bootstrap,
                                          mann_whitney, run_to_run_noise)


def test_block_medians_by_hand():
    # round 0: blocks [1,2,3] [10,11,12] and the short tail [99] merged into the last block -> [10,11,12,99]
    # round 1: one block [5,6,7]
    rounds = [np.array([1, 2, 3, 10, 11, 12, 99.0]), np.array([5, 6, 7.0])]
    assert block_medians(rounds, 3).tolist() == [2.0, 11.5, 6.0]


def test_auto_block_len():
    assert auto_block_len([np.zeros(1000), np.zeros(2000)]) == 10       # 1000 ** (1/3)
    assert auto_block_len([np.zeros(64)]) == 5                          # at least 5
    assert auto_block_len([np.zeros(3)]) == 3                           # never longer than a round


def test_mann_whitney_matches_hand_computed_exact_p():
    # candidate [4,5,6] vs baseline [1,2,3]: U = 9 (every pair ordered), the most extreme of C(6,3) = 20
    # equally likely rank arrangements, so the exact one-sided p is 1/20.
    slower, faster = mann_whitney(np.array([4.0, 5, 6]), np.array([1.0, 2, 3]))
    assert slower == pytest.approx(1 / 20)
    assert faster == pytest.approx(1.0)
    # U = 8: arrangements with U >= 8 are 2 of 20
    slower, _ = mann_whitney(np.array([3.0, 5, 6]), np.array([1.0, 2, 4]))
    assert slower == pytest.approx(2 / 20)


def test_run_to_run_noise_by_hand():
    # log diffs alternate +-0.02 -> median |diff| = 0.02 -> sigma = 1.4826 * 0.02 / sqrt(2)
    values = np.exp(np.array([0, 0.02, 0, 0.02, 0, 0.02]))
    assert run_to_run_noise(values) == pytest.approx(1.4826 * 0.02 / math.sqrt(2), rel=1e-9)
    assert run_to_run_noise([1.0, 1.1, 1.0]) is None                       # too few runs
    # one old step barely moves the estimate (it is one large difference among many small ones)
    stepped = np.exp(np.array([0, 0.02, 0, 0.02, 0.5, 0.52, 0.5, 0.52]))
    assert run_to_run_noise(stepped) == pytest.approx(1.4826 * 0.02 / math.sqrt(2), rel=1e-9)


def _rounds(rng, scale, n_rounds=3, n=600, round_jitter=0.0):
    """Gamma-distributed latencies (ns) with AR(1)-correlated slow drift inside rounds."""
    out = []
    for _ in range(n_rounds):
        level = scale * (1 + rng.normal(0, round_jitter))
        drift = np.cumsum(rng.normal(0, 0.002, n))
        out.append(level * rng.gamma(100, 0.01, n) * (1 + drift - drift.mean()) * 1e6)
    return out


def test_seeded_bootstrap_is_reproducible():
    rng = np.random.default_rng(0)
    base, cand = _rounds(rng, 1.0), _rounds(rng, 1.0)
    a = compare_latency(base, cand, seed=7, n_iter=500)
    b = compare_latency(base, cand, seed=7, n_iter=500)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)


def test_point_estimate_is_the_ratio_of_medians():
    base = [np.array([1e6, 2e6, 3e6]), np.array([2e6, 2e6])]
    cand = [np.array([3e6, 3e6, 3e6]), np.array([3e6, 4e6])]
    r = compare_latency(base, cand, n_iter=200, block_len=1)
    assert r.baseline_ms == 2.0 and r.candidate_ms == 3.0 and r.ratio == 1.5
    assert (r.n_baseline, r.n_candidate, r.rounds_baseline) == (5, 5, 2)


def test_identical_distributions_are_not_flagged():
    flagged = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        r = compare_latency(_rounds(rng, 1.0, round_jitter=0.02), _rounds(rng, 1.0, round_jitter=0.02),
                            n_iter=400, seed=seed)
        flagged += r.is_regression(0.05, 0.01) or r.is_improvement(0.05, 0.01)
    assert flagged == 0


def test_a_ten_percent_slowdown_is_flagged_and_a_speedup_is_an_improvement():
    rng = np.random.default_rng(1)
    base = _rounds(rng, 1.0, round_jitter=0.01)
    slow = compare_latency(base, _rounds(rng, 1.10, round_jitter=0.01), n_iter=400)
    assert slow.ci_low > 1.0 and slow.p_slower < 1e-3
    assert slow.is_regression(0.05, 0.01) and not slow.is_improvement(0.05, 0.01)
    fast = compare_latency(base, _rounds(rng, 0.8, round_jitter=0.01), n_iter=400)
    assert fast.is_improvement(0.05, 0.01) and not fast.is_regression(0.05, 0.01)


def test_a_small_significant_shift_is_below_the_effect_size():
    rng = np.random.default_rng(2)
    r = compare_latency(_rounds(rng, 1.0, n=3000), _rounds(rng, 1.02, n=3000), n_iter=400)
    assert r.p_slower < 1e-6                      # "significant" ...
    assert not r.is_regression(0.05, 0.01)        # ... but 2 % is not a regression


def test_rounds_that_disagree_widen_the_interval():
    """Round-to-round drift is exactly what a raw-sample test ignores: resampling rounds must see it."""
    rng = np.random.default_rng(3)
    steady = compare_latency(_rounds(rng, 1.0), _rounds(rng, 1.0), n_iter=400)
    jumpy = compare_latency(_rounds(rng, 1.0, round_jitter=0.08), _rounds(rng, 1.0, round_jitter=0.08), n_iter=400)
    assert (jumpy.ci_high - jumpy.ci_low) > 3 * (steady.ci_high - steady.ci_low)


def test_hierarchical_bootstrap_draws_only_observed_values():
    rng = np.random.default_rng(0)
    rounds = [np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30])]
    boot = hierarchical_bootstrap(rounds, 0.5, 300, 2, rng)
    assert boot.shape == (300,)
    assert boot.min() >= 1.0 and boot.max() <= 30.0
    assert len(np.unique(boot)) > 3


def test_tail_quantile_has_no_rank_test():
    rng = np.random.default_rng(4)
    r = compare_latency(_rounds(rng, 1.0), _rounds(rng, 1.0), quantile=0.9, n_iter=200)
    assert r.p_slower is None and r.quantile == 0.9


def test_bad_input():
    with pytest.raises(ValueError):
        compare_latency([], [np.ones(3)])
    with pytest.raises(ValueError):
        compare_latency([np.ones(3)], [np.ones(3)], quantile=1.0)


def test_round_spread_by_hand():
    from harness.regress.significance import round_spread

    # round medians 430 and 473 (the two speed states of the CI VM): 473 / 430 - 1 = 10 %
    assert round_spread([np.array([429.0, 430, 431]), np.array([472.0, 473, 474])]) == pytest.approx(0.1)
    assert round_spread([np.array([1.0, 2, 3])]) == 0.0
    r = compare_latency([np.full(50, 4.3e5), np.full(50, 4.73e5)], [np.full(50, 4.3e5)] * 2, n_iter=100)
    assert r.round_spread_baseline == pytest.approx(0.1) and r.round_spread_candidate == 0.0


def test_median_estimate_resists_rounds_in_a_slower_state():
    """The CI VM's two speed states: three rounds at 436 us and two at 490 us, each with the tail measured there
    (p90 about 10 % above p50). The median of block medians stays nearer the majority of rounds than the pooled
    median, which the mixture drags up; the run-to-run comparison against steady rounds is then not called an
    improvement."""
    rng = np.random.default_rng(6)

    def round_at(level_us):
        tail = rng.random(400) < 0.3
        return level_us * 1e3 * np.where(tail, rng.uniform(1.02, 1.3, 400), rng.normal(1, 0.004, 400))

    mixed = [round_at(436), round_at(436), round_at(436), round_at(490), round_at(490)]
    steady = [round_at(436) for _ in range(5)]
    r = compare_latency(mixed, steady, n_iter=300, block_len=20)
    pooled_change = r.pooled_candidate_ms / r.pooled_baseline_ms - 1
    assert abs(r.change) < abs(pooled_change)
    assert r.baseline_ms == pytest.approx(float(np.median(block_medians(mixed, 20))) / 1e6)
    assert r.round_spread_baseline > 0.1
    assert not r.is_improvement(0.05, 0.01)
