"""Temperatures, thermal throttling and shared RAM on Jetson, from sysfs/procfs (root injectable)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.device_profiles.base import Sensor

# PMIC-Die on Nano reports a constant 100 C placeholder; it says nothing about throttling
IGNORED_FOR_THROTTLE = ("PMIC",)


@dataclass(frozen=True)
class ThermalZone:
    name: str
    temp_path: Path
    passive_trip_c: float | None     # lowest passive trip point: above it the kernel starts throttling


def find_zones(root: str = "/") -> list[ThermalZone]:
    zones = []
    for folder in sorted(Path(root, "sys/class/thermal").glob("thermal_zone*")):
        try:
            name = (folder / "type").read_text().strip()
        except OSError:
            continue
        trips = []
        for trip_type in folder.glob("trip_point_*_type"):
            try:
                if trip_type.read_text().strip() == "passive":
                    temp_file = trip_type.with_name(trip_type.name.replace("_type", "_temp"))
                    trips.append(int(temp_file.read_text().split()[0]) / 1000.0)
            except (OSError, ValueError):
                continue
        zones.append(ThermalZone(name, folder / "temp", min(trips) if trips else None))
    return zones


def read_ram_used_bytes(root: str = "/") -> tuple[int | None, int | None]:
    """(used, total) RAM in bytes from /proc/meminfo: MemTotal - MemAvailable. CPU and GPU share it on Jetson."""
    try:
        text = Path(root, "proc/meminfo").read_text()
    except OSError:
        return None, None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * 1024   # meminfo is in kB
    if "MemTotal" not in values or "MemAvailable" not in values:
        return None, values.get("MemTotal")
    return values["MemTotal"] - values["MemAvailable"], values["MemTotal"]


class JetsonThermalMemorySensor(Sensor):
    """Samples thermal zones (max per zone, throttle flag) and shared RAM use (peak) during the window."""

    name = "jetson_thermal_memory"
    polled = True

    def __init__(self, root: str = "/"):
        self._root = root
        self._zones = find_zones(root)
        self._max_c: dict[str, float] = {}
        self._throttled_zones: set[str] = set()
        self._ram_peak: int | None = None
        self._ram_total: int | None = None
        self._temp_reads = 0

    def _read(self) -> None:
        for zone in self._zones:
            try:
                temp_c = int(zone.temp_path.read_text().split()[0]) / 1000.0
            except (OSError, ValueError, IndexError):
                continue
            self._temp_reads += 1
            self._max_c[zone.name] = max(temp_c, self._max_c.get(zone.name, temp_c))
            if (zone.passive_trip_c is not None and temp_c >= zone.passive_trip_c
                    and not any(tag in zone.name for tag in IGNORED_FOR_THROTTLE)):
                self._throttled_zones.add(zone.name)
        used, total = read_ram_used_bytes(self._root)
        if used is not None:
            self._ram_peak = max(used, self._ram_peak or used)
            self._ram_total = total

    def start(self, pid: int | None) -> None:
        self._read()

    def sample(self, t_s: float) -> None:
        self._read()

    def stop(self, duration_s: float) -> dict[str, Any]:
        self._read()
        extra: dict[str, Any] = {}
        out: dict[str, Any] = {"extra": extra}
        if self._max_c:
            extra["temp_max_c"] = self._max_c
        if self._temp_reads:
            out["throttled"] = bool(self._throttled_zones)
            if self._throttled_zones:
                extra["throttled_zones"] = sorted(self._throttled_zones)
                out["warnings"] = [f"thermal throttling: {', '.join(sorted(self._throttled_zones))} reached a "
                                   f"passive trip point"]
        else:
            extra["thermal_reason"] = "no readable thermal zone under sys/class/thermal"
        if self._ram_peak is not None:
            # shared by CPU and GPU and all processes: a board-level figure, not the worker's
            extra["ram_used_peak_bytes"] = self._ram_peak
            extra["ram_total_bytes"] = self._ram_total
        return out
