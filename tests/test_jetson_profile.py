"""The jetson profile on per-board fake sysfs trees, with fake nvpmodel/jetson_clocks/tegrastats scripts."""
import time

import pytest
from conftest_boards import (BOARDS, EXPECTED_TOTAL_MW, LAYOUT_VARIANT_TOTALS, LAYOUT_VARIANTS, TEGRASTATS_TRACES, board_key, build_board_tree,  # noqa: F401
                             build_host_tree, fake_tegrastats, options_without_private, tools)

from harness.device_profiles import load_profile
from harness.device_profiles.base import ProfileConfig
from harness.device_profiles.jetson import JetsonProfile
from harness.core.errors import DeviceError


def _profile(root, **opts) -> JetsonProfile:
    return load_profile("jetson", ProfileConfig(root=str(root), sample_interval_s=0.01, idle_duration_s=0.1,
                                                options=opts))


def test_not_a_jetson_says_how_to_run_on_the_board(tmp_path):
    found = JetsonProfile.detect(ProfileConfig(root=str(build_host_tree(tmp_path))))
    assert not found.available
    assert "harness bench --device jetson" in found.reason and "JetPack" in found.reason
    with pytest.raises(DeviceError, match="not an NVIDIA Jetson"):
        _profile(tmp_path)


def test_each_board_detected_and_its_total_rail(tmp_path, board_key, tools):
    board = BOARDS[board_key]
    root = build_board_tree(tmp_path / "root", board)
    prof = _profile(root, **options_without_private(tools))
    d = prof.describe()
    assert d["board"] == board_key
    assert d["l4t"] in ("32.7.4", "35.4.1", "36.4.0")
    assert d["power_source"] == "ina3221"
    assert "NC" not in d["power_rails"]
    if board_key in ("agx-xavier", "agx-orin"):
        assert d["power_scope"] == "sum of rails" and len(d["power_total_rails"]) > 1
    else:
        assert d["power_scope"] == "module input"
        assert d["power_total_rails"] in (["VDD_IN"], ["POM_5V_IN"])
    assert d["nvpmodel"] == {"fan_mode": "quiet", "name": "MAXN", "id": 0}
    assert d["jetson_clocks"]["clocks_locked"] is False


def test_window_energy_matches_hand_computed_rails(tmp_path, board_key):
    root = build_board_tree(tmp_path, BOARDS[board_key])
    prof = _profile(root)
    prof.begin_window("r0", pid=None)
    time.sleep(0.05)
    r = prof.end_window("r0")
    # constant rails: the energy is the hand-computed total times the time between the first and last readings.
    # Those are taken by the sensor's start and stop calls, which run just after the window's clock starts and
    # just after it stops: the span matches the window's duration to within those calls (10 ms is ample)
    span_s = r.extra["power_span_s"]
    assert abs(span_s - r.duration_s) < 0.01 and span_s >= 0.05
    assert r.energy_mj == pytest.approx(EXPECTED_TOTAL_MW[board_key] * span_s, rel=1e-9)
    assert r.avg_power_mw == pytest.approx(EXPECTED_TOTAL_MW[board_key], rel=1e-9)
    assert r.energy_source == "ina3221"
    assert r.extra["power_rails_used"] and r.extra["power_samples"] >= 2
    assert r.throttled is False
    assert r.extra["ram_used_peak_bytes"] == (7620000 - 3810000) * 1024


@pytest.mark.parametrize("variant", sorted(LAYOUT_VARIANTS))
def test_other_sysfs_layouts_and_module_variants(tmp_path, variant):
    board = LAYOUT_VARIANTS[variant]
    total_mw, scope, missing = LAYOUT_VARIANT_TOTALS[variant]
    prof = _profile(build_board_tree(tmp_path, board))
    d = prof.describe()
    assert d["board"] == board.key and d["power_source"] == "ina3221" and d["power_scope"] == scope
    assert (d["power_rails_missing"] or []) == list(missing)
    prof.begin_window("r0")
    time.sleep(0.05)
    r = prof.end_window("r0")
    assert r.energy_mj == pytest.approx(total_mw * r.extra["power_span_s"], rel=1e-9)
    assert r.extra["power_layout"] == board.layout
    assert r.energy_scope.startswith(scope + ":")
    assert bool(missing) == any("partial sum of rails" in w for w in r.warnings)


def test_idle_baseline_has_power(tmp_path):
    prof = _profile(build_board_tree(tmp_path, BOARDS["orin-nano"]))
    idle = prof.measure_idle(0.05)
    assert idle.power_mw == pytest.approx(3000.0) and idle.source == "ina3221"


def test_throttling_flagged_from_passive_trip(tmp_path):
    prof = _profile(build_board_tree(tmp_path, BOARDS["xavier-nx"], thermal_c=97.0, passive_trip_c=96.0))
    prof.begin_window("hot")
    r = prof.end_window("hot")
    assert r.throttled is True and "CPU-therm" in r.extra["throttled_zones"]
    assert "PMIC-Die" not in r.extra["throttled_zones"]   # its constant 100 C is a placeholder
    assert any("throttling" in w for w in r.warnings)


def test_unreadable_rails_fall_back_to_tegrastats(tmp_path):
    root = build_board_tree(tmp_path / "root", BOARDS["nano"])
    # rails present but their value files gone (as when the driver is half loaded): unreadable
    for f in root.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*/in_*_input"):
        f.unlink()
    one = tmp_path / "nano-line.txt"
    one.write_text((TEGRASTATS_TRACES / "nano.txt").read_text().splitlines()[0] + "\n")
    script = fake_tegrastats(tmp_path, one)
    prof = _profile(root, tegrastats_cmd=str(script), tegrastats_interval_ms=20)
    assert prof.power_source == "tegrastats" and "not readable" in prof.power_reason
    prof.setup()
    try:
        prof.begin_window("r0")
        time.sleep(0.25)
        r = prof.end_window("r0")
    finally:
        prof.teardown()
    assert r.energy_source == "tegrastats" and r.avg_power_mw == pytest.approx(4520.0)
    assert r.energy_scope == "module input: POM_5V_IN"


def test_no_power_source_gives_reason(tmp_path):
    root = build_board_tree(tmp_path, BOARDS["orin-nx"])
    prof = _profile(root, power_source="tegrastats", tegrastats_cmd=str(tmp_path / "missing-tegrastats"))
    assert prof.power_source is None
    prof.begin_window("r")
    r = prof.end_window("r")
    assert r.energy_mj is None and "tegrastats" in r.energy_reason
    assert prof.measure_idle(0.01).power_mw is None


def test_lock_clocks_stores_locks_and_restores(tmp_path, tools):
    root = build_board_tree(tmp_path / "root", BOARDS["nano"])
    state = tools["_state"]
    prof = load_profile("jetson", ProfileConfig(root=str(root), lock_clocks=True,
                                                options=options_without_private(tools)))
    prof.setup()
    assert state.read_text() == "max"
    assert prof.describe()["jetson_clocks"]["clocks_locked"] is True
    prof.teardown()
    assert state.read_text() == "default"
    calls = (tmp_path / "clocks.state.log").read_text().split("\n")
    store = tools["jetson_clocks_store_file"]
    assert calls[:2] == [f"--store {store}", "<lock>"] and f"--restore {store}" in calls


def test_lock_clocks_failure_is_a_device_error(tmp_path):
    root = build_board_tree(tmp_path, BOARDS["nano"])
    prof = load_profile("jetson", ProfileConfig(root=str(root), lock_clocks=True,
                                                options={"jetson_clocks_cmd": str(tmp_path / "no-such-tool")}))
    with pytest.raises(DeviceError, match="drop --lock-clocks"):
        prof.setup()


def test_missing_tools_recorded_with_reason(tmp_path):
    prof = _profile(build_board_tree(tmp_path, BOARDS["orin-nano"]), nvpmodel_cmd=str(tmp_path / "nvp"),
                    jetson_clocks_cmd=str(tmp_path / "jc"))
    d = prof.describe()
    assert "not found" in d["nvpmodel"]["reason"] and "root" in d["jetson_clocks"]["reason"]
    fp = prof.fingerprint()
    assert fp["board"] == "orin-nano" and fp["nvpmodel"] is None
