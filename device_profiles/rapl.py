"""CPU package energy from Linux powercap (RAPL), Intel and AMD (the `intel-rapl` powercap driver serves both).

Reading `energy_uj` usually needs root since Linux 5.10; where it is unreadable, energy is None with the reason.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.device_profiles.base import Sensor
from harness.device_profiles.energy import counter_delta


@dataclass(frozen=True)
class RaplDomain:
    name: str
    energy_path: Path
    max_range_uj: int | None


def find_package_domains(root: str = "/") -> tuple[list[RaplDomain], str | None]:
    """Top-level RAPL package domains (not their core/uncore/dram children, which the package already includes)."""
    base = Path(root, "sys/class/powercap")
    if not base.is_dir():
        return [], f"{base} does not exist (no powercap driver on this host)"
    domains = []
    for zone in sorted(base.glob("*-rapl:*")):
        if zone.name.count(":") != 1:  # intel-rapl:0:0 is a sub-domain of intel-rapl:0
            continue
        name_file, energy = zone / "name", zone / "energy_uj"
        if not energy.exists():
            continue
        name = name_file.read_text().strip() if name_file.exists() else zone.name
        max_file = zone / "max_energy_range_uj"
        try:
            max_range = int(max_file.read_text()) if max_file.exists() else None
        except (OSError, ValueError):
            max_range = None
        domains.append(RaplDomain(name, energy, max_range))
    if not domains:
        return [], f"no RAPL package domain under {base}"
    return domains, None


class RaplSensor(Sensor):
    """Cumulative package energy counters, read at window edges (no sampling needed)."""

    name = "rapl"

    def __init__(self, root: str = "/"):
        self._domains, self._reason = find_package_domains(root)
        self._start: dict[str, int] = {}

    def _read_all(self) -> dict[str, int] | None:
        values = {}
        for d in self._domains:
            try:
                values[d.name + str(d.energy_path)] = int(d.energy_path.read_text())
            except PermissionError:
                self._reason = f"{d.energy_path} is not readable by uid {os.getuid()} (RAPL needs root)"
                return None
            except (OSError, ValueError) as exc:
                self._reason = f"cannot read {d.energy_path}: {exc}"
                return None
        return values

    def start(self, pid: int | None) -> None:
        self._start = (self._read_all() or {}) if self._domains else {}

    def stop(self, duration_s: float) -> dict[str, Any]:
        if not self._domains or not self._start:
            return {"energy_reason": f"CPU energy unavailable: {self._reason}"}
        end = self._read_all()
        if end is None:
            return {"energy_reason": f"CPU energy unavailable: {self._reason}"}
        total_uj = 0
        for d in self._domains:
            key = d.name + str(d.energy_path)
            total_uj += counter_delta(self._start[key], end[key], d.max_range_uj)
        return {
            "energy_mj": total_uj / 1000.0,
            "energy_source": "rapl",
            "energy_scope": "cpu packages: " + ", ".join(d.name for d in self._domains),
        }
