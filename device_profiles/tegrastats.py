"""tegrastats: the fallback power source on Jetson when INA3221 sysfs is not readable, and a parser for its lines.

Formats seen across JetPack releases:
- Nano/TX1 (JetPack 4): `POM_5V_IN 4520/4680` (mW, current/average, no unit);
- TX2 / Xavier (JetPack 4): `VDD_IN 14025/14416`, AGX Xavier `GPU 0/0 CPU 311/311 ... SYS5V 1681/1681`;
- Orin and JetPack 5/6: `VDD_IN 2957mW/2957mW`, an optional leading timestamp, `GR3D_FREQ 0%@[305]`;
- three values per rail (`cur/avg/max`) are accepted too; only the first (current) value is integrated;
- AGX Orin on JetPack 5 prints its unconnected INA3221 channels as `NC 0mW/0mW` (skipped, not a rail); on
  JetPack 6 it prints three of its four channels (see jetson_power's partial sum);
- temperatures as `CPU@45C`, `cpu@44.125C` or `cpu@50C/50C` (current/max), `CV0@-256C` for an absent sensor;
- cores powered down print `off` in the CPU list; `EMC_FREQ` can be absent, bare (`0%`) or `0%@2133`.
The recorded lines of every family are in tests/data/tegrastats (with their sources).
The current value is the instantaneous reading at the sample; the second is tegrastats' running average since it
started, which is useless for a window and is kept only for reference.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from harness.device_profiles.base import Sensor
from harness.device_profiles.jetson_power import PowerSeries, TotalRule, clip_to_window, total_rule
from harness.core.errors import SensorError

DEFAULT_INTERVAL_MS = 100

_NUM = r"(\d+(?:\.\d+)?)"
# a rail is an upper-case name followed by 2 or 3 slash-separated numbers, each optionally suffixed "mW"
RAIL_RE = re.compile(rf"(?:(?<=\s)|^)([A-Z][A-Z0-9_]*) {_NUM}(?:mW)?/{_NUM}(?:mW)?(?:/{_NUM}(?:mW)?)?(?=\s|$)")
# `name@45.5C`, or `name@45.5C/47C` (current/max) on newer releases; the current value is kept
TEMP_RE = re.compile(r"(?:(?<=\s)|^)([A-Za-z][\w]*)@(-?\d+(?:\.\d+)?)C(?:/-?\d+(?:\.\d+)?C)?(?=\s|$)")
# `tegrastats --logfile` and JetPack 5/6 prefix each line with the local time (1 s resolution)
TIMESTAMP_RE = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s")
TIMESTAMP_FORMAT = "%m-%d-%Y %H:%M:%S"
# placeholder names, not rails: unconnected INA3221 channels
NOT_RAILS = ("RAM", "SWAP", "IRAM", "NC")
ABSENT_SENSOR_C = -256.0
RAM_RE = re.compile(r"\bRAM (\d+)/(\d+)MB")
SWAP_RE = re.compile(r"\bSWAP (\d+)/(\d+)MB")
GR3D_RE = re.compile(r"\bGR3D_FREQ (\d+)%(?:@\[?(\d+))?")
EMC_RE = re.compile(r"\bEMC_FREQ (\d+)%(?:@(\d+))?")
CPU_RE = re.compile(r"\bCPU \[([^\]]*)\]")


@dataclass(frozen=True)
class TegrastatsSample:
    rails_mw: dict[str, float]
    rails_avg_mw: dict[str, float] = field(default_factory=dict)
    temps_c: dict[str, float] = field(default_factory=dict)
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    gpu_load_pct: int | None = None
    gpu_freq_mhz: int | None = None
    emc_load_pct: int | None = None
    cpu_load_pct: list[int | None] = field(default_factory=list)
    timestamp: datetime | None = None


def parse_line(line: str) -> TegrastatsSample:
    """Parse one tegrastats line. Raises SensorError when the line holds nothing tegrastats would print."""
    rails, avgs = {}, {}
    for name, cur, avg, _peak in RAIL_RE.findall(line):
        if name in NOT_RAILS:
            continue
        rails[name] = float(cur)
        avgs[name] = float(avg)
    # -256 C is what tegrastats prints for a zone whose sensor is absent (CV0@-256C on Orin): not a reading
    temps = {name: float(v) for name, v in TEMP_RE.findall(line) if float(v) != ABSENT_SENSOR_C}
    ram = RAM_RE.search(line)
    gr3d = GR3D_RE.search(line)
    emc = EMC_RE.search(line)
    cpus = CPU_RE.search(line)
    if not (rails or temps or ram):
        raise SensorError(f"not a tegrastats line: {line.strip()[:80]!r}")
    stamp = TIMESTAMP_RE.match(line)
    when = None
    if stamp:
        try:
            when = datetime.strptime(stamp.group(1), TIMESTAMP_FORMAT)
        except ValueError:   # 13-45-2025: not a date; the line's data still stands
            when = None
    cpu_load: list[int | None] = []
    if cpus:
        for core in cpus.group(1).split(","):
            m = re.match(r"\s*(\d+)%", core)
            cpu_load.append(int(m.group(1)) if m else None)   # "off" cores have no load
    return TegrastatsSample(
        rails_mw=rails, rails_avg_mw=avgs, temps_c=temps,
        ram_used_mb=int(ram.group(1)) if ram else None, ram_total_mb=int(ram.group(2)) if ram else None,
        gpu_load_pct=int(gr3d.group(1)) if gr3d else None,
        gpu_freq_mhz=int(gr3d.group(2)) if gr3d and gr3d.group(2) else None,
        emc_load_pct=int(emc.group(1)) if emc else None, cpu_load_pct=cpu_load, timestamp=when)


def command_args(cmd: str | Sequence[str]) -> list[str]:
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


class TegrastatsStream:
    """One long-running `tegrastats --interval N` process; windows take time slices of its samples.

    Starting tegrastats per window would lose the first interval of every window, so the profile keeps one
    stream for the whole run (started at setup or at the first window, stopped at teardown)."""

    def __init__(self, cmd: str | Sequence[str] = "tegrastats", interval_ms: int = DEFAULT_INTERVAL_MS,
                 keep_s: float = 600.0):
        self.cmd = command_args(cmd)
        self.interval_ms = int(interval_ms)
        self.keep_s = keep_s
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self.samples: list[tuple[float, TegrastatsSample]] = []
        self.bad_lines = 0
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self._proc is not None:
            return
        try:
            self._proc = subprocess.Popen([*self.cmd, "--interval", str(self.interval_ms)], stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, bufsize=1)
        except OSError as exc:
            raise SensorError(f"cannot start tegrastats ({' '.join(self.cmd)}): {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._read, daemon=True, name="tegrastats-reader")
        self._thread.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            t = time.perf_counter()
            if not line.strip():
                continue
            try:
                sample = parse_line(line)
            except SensorError:
                self.bad_lines += 1
                continue
            with self._new:
                self.samples.append((t, sample))
                cutoff = t - self.keep_s
                while self.samples and self.samples[0][0] < cutoff:
                    self.samples.pop(0)
                self._new.notify_all()
        with self._new:
            if self._proc.poll() not in (None, 0, -15):
                self.error = f"tegrastats exited with code {self._proc.returncode}"
            self._new.notify_all()

    def wait_for_sample_after(self, t: float, timeout_s: float) -> bool:
        """Block until a sample newer than `t` arrives (so a window's right edge can be interpolated)."""
        deadline = time.perf_counter() + timeout_s
        with self._new:
            while not (self.samples and self.samples[-1][0] >= t):
                left = deadline - time.perf_counter()
                if left <= 0 or not self.running:
                    return False
                self._new.wait(left)
            return True

    def between(self, t0: float, t1: float, margin_s: float) -> list[tuple[float, TegrastatsSample]]:
        with self._lock:
            return [s for s in self.samples if t0 - margin_s <= s[0] <= t1 + margin_s]

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=3)
        if self._thread is not None:
            self._thread.join(timeout=3)
        self._proc = None


class TegrastatsSensor(Sensor):
    """Energy of a window from a running TegrastatsStream: the current-power values integrated over time."""

    name = "tegrastats"

    def __init__(self, stream: TegrastatsStream, board_total_rails: Sequence[str] = (),
                 board_scope: str | None = None, override: Sequence[str] | None = None):
        self._stream = stream
        self._board = (tuple(board_total_rails), board_scope, override)
        self._t0 = 0.0

    def start(self, pid: int | None) -> None:
        self._stream.start()
        self._t0 = time.perf_counter()

    def stop(self, duration_s: float) -> dict[str, Any]:
        t1 = time.perf_counter()
        interval_s = self._stream.interval_ms / 1000.0
        # wait for the sample after the window so its right edge is interpolated rather than held
        self._stream.wait_for_sample_after(t1, timeout_s=3 * interval_s + 0.5)
        raw = self._stream.between(self._t0, t1, margin_s=2 * interval_s)
        inside = [s for s in raw if self._t0 <= s[0] <= t1]
        warnings = []
        if self._stream.error:
            warnings.append(self._stream.error)
        if not raw:
            return {"energy_reason": f"tegrastats produced no samples ({' '.join(self._stream.cmd)})",
                    "extra": {"power_source": "tegrastats"}, "warnings": warnings}
        rails_seen = sorted(set().union(*(s.rails_mw for _, s in raw)))
        rule, reason = total_rule(rails_seen, *self._board)
        series = PowerSeries()
        clipped = clip_to_window([(t, s.rails_mw) for t, s in raw], self._t0, t1)
        if not inside:
            return {"energy_reason": f"tegrastats: window ({duration_s * 1000:.0f} ms) holds no sample at "
                                     f"--interval {self._stream.interval_ms} ms; lengthen the window",
                    "extra": {"power_source": "tegrastats"}, "warnings": warnings}
        for t, rails in clipped:
            series.add(t - self._t0, rails)
        out = series.reading(rule, reason, "tegrastats", duration_s)
        if len(inside) < 5:
            warnings.append(f"tegrastats gave only {len(inside)} samples in this window "
                            f"(interval {self._stream.interval_ms} ms); energy is coarse")
        out["extra"].update(_summaries([s for _, s in inside]))
        out["warnings"] = [*out.get("warnings", []), *warnings]
        return out


def _summaries(samples: Sequence[TegrastatsSample]) -> dict[str, Any]:
    """Temperature maxima, RAM peak and GPU load seen in the window's tegrastats samples."""
    out: dict[str, Any] = {}
    temps: dict[str, float] = {}
    for s in samples:
        for k, v in s.temps_c.items():
            temps[k] = max(v, temps.get(k, v))
    if temps:
        out["tegrastats_temp_max_c"] = temps
    ram = [s.ram_used_mb for s in samples if s.ram_used_mb is not None]
    if ram:
        out["tegrastats_ram_used_peak_mb"] = max(ram)
    gpu = [s.gpu_load_pct for s in samples if s.gpu_load_pct is not None]
    if gpu:
        out["tegrastats_gpu_load_mean_pct"] = sum(gpu) / len(gpu)
    return out


def rule_for(rails: Sequence[str], board_total_rails: Sequence[str] = (), board_scope: str | None = None,
             override: Sequence[str] | None = None) -> tuple[TotalRule | None, str | None]:
    return total_rule(rails, board_total_rails, board_scope, override)
