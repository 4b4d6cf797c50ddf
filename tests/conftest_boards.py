"""Fixtures for the Jetson tests: per-board fake sysfs trees and fake board tools at the OS boundary.

Import what you need into a test module (`from conftest_boards import ...`). Only the OS boundary is faked:
sysfs/procfs files under a tmp root, and scripts standing in for tegrastats / nvpmodel / jetson_clocks that print
recorded output and keep their state in a file.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TEGRASTATS_TRACES = DATA / "tegrastats"


@dataclass(frozen=True)
class FakeBoard:
    key: str
    model: str
    release: str
    layout: str                                   # "hwmon" (JetPack 5/6) or "iio" (JetPack 4)
    # i2c device -> channel list of (rail label, millivolts, milliamps); mW = mV * mA / 1000
    monitors: dict[str, list[tuple[str, int, int]]]


R32 = "# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64, DATE: Fri Jun  9 04:25:08 UTC 2023"
R35 = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023"
R36 = "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024"

BOARDS: dict[str, FakeBoard] = {
    "nano": FakeBoard("nano", "NVIDIA Jetson Nano Developer Kit", R32, "iio", {
        "6-0040": [("POM_5V_IN", 5000, 900), ("POM_5V_GPU", 5000, 100), ("POM_5V_CPU", 5000, 200)]}),
    "tx2": FakeBoard("tx2", "quill", R32.replace("t210ref", "t186ref"), "iio", {
        "0-0040": [("VDD_SYS_GPU", 19000, 100), ("VDD_SYS_SOC", 19000, 50), ("VDD_4V0_WIFI", 19000, 1)],
        "0-0041": [("VDD_IN", 19000, 400), ("VDD_SYS_CPU", 19000, 60), ("VDD_SYS_DDR", 19000, 40)]}),
    "xavier-nx": FakeBoard("xavier-nx", "NVIDIA Jetson Xavier NX Developer Kit", R35, "hwmon", {
        "7-0040": [("VDD_IN", 5000, 1200), ("VDD_CPU_GPU_CV", 5000, 300), ("VDD_SOC", 5000, 250)]}),
    "agx-xavier": FakeBoard("agx-xavier", "Jetson-AGX", R35, "hwmon", {
        "1-0040": [("GPU", 19000, 10), ("CPU", 19000, 20), ("SOC", 19000, 60)],
        "1-0041": [("CV", 19000, 0), ("VDDRQ", 19000, 10), ("SYS5V", 5000, 300)]}),
    "orin-nano": FakeBoard("orin-nano", "NVIDIA Jetson Orin Nano Developer Kit", R36, "hwmon", {
        "1-0040": [("VDD_IN", 5000, 600), ("VDD_CPU_GPU_CV", 5000, 100), ("VDD_SOC", 5000, 200)]}),
    "orin-nx": FakeBoard("orin-nx", "NVIDIA Jetson Orin NX Engineering Reference Developer Kit", R36, "hwmon", {
        "1-0040": [("VDD_IN", 5000, 1000), ("VDD_CPU_GPU_CV", 5000, 200), ("VDD_SOC", 5000, 300)]}),
    "agx-orin": FakeBoard("agx-orin", "NVIDIA Jetson AGX Orin Developer Kit", R36, "hwmon", {
        "1-0040": [("VDD_GPU_SOC", 19000, 100), ("VDD_CPU_CV", 19000, 50), ("VIN_SYS_5V0", 5000, 600)],
        "1-0041": [("NC", 0, 0), ("VDDQ_VDD2_1V8AO", 5000, 100), ("NC", 0, 0)]}),
}

# the same families in their other sysfs layouts: JetPack 4's ina3221x iio driver on the Xaviers (rail_name_N,
# in_power{N}_input), and an AGX Orin module whose second INA3221 (VDDQ_VDD2_1V8AO) is not populated
LAYOUT_VARIANTS: dict[str, FakeBoard] = {
    "xavier-nx-jp4": FakeBoard("xavier-nx", "NVIDIA Jetson Xavier NX Developer Kit", R32.replace("t210ref", "t186ref"),
                               "iio", {"7-0040": [("VDD_IN", 5000, 1200), ("VDD_CPU_GPU_CV", 5000, 300),
                                                  ("VDD_SOC", 5000, 250)]}),
    "agx-xavier-jp4": FakeBoard("agx-xavier", "Jetson-AGX", R32.replace("t210ref", "t186ref"), "iio", {
        "1-0040": [("GPU", 19000, 10), ("CPU", 19000, 20), ("SOC", 19000, 60)],
        "1-0041": [("CV", 19000, 0), ("VDDRQ", 19000, 10), ("SYS5V", 5000, 300)]}),
    "agx-orin-3rail": FakeBoard("agx-orin", "NVIDIA Jetson AGX Orin Developer Kit", R36, "hwmon", {
        "1-0040": [("VDD_GPU_SOC", 19000, 100), ("VDD_CPU_CV", 19000, 50), ("VIN_SYS_5V0", 5000, 600)]}),
}
# (total mW, scope, missing rails) by hand from the channels above
LAYOUT_VARIANT_TOTALS = {
    "xavier-nx-jp4": (6000.0, "module input", ()),
    "agx-xavier-jp4": (190 + 380 + 1140 + 0 + 190 + 1500.0, "sum of rails", ()),
    "agx-orin-3rail": (1900 + 950 + 3000.0, "partial sum of rails", ("VDDQ_VDD2_1V8AO",)),
}

# hand-computed totals (mW) from the channel values above
EXPECTED_TOTAL_MW = {
    "nano": 4500.0,                 # POM_5V_IN only
    "tx2": 7600.0,                  # VDD_IN only
    "xavier-nx": 6000.0,            # VDD_IN only
    "agx-xavier": 190 + 380 + 1140 + 0 + 190 + 1500.0,   # sum of the six channels
    "orin-nano": 3000.0,
    "orin-nx": 5000.0,
    "agx-orin": 1900 + 950 + 3000 + 500.0,               # sum of the four connected channels
}


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def build_board_tree(root: Path, board: FakeBoard, thermal_c: float = 45.0, passive_trip_c: float = 96.0) -> Path:
    """A fake `/` for `board`: release file, device-tree model, INA3221 rails, thermal zones, meminfo."""
    _write(root / "etc/nv_tegra_release", board.release + "\n")
    _write(root / "proc/device-tree/model", board.model.encode() + b"\x00")
    for i, (dev, channels) in enumerate(board.monitors.items()):
        if board.layout == "hwmon":
            folder = root / f"sys/bus/i2c/drivers/ina3221/{dev}/hwmon/hwmon{i + 1}"
            for n, (label, mv, ma) in enumerate(channels, start=1):
                _write(folder / f"in{n}_label", label + "\n")
                _write(folder / f"in{n}_input", f"{mv}\n")
                _write(folder / f"curr{n}_input", f"{ma}\n")
                _write(folder / f"in{n + 3}_input", "120\n")       # shunt voltage, not a rail
            _write(folder / "in7_label", "sum of shunt voltages\n")
            _write(folder / "in7_input", "360\n")
        else:
            folder = root / f"sys/bus/i2c/drivers/ina3221x/{dev}/iio:device{i}"
            for n, (label, mv, ma) in enumerate(channels):
                _write(folder / f"rail_name_{n}", label + "\n")
                _write(folder / f"in_voltage{n}_input", f"{mv}\n")
                _write(folder / f"in_current{n}_input", f"{ma}\n")
                _write(folder / f"in_power{n}_input", f"{mv * ma // 1000}\n")
    for z, name in enumerate(["CPU-therm", "GPU-therm", "PMIC-Die"]):
        zone = root / f"sys/class/thermal/thermal_zone{z}"
        _write(zone / "type", name + "\n")
        _write(zone / "temp", f"{int((100.0 if name == 'PMIC-Die' else thermal_c) * 1000)}\n")
        _write(zone / "trip_point_0_type", "passive\n")
        _write(zone / "trip_point_0_temp", f"{int(passive_trip_c * 1000)}\n")
        _write(zone / "trip_point_1_type", "critical\n")
        _write(zone / "trip_point_1_temp", "105000\n")
    _write(root / "proc/meminfo", "MemTotal:        7620000 kB\nMemFree:  1000000 kB\nMemAvailable:    3810000 kB\n")
    return root


def build_host_tree(root: Path) -> Path:
    """A fake `/` of an ordinary x86 host (no Jetson files)."""
    _write(root / "proc/meminfo", "MemTotal: 16000000 kB\nMemAvailable: 8000000 kB\n")
    return root


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_tegrastats(folder: Path, trace: Path) -> Path:
    """A `tegrastats --interval N` that prints the recorded lines of `trace` in a loop every N ms."""
    return _script(folder / "tegrastats", f"""\
        import sys, time
        args = sys.argv[1:]
        interval_ms = int(args[args.index("--interval") + 1]) if "--interval" in args else 1000
        lines = [l for l in open({str(trace)!r}).read().splitlines() if l.strip()]
        i = 0
        while True:
            time.sleep(interval_ms / 1000.0)
            print(lines[i % len(lines)], flush=True)
            i += 1
        """)


def build_powercap_tree(root: Path, max_range_uj: int) -> Path:
    """A fake `/` whose RAPL package domain's `energy_uj` is a FIFO: each read gets the next value a fake counter
    script writes (see fake_rapl_counter). Returns the FIFO's path."""
    zone = root / "sys/class/powercap/intel-rapl:0"
    _write(zone / "name", "package-0\n")
    _write(zone / "max_energy_range_uj", f"{max_range_uj}\n")
    _write(root / "proc/meminfo", "MemTotal: 16000000 kB\nMemAvailable: 8000000 kB\n")
    fifo = zone / "energy_uj"
    os.mkfifo(fifo)
    return fifo


def fake_rapl_counter(folder: Path, fifo: Path, start_uj: int, increments_uj: list[int], max_range_uj: int,
                      pause_s: float = 0.1) -> subprocess.Popen:
    """A RAPL package counter at the OS boundary, read by read: the k-th read of `fifo` returns start + the first k
    increments, wrapped at max_range (as the hardware counter wraps). After the list it keeps adding the last one.

    The writer opens the FIFO (blocking until a reader opens it), writes one value, closes, and pauses `pause_s`
    before serving the next read, so a reader always gets exactly one value before EOF. A reader that comes during
    the pause simply waits: the pause lengthens windows, never changes a value."""
    script = _script(folder / "fake_rapl_counter", f"""\
        import sys, time
        value, incs, top = {start_uj}, {list(increments_uj)!r}, {max_range_uj}
        k = 0
        while True:
            with open({str(fifo)!r}, "w") as f:
                f.write(f"{{value}}\\n")
            value = (value + incs[min(k, len(incs) - 1)]) % top
            k += 1
            time.sleep({pause_s})
        """)
    return subprocess.Popen([str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


NVPMODEL_OUTPUT = "NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n"


def fake_nvpmodel(folder: Path, output: str = NVPMODEL_OUTPUT) -> Path:
    return _script(folder / "nvpmodel", f"""\
        import sys
        if sys.argv[1:] == ["-q"]:
            sys.stdout.write({output!r})
        else:
            sys.exit("usage: nvpmodel -q")
        """)


def fake_jetson_clocks(folder: Path, state: Path) -> Path:
    """jetson_clocks that keeps its clocks in `state` ("default" or "max"); --store/--restore copy that file and
    every call is appended to `state`.log so tests can check the order."""
    state.write_text("default")
    return _script(folder / "jetson_clocks", f"""\
        import sys, shutil
        state = {str(state)!r}
        args = sys.argv[1:]
        open(state + ".log", "a").write(" ".join(args or ["<lock>"]) + "\\n")
        cur = open(state).read().strip()
        if args[:1] == ["--store"]:
            shutil.copyfile(state, args[1])
        elif args[:1] == ["--restore"]:
            shutil.copyfile(args[1], state)
        elif args[:1] == ["--show"]:
            lo, hi = ("1479000", "1479000") if cur == "max" else ("102000", "1479000")
            glo = "921600000" if cur == "max" else "76800000"
            print("SOC family:tegra210  Machine:NVIDIA Jetson Nano Developer Kit")
            print("Online CPUs: 0-3")
            for c in range(4):
                print(f"cpu{{c}}: Online=1 Governor=schedutil MinFreq={{lo}} MaxFreq={{hi}} CurrentFreq={{hi}} "
                      "IdleStates: WFI=1 c7=1")
            print(f"GPU MinFreq={{glo}} MaxFreq=921600000 CurrentFreq={{glo}}")
            print("EMC MinFreq=204000000 MaxFreq=1600000000 CurrentFreq=1600000000 FreqOverride=0")
            print("Fan: PWM=0")
            print("NV Power Mode: MAXN")
        elif not args:
            open(state, "w").write("max")
        else:
            sys.exit("unknown args")
        """)


def make_tools_dir(folder: Path, tegrastats_trace: Path, clocks_state: Path) -> Path:
    """A HARNESS_TOOLS_DIR: tegrastats printing `tegrastats_trace`, nvpmodel, jetson_clocks (state in a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    fake_tegrastats(folder, tegrastats_trace)
    fake_nvpmodel(folder)
    fake_jetson_clocks(folder, clocks_state)
    return folder


@pytest.fixture(params=sorted(BOARDS))
def board_key(request) -> str:
    return request.param


@pytest.fixture
def tools(tmp_path):
    """Fake nvpmodel and jetson_clocks (state in tmp), returned as an options dict for ProfileConfig."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "clocks.state"
    return {
        "nvpmodel_cmd": str(fake_nvpmodel(bin_dir)),
        "jetson_clocks_cmd": str(fake_jetson_clocks(bin_dir, state)),
        "jetson_clocks_store_file": str(tmp_path / "clocks.stored"),
        "_state": state,
    }


def options_without_private(opts: dict) -> dict:
    return {k: v for k, v in opts.items() if not k.startswith("_")}


__all__ = ["BOARDS", "EXPECTED_TOTAL_MW", "LAYOUT_VARIANTS", "LAYOUT_VARIANT_TOTALS", "TEGRASTATS_TRACES", "FakeBoard", "board_key", "build_board_tree",
           "build_host_tree", "build_powercap_tree", "fake_rapl_counter", "make_tools_dir", "fake_jetson_clocks", "fake_nvpmodel", "fake_tegrastats", "options_without_private",
           "tools"]
