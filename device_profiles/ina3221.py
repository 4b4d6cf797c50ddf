"""INA3221 power monitors on Jetson boards, read from sysfs.

Two driver layouts exist:
- JetPack 5/6 (mainline `ina3221` hwmon driver): `sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmon*/`
  with `in{N}_label`, `in{N}_input` (bus voltage, mV) and `curr{N}_input` (mA) for channels N = 1..3;
  in4-6 are shunt voltages and in7 their sum, which are not rails.
- JetPack 4 (L4T `ina3221x` IIO driver): `sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device*/` with
  `rail_name_{N}`, `in_power{N}_input` (mW), `in_voltage{N}_input` (mV), `in_current{N}_input` (mA), N = 0..2.
Channels labelled `NC` (not connected, AGX Orin) are skipped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from harness.device_profiles.base import Sensor
from harness.device_profiles.jetson_power import PowerSeries, TotalRule, total_rule

HWMON_GLOB = "sys/bus/i2c/drivers/ina3221*/*/hwmon/hwmon*"
IIO_GLOB = "sys/bus/i2c/drivers/ina3221*/*/iio:device*"
NOT_CONNECTED = "NC"


@dataclass(frozen=True)
class RailChannel:
    """One INA3221 channel: either a power file (mW) or a voltage (mV) and current (mA) pair."""

    name: str
    layout: str                   # "hwmon" (JetPack 5/6) or "iio" (JetPack 4)
    voltage_path: Path | None
    current_path: Path | None
    power_path: Path | None = None

    def read_mw(self) -> float:
        if self.power_path is not None:
            return float(_read_int(self.power_path))
        return _read_int(self.voltage_path) * _read_int(self.current_path) / 1000.0  # mV * mA / 1000 = mW


def _read_int(path: Path | None) -> int:
    if path is None:
        raise OSError("no such channel file")
    # some L4T attributes carry a unit suffix ("32760 ma"); the number comes first
    return int(path.read_text().split()[0])


def _hwmon_channels(folder: Path) -> list[RailChannel]:
    rails = []
    for n in (1, 2, 3):
        label = folder / f"in{n}_label"
        if not label.exists():
            continue
        name = label.read_text().strip()
        enable = folder / f"in{n}_enable"
        if name == NOT_CONNECTED or (enable.exists() and enable.read_text().strip() == "0"):
            continue
        rails.append(RailChannel(name, "hwmon", folder / f"in{n}_input", folder / f"curr{n}_input"))
    return rails


def _iio_channels(folder: Path) -> list[RailChannel]:
    rails = []
    for label in sorted(folder.glob("rail_name_*")):
        n = label.name.rsplit("_", 1)[1]
        name = label.read_text().strip()
        if not n.isdigit() or name == NOT_CONNECTED:
            continue
        power = folder / f"in_power{n}_input"
        rails.append(RailChannel(name, "iio", folder / f"in_voltage{n}_input", folder / f"in_current{n}_input",
                                 power if power.exists() else None))
    return rails


def find_rails(root: str = "/") -> tuple[list[RailChannel], str | None]:
    """All INA3221 rails under `root`, or ([], reason)."""
    base = Path(root)
    rails: list[RailChannel] = []
    for folder in sorted(base.glob(HWMON_GLOB)):
        rails += _hwmon_channels(folder)
    for folder in sorted(base.glob(IIO_GLOB)):
        rails += _iio_channels(folder)
    if not rails:
        return [], f"no INA3221 rails under {base / 'sys/bus/i2c/drivers'} (ina3221 hwmon or ina3221x iio)"
    unreadable = []
    for rail in rails:
        try:
            rail.read_mw()
        except (OSError, ValueError) as exc:
            unreadable.append(f"{rail.name} ({exc.__class__.__name__})")
    if unreadable:
        return [], f"INA3221 rails not readable: {', '.join(unreadable)}"
    return rails, None


def read_rails_mw(rails: Sequence[RailChannel]) -> dict[str, float]:
    out = {}
    for rail in rails:
        out[rail.name] = rail.read_mw()
    return out


class Ina3221Sensor(Sensor):
    """Polls every rail each sample interval and integrates power over time (trapezoid).

    Readings at the window's start and stop anchor the integral to the window's edges."""

    name = "ina3221"
    polled = True

    def __init__(self, rails: Sequence[RailChannel], board_total_rails: Sequence[str] = (),
                 board_scope: str | None = None, override: Sequence[str] | None = None):
        self._rails = list(rails)
        self._rule, self._rule_reason = total_rule([r.name for r in rails], board_total_rails, board_scope, override)
        self._series = PowerSeries()
        self._errors: list[str] = []
        self._t0 = 0.0

    @property
    def rule(self) -> TotalRule | None:
        return self._rule

    def _sample_at(self, t_s: float) -> None:
        try:
            self._series.add(t_s, read_rails_mw(self._rails))
        except (OSError, ValueError) as exc:
            if len(self._errors) < 3:
                self._errors.append(f"INA3221 read failed: {exc}")

    def start(self, pid: int | None) -> None:
        self._t0 = time.perf_counter()
        self._sample_at(0.0)

    def sample(self, t_s: float) -> None:
        # the sampler's clock starts a hair before ours; keep our own so edge samples stay ordered
        self._sample_at(time.perf_counter() - self._t0)

    def stop(self, duration_s: float) -> dict[str, Any]:
        self._sample_at(time.perf_counter() - self._t0)
        out = self._series.reading(self._rule, self._rule_reason, "ina3221", duration_s)
        out["extra"]["power_layout"] = self._rails[0].layout if self._rails else None
        if self._errors:
            out["warnings"] = [*out.get("warnings", []), *self._errors]
        return out
