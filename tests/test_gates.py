"""Gate file parsing and threshold semantics."""
from __future__ import annotations

import pytest

from harness.core.errors import UsageError
from harness.regress.gates import IMPROVED, PASS, REGRESSED, SKIPPED, ThresholdGate, load_gates


def test_defaults_are_sensible():
    g = load_gates()
    assert [x.metric for x in g.latency.gates] == ["p50_ms"]
    assert g.latency.gates[0].min_effect == 0.05 and g.latency.gates[0].quantile == 0.5
    assert g.latency.alpha == 0.01 and g.latency.bootstrap_iterations >= 1000
    assert g.threshold_for("task", "accuracy").better == "higher"
    assert g.threshold_for("root", "kl_divergence").better == "lower"      # bare metric name: any reference
    assert g.threshold_for(None, "size_bytes") is not None
    assert g.threshold_for("root", "accuracy") is None


def test_user_file_merges_over_defaults(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('[latency]\nalpha = 0.05\n[latency.p50_ms]\nmin_effect = 0.10\n[latency.p99_ms]\nmin_effect = 0.3\n'
                 '[gates.size_bytes]\nenabled = false\n[gates."task.accuracy"]\ntolerance_abs = 0.05\n'
                 '[gates.load_ms]\ntolerance_rel = 0.5\n')
    g = load_gates(f)
    assert g.latency.alpha == 0.05
    assert {x.metric: (x.quantile, x.min_effect) for x in g.latency.gates} == {"p50_ms": (0.5, 0.10),
                                                                              "p99_ms": (0.99, 0.3)}
    assert g.latency.bootstrap_iterations == 2000                 # untouched default survives the merge
    assert "size_bytes" not in g.thresholds
    acc = g.threshold_for("task", "accuracy")
    assert acc.tolerance_abs == 0.05 and acc.better == "higher"   # merged key by key
    assert g.thresholds["load_ms"].tolerance_rel == 0.5
    assert g.source == str(f)


@pytest.mark.parametrize("text, fragment", [
    ("[latency\n", "not valid TOML"),
    ("[speed]\nx = 1\n", "unknown section"),
    ("[latency.median]\nmin_effect = 0.1\n", "pNN_ms"),
    ("[latency]\nalpha = 2\n", "out of range"),
    ("[gates.size_bytes]\nbetter = 'smaller'\n", "'lower' or 'higher'"),
    ("[gates.size_bytes]\ntolerance = 0.1\n", "unknown key"),
    ("[gates.size_bytes]\ntolerance_rel = 'ten'\n", "expected a number"),
])
def test_bad_gate_files_are_usage_errors(tmp_path, text, fragment):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(UsageError, match=fragment) as err:
        load_gates(f)
    assert err.value.exit_code == 2


def test_missing_gate_file(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_gates(tmp_path / "nope.toml")


def test_relative_tolerance_lower_is_better():
    gate = ThresholdGate("size_bytes", "lower", tolerance_rel=0.01)
    assert gate.evaluate(1000, 1010).status == PASS          # exactly 1 %: not beyond
    assert gate.evaluate(1000, 1011).status == REGRESSED
    assert gate.evaluate(1000, 900).status == IMPROVED
    assert gate.evaluate(None, 900).status == SKIPPED
    assert gate.evaluate(1000, None).status == SKIPPED


def test_absolute_tolerance_higher_is_better():
    gate = ThresholdGate("task.accuracy", "higher", tolerance_abs=0.01)
    assert gate.evaluate(0.95, 0.945).status == PASS
    out = gate.evaluate(0.95, 0.93)
    assert out.status == REGRESSED and "0.01 absolute" in out.message
    assert gate.evaluate(0.90, 0.95).status == IMPROVED


def test_both_tolerances_must_be_exceeded():
    # memory: 15 % AND 8 MiB; a 50 % jump of a tiny number is allocator noise
    gate = ThresholdGate("peak_rss_bytes", "lower", tolerance_rel=0.15, tolerance_abs=8 << 20)
    assert gate.evaluate(4 << 20, 6 << 20).status == PASS
    assert gate.evaluate(100 << 20, 110 << 20).status == PASS
    assert gate.evaluate(100 << 20, 120 << 20).status == REGRESSED


def test_limit_fails_regardless_of_baseline():
    gate = ThresholdGate("root.kl_divergence", "lower", tolerance_rel=10.0, limit=0.05)
    assert gate.evaluate(0.06, 0.06).status == REGRESSED
    assert gate.evaluate(None, 0.06).status == REGRESSED
    assert gate.evaluate(None, 0.01).status == PASS
    floor = ThresholdGate("task.accuracy", "higher", limit=0.9)
    assert floor.evaluate(0.95, 0.89).status == REGRESSED
