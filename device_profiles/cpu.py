"""The `cpu` profile: any Linux host. Memory from psutil, energy from RAPL where readable."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import psutil

from harness.device_profiles.base import Detection, DeviceProfile, ProfileConfig, Sensor
from harness.device_profiles.process_memory import ProcessMemorySensor
from harness.device_profiles.rapl import RaplSensor


def _read(root: str, rel: str) -> str | None:
    try:
        return Path(root, rel).read_text().strip()
    except OSError:
        return None


def cpu_model(root: str = "/") -> str | None:
    text = _read(root, "proc/cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "Model"):
            return value.strip()
    return platform.processor() or None


def cpu_flags(root: str = "/") -> list[str]:
    text = _read(root, "proc/cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return value.split()
    return []


class CpuProfile(DeviceProfile):
    name = "cpu"
    description = "Linux CPU host: psutil memory, RAPL energy when readable"

    @classmethod
    def detect(cls, config: ProfileConfig | None = None) -> Detection:
        return Detection(True)

    def describe(self) -> dict[str, Any]:
        root = self.config.root
        flags = cpu_flags(root)
        freq = _read(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
        return {
            "device": self.name,
            "cpu_model": cpu_model(root),
            "machine": platform.machine(),
            "logical_cores": psutil.cpu_count(logical=True),
            "physical_cores": psutil.cpu_count(logical=False),
            "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "memory_total_bytes": psutil.virtual_memory().total,
            "governor": _read(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            "cpu_freq_khz": int(freq) if freq and freq.isdigit() else None,
            # the int8 kernels onnxruntime can use depend on these
            "isa": [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")
                    if f in flags],
        }

    def fingerprint(self) -> dict[str, Any]:
        d = self.describe()
        return {k: d[k] for k in ("device", "cpu_model", "machine", "logical_cores", "governor", "isa")}

    def sensors(self) -> list[Sensor]:
        return [RaplSensor(self.config.root), ProcessMemorySensor()]
