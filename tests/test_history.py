"""Step detection (hand-checked) and `harness history` over a store of real runs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.core.steps import best_partitions, detect_steps, l1_costs


def test_l1_costs_by_hand():
    cost = l1_costs([1.0, 5.0, 2.0, 8.0])
    assert cost[0, 1] == 0                       # one point: its own median
    assert cost[0, 2] == 4                       # [1, 5]: median 1 (lower) -> |5-1|
    assert cost[0, 3] == 4                       # [1, 5, 2]: median 2 -> 1 + 3 + 0
    assert cost[0, 4] == 10                      # [1, 5, 2, 8]: median 2 -> 1 + 3 + 0 + 6
    assert cost[1, 4] == 6                       # [5, 2, 8]: median 5 -> 0 + 3 + 3
    assert np.isinf(cost[2, 1])


def test_best_partitions_by_hand():
    y = [1.0, 1.0, 5.0, 5.0, 5.0]
    (c1, s1), (c2, s2), *_ = best_partitions(l1_costs(y), 3)
    assert (c1, s1) == (8.0, [5])                # median 5: |1-5| * 2
    assert (c2, s2) == (0.0, [2, 5])             # split before index 2, perfect fit


def test_clean_step_is_found_at_its_first_run():
    segments, steps = detect_steps([1.0] * 20 + [2.0] * 30)
    assert [(s.start, s.stop, s.median) for s in segments] == [(0, 20, 1.0), (20, 50, 2.0)]
    assert len(steps) == 1 and steps[0].index == 20 and steps[0].change == pytest.approx(1.0)


def test_noise_alone_gives_no_steps():
    for seed in range(30):
        y = 10 * np.exp(np.random.default_rng(seed).normal(0, 0.03, 40))
        assert detect_steps(list(y))[1] == [], seed


def test_noisy_step_is_found():
    rng = np.random.default_rng(5)
    y = list(10 * np.exp(rng.normal(0, 0.03, 25))) + list(11.5 * np.exp(rng.normal(0, 0.03, 15)))
    steps = detect_steps(y)[1]
    assert [s.index for s in steps] == [25]
    assert steps[0].change == pytest.approx(0.15, abs=0.04)


def test_single_outlier_is_not_a_step_but_the_newest_jump_is():
    y = [10.0, 10.1, 9.9, 10.0, 10.2, 30.0, 10.0, 9.9, 10.1, 10.0]
    assert detect_steps(y)[1] == []
    newest = [10.0, 10.1, 9.9, 10.0, 10.2, 10.0, 9.9, 10.1, 10.0, 13.0]
    assert [s.index for s in detect_steps(newest)[1]] == [9]


def test_small_changes_are_merged():
    y = [10.0] * 15 + [10.3] * 15               # 3 % level change
    assert detect_steps(y, min_change=0.05)[1] == []
    assert [s.index for s in detect_steps(y, min_change=0.01)[1]] == [15]


def test_short_series():
    assert detect_steps([]) == ([], [])
    segments, steps = detect_steps([1.0, 2.0])
    assert len(segments) == 1 and steps == []


# -- the command, on real runs ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nightly_series(tmp_path_factory):
    """Eight real nights: six of a light model, then two of a much heavier file under the same name."""
    from regress_helpers import bench, build_mlp

    tmp = tmp_path_factory.mktemp("series")
    db = tmp / "h.duckdb"
    light = build_mlp(tmp / "light" / "mlp.onnx", width=256, layers=2)
    heavy = build_mlp(tmp / "heavy" / "mlp.onnx", width=256, layers=12)
    runs = [bench(db, str(light), tag="nightly", rounds=2, min_duration=0.1) for _ in range(6)]
    runs += [bench(db, str(heavy), tag="nightly", rounds=2, min_duration=0.1) for _ in range(2)]
    return db, runs


@pytest.mark.slow
def test_history_command_names_the_run_where_the_model_got_slower(nightly_series, capsys):
    from regress_helpers import run_cli

    db, runs = nightly_series
    capsys.readouterr()
    assert run_cli("history", "--model", "mlp", "--variant", "mlp", "--tag", "nightly", "--db", str(db),
                   "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "p50_ms"
    (series,) = out["series"]
    assert [p["run_id"] for p in series["points"]] == runs
    # the 6x heavier file is the step; a fast 10-microsecond model on a shared VM may show a smaller one too
    steps = {s["run_id"]: s for s in series["steps"]}
    assert runs[6] in steps and steps[runs[6]]["change"] > 0.5
    assert max(series["steps"], key=lambda s: abs(s["change"]))["run_id"] == runs[6]

    assert run_cli("history", "--variant", "mlp", "--metric", "size", "--db", str(db)) == 0
    text = capsys.readouterr().out
    assert f"step at run {runs[6]}" in text and "size_bytes" in text

    assert run_cli("history", "--variant", "mlp", "--metric", "bogus", "--db", str(db)) == 2
    assert "unknown metric 'bogus'" in capsys.readouterr().err
    assert run_cli("history", "--variant", "nope", "--db", str(db)) == 2
    assert "no complete runs with variant 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_regress_learns_run_to_run_noise_from_earlier_nights_of_the_same_file(nightly_series):
    from harness.regress.check import regress
    from harness.regress.gates import load_gates
    from harness.store import Store

    db, runs = nightly_series
    store, gates = Store(db), load_gates()

    def p50(base, cand, g=gates):
        return {c.metric: c for c in regress(store, base, cand, g).checks}["p50_ms"]

    # the sixth light night has five earlier nights of the very same file: their spread sets a noise floor
    light = p50(runs[0], runs[5])
    noise = light.detail["run_to_run_noise"]
    assert noise is not None and noise >= 0
    assert light.detail["min_effect"] == pytest.approx(max(0.05, float(np.expm1(3 * noise))))
    # the heavy file has no earlier nights of its own: the configured 5 % applies, and it is flagged
    heavy = p50(runs[0], runs[6])
    assert heavy.detail["run_to_run_noise"] is None and heavy.detail["min_effect"] == 0.05
    assert heavy.status == "regressed"
    # four earlier nights are not enough; history_runs = 0 switches the floor off
    assert p50(runs[0], runs[4]).detail["run_to_run_noise"] is None
    from dataclasses import replace

    off = replace(gates, latency=replace(gates.latency, history_runs=0))
    assert p50(runs[0], runs[5], off).detail["run_to_run_noise"] is None
