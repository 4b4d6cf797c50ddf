"""Every recorded tegrastats line of every family (tests/data/tegrastats, sources in its README) parses to rails,
temperatures and RAM, and gets the right total; `harness power` on logs with and without timestamps."""
import json
import re
from pathlib import Path

import pytest
from conftest_boards import TEGRASTATS_TRACES

from harness.device_profiles.jetson_board import load_boards
from harness.device_profiles.jetson_power import SCOPE_MODULE_INPUT, SCOPE_PARTIAL_SUM, SCOPE_SUM_OF_RAILS, total_rule
from harness.device_profiles.tegrastats import parse_line
from harness.device_profiles.tegrastats_log import summarize_log
from harness.core.errors import SensorError, UsageError
from helpers import run_cli

FAMILIES = ["nano", "tx2", "xavier-nx", "agx-xavier", "orin-nano", "orin-nx", "agx-orin"]
BOARDS = {b.key: b for b in load_boards()}


def _lines(family: str) -> list[str]:
    return [line for line in (TEGRASTATS_TRACES / f"{family}.txt").read_text().splitlines() if line.strip()]


FIXTURE_LINES = [(f, i, line) for f in FAMILIES for i, line in enumerate(_lines(f), start=1)]


def test_every_family_has_two_real_lines_and_a_named_source():
    readme = (TEGRASTATS_TRACES / "README.md").read_text()
    for family in FAMILIES:
        assert len(_lines(family)) >= 2, family
        assert f"| {family}.txt |" in readme, f"{family}.txt has no source row in the README"


@pytest.mark.parametrize("family,index,line", FIXTURE_LINES, ids=[f"{f}-{i}" for f, i, _ in FIXTURE_LINES])
def test_recorded_line_parses_to_rails_temperatures_and_ram(family, index, line):
    s = parse_line(line)
    # the line's own numbers, read independently of the parser's regular expressions
    ram = re.search(r"RAM (\d+)/(\d+)MB", line)
    assert (s.ram_used_mb, s.ram_total_mb) == (int(ram.group(1)), int(ram.group(2)))
    assert s.rails_mw, "no rails"
    for name, cur in s.rails_mw.items():
        assert re.search(rf"(?<![\w]){name} {int(cur)}(mW)?/", line), (name, cur)
    assert "NC" not in s.rails_mw and "RAM" not in s.rails_mw and "SWAP" not in s.rails_mw
    assert s.temps_c and all(-60 < t < 120 for t in s.temps_c.values())   # -256 (absent sensor) dropped
    cores = re.search(r"CPU \[([^\]]*)\]", line).group(1).split(",")
    assert len(s.cpu_load_pct) == len(cores)
    assert [v is None for v in s.cpu_load_pct] == [c.strip() == "off" for c in cores]
    assert (s.timestamp is not None) == bool(re.match(r"\d\d-\d\d-\d{4} ", line))
    spec = BOARDS[family]
    rule, reason = total_rule(list(s.rails_mw), spec.total_rails, spec.total_scope)
    assert rule is not None, reason
    if family in ("agx-xavier", "agx-orin"):
        # no input rail: the documented sum, or the part of it this module prints
        assert rule.scope in (SCOPE_SUM_OF_RAILS, SCOPE_PARTIAL_SUM) and len(rule.rails) >= 3
        assert "VIN_SYS_5V0" not in rule.rails or len(rule.rails) > 1
    else:
        assert rule.scope == SCOPE_MODULE_INPUT and rule.rails in (("VDD_IN",), ("POM_5V_IN",))


def test_agx_orin_three_rail_lines_are_partial_and_the_four_rail_line_is_whole():
    spec = BOARDS["agx-orin"]
    scopes = []
    for line in _lines("agx-orin"):
        rule, _ = total_rule(list(parse_line(line).rails_mw), spec.total_rails, spec.total_scope)
        scopes.append((rule.scope, rule.missing))
    assert scopes == [(SCOPE_PARTIAL_SUM, ("VDDQ_VDD2_1V8AO",)), (SCOPE_PARTIAL_SUM, ("VDDQ_VDD2_1V8AO",)),
                      (SCOPE_SUM_OF_RAILS, ())]


def test_format_details_from_real_lines():
    orin32 = parse_line(_lines("agx-orin")[0])
    assert orin32.gpu_freq_mhz == 305 and orin32.ram_total_mb == 30697          # GR3D_FREQ 0%@[305,305]
    assert orin32.emc_load_pct == 1
    orin64 = parse_line(_lines("agx-orin")[1])
    assert orin64.gpu_load_pct == 0 and orin64.gpu_freq_mhz is None and orin64.emc_load_pct is None
    jp5 = parse_line(_lines("agx-orin")[2])
    assert "CV0" not in jp5.temps_c and jp5.temps_c["tj"] == 42.593             # CV0@-256C is no sensor
    assert jp5.rails_mw["VDDQ_VDD2_1V8AO"] == 301.0
    nano = parse_line(_lines("nano")[2])                                          # POM_5V_GPU printed first
    assert total_rule(list(nano.rails_mw))[0].rails == ("POM_5V_IN",)
    assert nano.rails_mw["POM_5V_IN"] == 3227.0
    # newer releases print temperatures as current/max: the current value is kept
    assert parse_line("RAM 1/2MB cpu@50C/51.5C VDD_IN 9761mW/9761mW/9761mW").temps_c == {"cpu": 50.0}


def _log(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _stamped(line: str, stamp: str) -> str:
    return stamp + " " + re.sub(r"^\d\d-\d\d-\d{4} \d\d:\d\d:\d\d ", "", line)


def test_power_log_with_timestamps_one_line_per_second(tmp_path):
    a, b = _lines("orin-nano")       # VDD_IN 2957 then 4556 mW
    log = _log(tmp_path / "a.log", [_stamped(a, "09-21-2025 15:38:17"), _stamped(b, "09-21-2025 15:38:18"),
                                    _stamped(a, "09-21-2025 15:38:20")])
    s = summarize_log(log)
    # by time, not by averaging readings: 1 s * (2957 + 4556) / 2 + 2 s * (4556 + 2957) / 2 = 3756.5 + 7513
    assert s.energy_mj == pytest.approx(11269.5)
    assert s.duration_s == 3.0 and s.interval_source == "timestamps"
    assert s.total_mean_power_mw == pytest.approx(11269.5 / 3)                     # a plain mean says 3490
    assert s.total_rails == ["VDD_IN"] and s.total_scope == SCOPE_MODULE_INPUT
    assert s.rail_mean_power_mw["VDD_SOC"] == pytest.approx((1.0 * (1012 + 1451) / 2 + 2.0 * (1451 + 1012) / 2) / 3)


def test_power_log_with_several_lines_per_second(tmp_path):
    line = _lines("orin-nano")[0]
    # 100 ms interval: ten lines share each stamped second, 23 lines from :17 to :19
    lines = [_stamped(line, f"09-21-2025 15:38:{17 + i // 10}") for i in range(23)]
    s = summarize_log(_log(tmp_path / "b.log", lines))
    assert s.interval_ms == pytest.approx(100.0) and "estimated from timestamps" in s.interval_source
    assert s.duration_s == pytest.approx(2.2)
    assert s.energy_mj == pytest.approx(2957.0 * 2.2)


def test_power_log_without_timestamps_uses_interval_option_or_tegrastats_default(tmp_path):
    a, b = _lines("xavier-nx")[:2]     # VDD_IN 4067 then 12221 mW, no timestamps (JetPack 4)
    log = _log(tmp_path / "c.log", [a, b, a])
    s = summarize_log(log)
    assert s.interval_ms == 1000 and "tegrastats default" in s.interval_source
    assert s.energy_mj == pytest.approx(2 * 1.0 * (4067 + 12221) / 2)
    s = summarize_log(log, interval_ms=100)
    assert s.interval_source == "--interval-ms" and s.duration_s == pytest.approx(0.2)
    assert s.energy_mj == pytest.approx(2 * 0.1 * (4067 + 12221) / 2)


def test_power_log_malformed_lines_are_counted_not_fatal(tmp_path):
    a, b = _lines("tx2")[1:3]
    log = _log(tmp_path / "d.log", ["tegrastats: permission denied", a, "", "\x00\x00garbage", b])
    s = summarize_log(log, interval_ms=500)
    assert s.samples == 2 and s.malformed_lines == 2 and s.lines == 4
    assert s.energy_mj == pytest.approx(0.5 * (1931 + 1776) / 2)
    assert any("2 malformed" in w for w in s.warnings)
    with pytest.raises(SensorError, match="no tegrastats line"):
        summarize_log(_log(tmp_path / "e.log", ["hello", "world"]))
    with pytest.raises(UsageError, match="unknown board"):
        summarize_log(log, board="tx3")


def test_power_log_agx_orin_partial_sum_guessed_and_named(tmp_path):
    lines = _lines("agx-orin")[:2]     # two JetPack 6 lines: three rails each
    s = summarize_log(_log(tmp_path / "f.log", lines), interval_ms=1000)
    assert s.board == "agx-orin" and "guessed" in s.board_source
    assert s.total_scope == SCOPE_PARTIAL_SUM and s.total_missing_rails == ["VDDQ_VDD2_1V8AO"]
    first = 3205 + 4405 + 4767
    second = 4940 + 988 + 4442
    assert s.energy_mj == pytest.approx((first + second) / 2)
    assert any("VDDQ_VDD2_1V8AO" in w for w in s.warnings)


def test_harness_power_cli_text_json_and_errors(tmp_path):
    a, b = _lines("orin-nx")
    log = _log(tmp_path / "g.log", [a, "junk", b])
    out = run_cli("power", "--tegrastats-log", str(log), "--interval-ms", "250")
    assert out.returncode == 0, out.stderr
    assert "module input: VDD_IN" in out.stdout and "1 malformed" in out.stdout
    assert "VDD_CPU_GPU_CV" in out.stdout and "1 malformed line(s) skipped" in out.stderr
    data = json.loads(run_cli("power", "--tegrastats-log", str(log), "--interval-ms", "250", "--json",
                              check=True).stdout)
    assert data["energy_mj"] == pytest.approx(0.25 * (5299 + 6120) / 2) and data["malformed_lines"] == 1
    bad = run_cli("power", "--tegrastats-log", str(_log(tmp_path / "h.log", ["not tegrastats"])))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "harness: error:" in bad.stderr
    missing = run_cli("power", "--tegrastats-log", str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
