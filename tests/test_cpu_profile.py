"""The CPU profile against a fake sysfs/procfs tree (the OS boundary) and against this real host."""
import os

import pytest

from harness.device_profiles import load_profile, profile_class
from harness.device_profiles.base import ProfileConfig
from harness.device_profiles.energy import counter_delta, integrate_power_mj, per_inference
from harness.device_profiles.rapl import RaplSensor, find_package_domains
from harness.core.errors import DeviceError


def _zone(root, name, label, energy_uj, max_uj=262143328850):
    zone = root / "sys/class/powercap" / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def test_rapl_sums_packages_and_skips_subdomains(tmp_path):
    p0 = _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    p1 = _zone(tmp_path, "intel-rapl:1", "package-1", 5_000_000)
    core = _zone(tmp_path, "intel-rapl:0:0", "core", 7)
    domains, reason = find_package_domains(str(tmp_path))
    assert reason is None and [d.name for d in domains] == ["package-0", "package-1"]
    sensor = RaplSensor(str(tmp_path))
    sensor.start(None)
    (p0 / "energy_uj").write_text("1500000\n")   # +0.5 J
    (p1 / "energy_uj").write_text("5250000\n")   # +0.25 J
    (core / "energy_uj").write_text("999999999\n")  # included in package-0 already; must be ignored
    out = sensor.stop(1.0)
    assert out["energy_mj"] == pytest.approx(750.0)
    assert out["energy_source"] == "rapl" and "package-0, package-1" in out["energy_scope"]


def test_rapl_counter_wraps_around(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", "package-0", 999_000, max_uj=1_000_000)
    sensor = RaplSensor(str(tmp_path))
    sensor.start(None)
    (zone / "energy_uj").write_text("4000\n")  # wrapped: 1000 to the top, then 4000
    assert sensor.stop(0.1)["energy_mj"] == pytest.approx(5.0)


def test_no_powercap_gives_null_with_reason(tmp_path):
    sensor = RaplSensor(str(tmp_path))
    sensor.start(None)
    out = sensor.stop(0.1)
    assert "energy_mj" not in out and "no powercap driver" in out["energy_reason"]


def test_energy_arithmetic_by_hand():
    assert counter_delta(10, 25, None) == 15
    assert counter_delta(90, 5, 100) == 15
    with pytest.raises(ValueError):
        counter_delta(90, 5, None)
    # 1000 mW for 1 s then a ramp to 3000 mW over 2 s: 1000 + 2 * 2000 = 5000 mJ (uneven spacing on purpose)
    assert integrate_power_mj([0.0, 1.0, 3.0], [1000, 1000, 3000]) == pytest.approx(5000.0)
    # 10 J over 2 s for 100 inferences with 2 W idle: 100 mJ total, (10000 - 4000) / 100 = 60 mJ above idle
    assert per_inference(10_000.0, 100, 2000.0, 2.0) == (pytest.approx(100.0), pytest.approx(60.0))
    assert per_inference(None, 100, 2000.0, 2.0) == (None, None)


def test_describe_reads_the_injected_tree(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n"
                                           "flags\t\t: fpu avx2 avx512f avx512_vnni\n")
    freq = tmp_path / "sys/devices/system/cpu/cpu0/cpufreq"
    freq.mkdir(parents=True)
    (freq / "scaling_governor").write_text("performance\n")
    (freq / "scaling_cur_freq").write_text("3500000\n")
    profile = load_profile("cpu", ProfileConfig(root=str(tmp_path)))
    d = profile.describe()
    assert d["cpu_model"] == "Test CPU 9000" and d["governor"] == "performance"
    assert d["cpu_freq_khz"] == 3500000 and d["isa"] == ["avx2", "avx512f", "avx512_vnni"]


def test_window_on_this_host_measures_memory_and_says_why_no_energy():
    profile = load_profile("cpu")
    profile.begin_window("w", os.getpid())
    reading = profile.end_window("w")
    assert reading.peak_rss_bytes > 0
    if reading.energy_mj is None:
        assert reading.energy_reason
    idle = profile.measure_idle(0.05)
    assert (idle.power_mw is None) == bool(idle.reason)


def test_unknown_device():
    with pytest.raises(DeviceError, match="unknown device 'abacus'; choose one of"):
        profile_class("abacus")
