"""The latency verdict on synthetic round data (harness/regress/verdict.py): rounds and runs are the units of
evidence, and a change the machine's own variation can explain is inconclusive in both directions."""
from __future__ import annotations

import numpy as np
import pytest

from harness.regress.gates import IMPROVED, INCONCLUSIVE, PASS, REGRESSED
from harness.regress.verdict import judge_latency, trimmed_spread


def run_at(rng, levels, n=2000, jitter=0.01, tail=0.003):
    """One run: a round per level (relative speed), each with per-call jitter and a rare heavy tail, in ns."""
    out = []
    for level in levels:
        r = 25_000 * level * rng.normal(1.0, jitter, n)
        spikes = rng.random(n) < tail
        r[spikes] *= rng.uniform(2, 30, spikes.sum())
        out.append(r)
    return out


def judge(base_runs, cand, **kw):
    kw.setdefault("n_iter", 400)
    return judge_latency(base_runs, cand, **kw)


def test_trimmed_spread_by_hand():
    assert trimmed_spread([1.0, 1.1]) == pytest.approx(0.1)
    assert trimmed_spread([1.0, 1.5, 1.2]) == pytest.approx(0.5)                  # < 5 values: the full range
    # 10 values: the fastest and slowest two are left out -> 1.04 / 1.0
    assert trimmed_spread([0.5, 0.9, 1.0, 1.01, 1.02, 1.02, 1.03, 1.04, 1.6, 2.0]) == pytest.approx(0.04)
    assert trimmed_spread([1.0]) is None and trimmed_spread([]) is None


def test_a_change_within_the_spread_between_rounds_is_inconclusive_both_ways():
    """The issue's case: identical runs, the baseline's rounds caught the machine at different speeds (rounds
    differ by ~50 %) and the candidate's did not. Every round-resampling test calls that 'improved'; it is not."""
    rng = np.random.default_rng(0)
    busy_base = [run_at(rng, [1.1, 1.3, 1.6])]
    quiet = run_at(rng, [1.0, 1.0, 1.02])
    v = judge(busy_base, quiet)
    assert v.change < -0.05 and v.status == INCONCLUSIVE
    assert "spread between rounds" in v.reason and v.spread == pytest.approx(1.6 / 1.1 - 1, abs=0.03)
    # the same the other way round: a candidate whose rounds straddle speed states is not a regression
    v = judge([run_at(rng, [1.0, 1.0, 1.02])], run_at(rng, [1.1, 1.3, 1.6]))
    assert v.change > 0.05 and v.status == INCONCLUSIVE


def test_a_change_beyond_the_spread_is_flagged_both_ways():
    rng = np.random.default_rng(1)
    base = [run_at(rng, [1.0, 1.02, 1.01])]
    slow = judge(base, run_at(rng, [1.5, 1.52, 1.49]))
    assert slow.status == REGRESSED and slow.change == pytest.approx(0.5, abs=0.03)
    fast = judge(base, run_at(rng, [0.7, 0.71, 0.7]))
    assert fast.status == IMPROVED and fast.change == pytest.approx(-0.3, abs=0.03)


def test_small_changes_pass_and_the_minimum_effect_is_kept():
    rng = np.random.default_rng(2)
    base = [run_at(rng, [1.0, 1.0, 1.0])]
    v = judge(base, run_at(rng, [1.03, 1.03, 1.03]))          # steady rounds, 3 %: significant but below 5 %
    assert v.status == PASS and v.comparison.p_slower < 1e-3
    assert judge(base, run_at(rng, [1.03, 1.03, 1.03]), min_effect=0.02).status == REGRESSED


def test_a_pooled_baseline_uses_the_spread_between_its_runs():
    """Five earlier runs, each steady inside but at different speeds (a machine uniformly busier for a whole
    run): a candidate inside their range is inconclusive, one far beyond it is a regression; a single one of
    those runs would have called the first a regression."""
    rng = np.random.default_rng(3)
    runs = [run_at(rng, [lvl] * 3) for lvl in (1.0, 1.08, 0.97, 1.12, 1.02)]
    cand = run_at(rng, [1.10] * 3)
    single = judge([runs[0]], cand)
    assert single.status == REGRESSED                           # one steady run cannot see run-to-run variation
    pooled = judge(runs, cand)
    assert pooled.baseline_runs == 5 and pooled.spread_source == "runs"
    assert pooled.between_run_spread == pytest.approx(1.08 / 1.0 - 1, abs=0.02)     # trimmed: 1.0 .. 1.08
    assert pooled.status in (INCONCLUSIVE, PASS)
    far = judge(runs, run_at(rng, [1.35] * 3))
    assert far.status == REGRESSED and far.as_dict()["baseline_runs"] == 5
    assert judge(runs, run_at(rng, [0.75] * 3)).status == IMPROVED


def test_identical_pairs_under_burst_noise_are_never_flagged():
    """Rounds hit by a neighbour's bursts at random (+0..60 % on a third of the rounds, which the host-load
    sensor sees), 3 rounds a side as the interactive defaults measure: 200 identical pairs, no verdict either
    way; a 1.5x slowdown under the same noise is still flagged nearly always."""
    rng = np.random.default_rng(4)

    def noisy(k, speed=1.0):
        hit = rng.random(k) < 0.33
        levels = [speed * (1.0 + (rng.uniform(0, 0.6) if h else 0.0)) for h in hit]
        return run_at(rng, levels, n=400), [0.9 if h else 0.02 for h in hit]

    flagged = detected = 0
    for _ in range(200):
        (base, bl), (cand, cl) = noisy(3), noisy(3)
        v = judge([base], cand, n_iter=200, baseline_loads=[bl], candidate_loads=cl)
        flagged += v.status in (REGRESSED, IMPROVED)
    for _ in range(40):
        (base, bl), (cand, cl) = noisy(3), noisy(3, speed=1.5)
        v = judge([base], cand, n_iter=200, baseline_loads=[bl], candidate_loads=cl)
        detected += v.status == REGRESSED
    assert flagged == 0
    assert detected >= 30


def test_busy_host_on_the_slower_side_only_is_inconclusive_unless_quiet_rounds_agree():
    rng = np.random.default_rng(5)
    base = [run_at(rng, [1.0, 1.0, 1.01])]
    # every candidate round uniformly 30 % slower, and the sensor saw a neighbour in every one: not a verdict
    v = judge(base, run_at(rng, [1.3, 1.31, 1.3]), baseline_loads=[[0.0, 0.05, 0.1]], candidate_loads=[0.9] * 3)
    assert v.status == INCONCLUSIVE and "busier host" in v.reason
    assert v.host_busy and "candidate 3 of 3 rounds" in v.busy_text()
    # a real slowdown: its quiet round shows it too
    v = judge(base, run_at(rng, [1.5, 1.8, 1.5]), baseline_loads=[[0.0] * 3], candidate_loads=[0.0, 0.9, 0.0])
    assert v.status == REGRESSED and v.quiet_only and v.change == pytest.approx(0.5, abs=0.05)
    # busy baseline rounds do not excuse a slower candidate measured on a quiet host
    v = judge(base, run_at(rng, [1.5, 1.5, 1.5]), baseline_loads=[[0.9] * 3], candidate_loads=[0.0] * 3)
    assert v.status == REGRESSED


def test_not_significant_large_change_is_inconclusive():
    base = [[np.array([1.0, 3.0, 1.2, 2.8, 1.1, 2.9]) * 1e6]]            # median 2.0 ms
    cand = [np.array([1.2, 3.1, 1.3, 3.0, 1.25, 3.2]) * 1e6]             # median 2.15 ms: +7.5 %, 6 calls a side
    v = judge(base, cand, block_len=1)
    assert abs(v.change) >= 0.05 and v.status == INCONCLUSIVE and v.reason == "not significant"


def test_bad_input():
    with pytest.raises(ValueError):
        judge_latency([], [np.ones(3)])
    with pytest.raises(ValueError):
        judge_latency([[np.ones(3)]], [])
