"""Step detection (hand-checked) and `harness history` over a store of real runs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.regress.steps import best_partitions, detect_steps, l1_costs


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

@pytest.mark.slow
def test_history_command_names_the_run_where_the_model_got_slower(tmp_path, capsys):
    from regress_helpers import bench, build_mlp, run_cli

    db = tmp_path / "h.duckdb"
    light = build_mlp(tmp_path / "light" / "mlp.onnx", width=256, layers=2)
    heavy = build_mlp(tmp_path / "heavy" / "mlp.onnx", width=256, layers=12)
    runs = [bench(db, str(light), tag="nightly", rounds=2, min_duration=0.2) for _ in range(3)]
    runs += [bench(db, str(heavy), tag="nightly", rounds=2, min_duration=0.2) for _ in range(2)]
    capsys.readouterr()
    assert run_cli("history", "--model", "mlp", "--variant", "mlp", "--tag", "nightly", "--db", str(db),
                   "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "p50_ms"
    (series,) = out["series"]
    assert [p["run_id"] for p in series["points"]] == runs
    assert [s["run_id"] for s in series["steps"]] == [runs[3]]
    assert series["steps"][0]["change"] > 0.5

    assert run_cli("history", "--variant", "mlp", "--metric", "size", "--db", str(db)) == 0
    text = capsys.readouterr().out
    assert f"step at run {runs[3]}" in text and "size_bytes" in text

    assert run_cli("history", "--variant", "mlp", "--metric", "bogus", "--db", str(db)) == 2
    assert "unknown metric 'bogus'" in capsys.readouterr().err
    assert run_cli("history", "--variant", "nope", "--db", str(db)) == 2
    assert "no complete runs with variant 'nope'" in capsys.readouterr().err
