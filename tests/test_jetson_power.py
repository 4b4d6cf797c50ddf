"""Jetson power arithmetic: which rails make the total, and energy integrated by time on hand-computed traces."""
import pytest

from harness.device_profiles.jetson_power import (SCOPE_MODULE_INPUT, SCOPE_PARTIAL_SUM, SCOPE_SUM_OF_RAILS,
                                                  PowerSeries, clip_to_window, total_rule)

AGX_ORIN = ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO")


def test_input_rail_is_the_total_never_summed_with_sub_rails():
    rule, reason = total_rule(["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"])
    assert reason is None and rule.rails == ("POM_5V_IN",) and rule.scope == SCOPE_MODULE_INPUT
    rule, _ = total_rule(["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"], board_total_rails=("VDD_IN",))
    assert rule.rails == ("VDD_IN",)


def test_agx_orin_sums_its_four_channels_and_says_so():
    rule, reason = total_rule(list(AGX_ORIN), board_total_rails=AGX_ORIN, board_scope=SCOPE_SUM_OF_RAILS)
    assert reason is None and rule.rails == AGX_ORIN and rule.scope == SCOPE_SUM_OF_RAILS


def test_unknown_board_without_input_rail_gets_no_total():
    rule, reason = total_rule(["VIN_SYS_5V0", "VDD_GPU_SOC"])
    assert rule is None and "power_rails" in reason


def test_board_rails_all_missing_gives_reason():
    rule, reason = total_rule(["VDD_SOC"], board_total_rails=AGX_ORIN)
    assert rule is None and "VDD_CPU_CV" in reason and "none of them" in reason


def test_agx_orin_with_three_of_four_rails_is_a_named_partial_sum():
    rails = ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]     # what tegrastats prints on JetPack 6
    rule, reason = total_rule(rails, board_total_rails=AGX_ORIN, board_scope=SCOPE_SUM_OF_RAILS)
    assert reason is None
    assert rule.rails == tuple(rails) and rule.scope == SCOPE_PARTIAL_SUM and rule.missing == ("VDDQ_VDD2_1V8AO",)
    series = PowerSeries()
    series.add(0.0, {"VDD_GPU_SOC": 3000.0, "VDD_CPU_CV": 1000.0, "VIN_SYS_5V0": 4000.0})
    series.add(2.0, {"VDD_GPU_SOC": 5000.0, "VDD_CPU_CV": 1000.0, "VIN_SYS_5V0": 4000.0})
    out = series.reading(rule, None, "tegrastats", 2.0)
    # totals 8000 -> 10000 mW over 2 s: 2 * 9000 = 18000 mJ, labelled partial with the missing rail named
    assert out["energy_mj"] == pytest.approx(18000.0)
    assert out["energy_scope"] == ("partial sum of rails: VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0 "
                                   "(missing: VDDQ_VDD2_1V8AO)")
    assert out["extra"]["power_rails_missing"] == ["VDDQ_VDD2_1V8AO"]
    assert any("VDDQ_VDD2_1V8AO" in w and "partial" in w for w in out["warnings"])


def test_input_rail_boards_never_become_partial():
    # an Orin Nano whose sub-rails are missing still reports its input rail alone, as the module input
    rule, _ = total_rule(["VDD_IN"], board_total_rails=("VDD_IN",), board_scope=SCOPE_MODULE_INPUT)
    assert rule.rails == ("VDD_IN",) and rule.scope == SCOPE_MODULE_INPUT and not rule.missing
    rule, _ = total_rule(["VDD_IN", "VDD_GPU_SOC"], board_total_rails=AGX_ORIN)
    assert rule.rails == ("VDD_IN",) and not rule.missing


def test_override_rails():
    rule, _ = total_rule(["A", "B", "C"], override=["A", "B"])
    assert rule.rails == ("A", "B") and rule.scope == SCOPE_SUM_OF_RAILS
    assert total_rule(["A"], override=["Z"])[0] is None


def test_energy_is_integrated_by_time_not_averaged():
    # uneven spacing: 1000 mW for 0.1 s then a ramp to 3000 mW over 0.9 s
    series = PowerSeries()
    for t, p in [(0.0, 1000.0), (0.1, 1000.0), (1.0, 3000.0)]:
        series.add(t, {"VDD_IN": p, "VDD_SOC": 100.0})
    rule, _ = total_rule(["VDD_IN", "VDD_SOC"])
    out = series.reading(rule, None, "ina3221", 1.0)
    # trapezoid: 0.1 * 1000 + 0.9 * (1000 + 3000) / 2 = 100 + 1800 = 1900 mJ (a plain mean would say 1666.7)
    assert out["energy_mj"] == pytest.approx(1900.0)
    assert out["avg_power_mw"] == pytest.approx(1900.0)
    assert out["energy_scope"] == "module input: VDD_IN"
    assert out["extra"]["rail_energy_mj"]["VDD_SOC"] == pytest.approx(100.0)
    assert out["extra"]["power_peak_mw"] == 3000.0


def test_sum_of_rails_energy_hand_computed():
    series = PowerSeries()
    series.add(0.0, {"A": 100.0, "B": 200.0})
    series.add(0.5, {"A": 300.0, "B": 200.0})
    rule, _ = total_rule(["A", "B"], board_total_rails=("A", "B"), board_scope=SCOPE_SUM_OF_RAILS)
    out = series.reading(rule, None, "ina3221", 0.5)
    # total 300 -> 500 mW over 0.5 s: 0.5 * 400 = 200 mJ
    assert out["energy_mj"] == pytest.approx(200.0)
    assert out["energy_scope"] == "sum of rails: A + B"


def test_single_sample_gives_reason_not_a_number():
    series = PowerSeries()
    series.add(0.0, {"VDD_IN": 1000.0})
    out = series.reading(*total_rule(["VDD_IN"]), "ina3221", 0.0)
    assert "energy_mj" not in out and "fewer than two" in out["energy_reason"]


def test_clip_to_window_interpolates_edges():
    samples = [(0.0, {"P": 1000.0}), (1.0, {"P": 2000.0}), (2.0, {"P": 4000.0})]
    clipped = clip_to_window(samples, 0.5, 1.5)
    assert [t for t, _ in clipped] == [0.5, 1.0, 1.5]
    assert [s["P"] for _, s in clipped] == pytest.approx([1500.0, 2000.0, 3000.0])
    # energy over [0.5, 1.5]: 0.5 * (1500 + 2000) / 2 + 0.5 * (2000 + 3000) / 2 = 875 + 1250 = 2125 mJ
    series = PowerSeries()
    for t, s in clipped:
        series.add(t, s)
    assert series.reading(*total_rule(["P"], override=["P"]), "x", 1.0)["energy_mj"] == pytest.approx(2125.0)


def test_clip_to_window_holds_when_one_side_missing():
    samples = [(1.0, {"P": 2000.0}), (1.2, {"P": 2200.0})]
    clipped = clip_to_window(samples, 0.9, 1.5)
    assert clipped[0] == (0.9, {"P": 2000.0}) and clipped[-1] == (1.5, {"P": 2200.0})
    assert clip_to_window(samples, 5.0, 6.0) == []
