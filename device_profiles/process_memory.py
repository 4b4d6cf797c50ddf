"""Peak resident memory of the worker process, sampled from outside it (psutil)."""
from __future__ import annotations

from typing import Any

import psutil

from harness.device_profiles.base import Sensor


class ProcessMemorySensor(Sensor):
    """Samples the worker's RSS; the worker reports its own ru_maxrss separately, which catches short peaks."""

    name = "process_memory"
    polled = True

    def __init__(self) -> None:
        self._proc: psutil.Process | None = None
        self._peak = 0
        self._samples = 0
        self._reason: str | None = None

    def _read(self) -> None:
        if self._proc is None:
            return
        try:
            rss = self._proc.memory_info().rss
        except (psutil.Error, OSError) as exc:
            self._reason = f"cannot read worker memory: {exc}"
            self._proc = None
            return
        self._samples += 1
        self._peak = max(self._peak, rss)

    def start(self, pid: int | None) -> None:
        if pid is None:
            self._reason = "no worker process in this window"
            return
        try:
            self._proc = psutil.Process(pid)
        except psutil.Error as exc:
            self._reason = f"worker process not found: {exc}"
        self._read()

    def sample(self, t_s: float) -> None:
        self._read()

    def stop(self, duration_s: float) -> dict[str, Any]:
        self._read()
        out: dict[str, Any] = {"extra": {"rss_samples": self._samples}}
        if self._samples:
            out["peak_rss_bytes"] = self._peak
        elif self._reason:
            out["extra"]["rss_reason"] = self._reason
        return out
