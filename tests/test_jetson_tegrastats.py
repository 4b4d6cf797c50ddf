"""tegrastats: the parser on recorded real lines of each board family, and the stream end to end through a
script that prints those lines (the OS boundary)."""
import time

import pytest
from conftest_boards import TEGRASTATS_TRACES, fake_tegrastats

from harness.device_profiles.jetson_power import total_rule
from harness.device_profiles.tegrastats import TegrastatsSensor, TegrastatsStream, parse_line
from harness.core.errors import SensorError


def _line(name: str) -> str:
    return (TEGRASTATS_TRACES / f"{name}.txt").read_text().splitlines()[0]


def test_nano_line_values_without_unit():
    s = parse_line(_line("nano"))
    assert s.rails_mw == {"POM_5V_IN": 4520.0, "POM_5V_GPU": 0.0, "POM_5V_CPU": 1078.0}
    assert s.rails_avg_mw["POM_5V_IN"] == 4680.0
    assert (s.ram_used_mb, s.ram_total_mb) == (1180, 3965)
    assert s.temps_c["thermal"] == 59.75 and s.temps_c["PMIC"] == 100.0
    assert s.gpu_load_pct == 0 and s.gpu_freq_mhz == 76
    assert s.cpu_load_pct == [30, 33, 28, 26]
    rule, _ = total_rule(list(s.rails_mw))
    assert rule.rails == ("POM_5V_IN",)


def test_tx2_family_line():
    s = parse_line(_line("tx2"))
    assert s.rails_mw == {"VDD_IN": 14025.0, "VDD_CPU": 2209.0, "VDD_GPU": 6854.0, "VDD_SOC": 1371.0,
                          "VDD_WIFI": 19.0, "VDD_DDR": 2702.0}
    assert s.temps_c["BCPU"] == -45.0 and s.gpu_freq_mhz == 1300
    assert total_rule(list(s.rails_mw))[0].rails == ("VDD_IN",)


def test_orin_line_with_mw_units_and_timestamp():
    s = parse_line(_line("orin-nano"))
    assert s.rails_mw == {"VDD_IN": 2957.0, "VDD_CPU_GPU_CV": 486.0, "VDD_SOC": 1012.0}
    assert s.gpu_freq_mhz == 305 and s.ram_used_mb == 3645
    assert s.temps_c["tj"] == 44.531


def test_three_value_and_agx_forms():
    # format samples (not recordings): AGX Xavier rail names, and a cur/avg/max triple
    s = parse_line("RAM 2000/31920MB (lfb 1x4MB) GPU 0/0 CPU 311/311 SOC 1243/1243 CV 0/0 VDDRQ 155/155 "
                   "SYS5V 1681/1681")
    assert s.rails_mw["SYS5V"] == 1681.0 and "RAM" not in s.rails_mw
    s = parse_line("VDD_GPU_SOC 3176mW/3000mW/3500mW VDD_CPU_CV 794mW/794mW/800mW")
    assert s.rails_mw == {"VDD_GPU_SOC": 3176.0, "VDD_CPU_CV": 794.0}
    assert s.rails_avg_mw["VDD_GPU_SOC"] == 3000.0


def test_garbage_is_rejected():
    with pytest.raises(SensorError):
        parse_line("Segmentation fault")


@pytest.mark.parametrize("trace,total", [("nano", 4520.0), ("orin-nano", 2957.0), ("tx2", 14025.0)])
def test_stream_and_sensor_end_to_end(tmp_path, trace, total):
    one = tmp_path / "line.txt"
    one.write_text(_line(trace) + "\n")      # one recorded line repeated: a constant trace
    script = fake_tegrastats(tmp_path, one)
    stream = TegrastatsStream(str(script), interval_ms=20)
    try:
        sensor = TegrastatsSensor(stream)
        sensor.start(None)
        time.sleep(0.3)
        out = sensor.stop(0.3)
    finally:
        stream.stop()
    assert not stream.running
    # a recorded constant line: the integral's average must be that line's current value exactly
    assert out["avg_power_mw"] == pytest.approx(total)
    assert out["energy_source"] == "tegrastats" and out["energy_scope"].startswith("module input")
    assert out["extra"]["power_samples"] >= 3


def test_stream_missing_command_is_a_sensor_error(tmp_path):
    with pytest.raises(SensorError, match="cannot start tegrastats"):
        TegrastatsStream(str(tmp_path / "nope")).start()
