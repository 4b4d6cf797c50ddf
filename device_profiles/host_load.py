"""How busy the rest of the host was while the worker was timed.

On shared machines the neighbours are the largest source of error: this sensor turns "the machine may be busy"
into a figure. It takes the host's busy CPU time in the window (psutil.cpu_times: everything but idle and
iowait) and subtracts what the worker and this process (the sampler threads) used; what is left was used by other
processes. `steal` is time the hypervisor gave to other VMs. Both are in cores (CPU-seconds per second).
"""
from __future__ import annotations

from typing import Any

import psutil

from harness.device_profiles.base import Sensor

# a quarter of a core used by others while timing is enough to move a p50 by a few percent on a small host
BUSY_OTHER_CORES = 0.25


def _busy_and_steal() -> tuple[float, float]:
    t = psutil.cpu_times()
    steal = getattr(t, "steal", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    # guest time is already counted in user time on Linux
    total -= getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    return total - idle - steal, steal


def _process_cpu(proc: psutil.Process | None) -> float | None:
    if proc is None:
        return None
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except (psutil.Error, OSError):
        return None


class HostLoadSensor(Sensor):
    name = "host_load"

    def __init__(self) -> None:
        self._worker: psutil.Process | None = None
        self._self = psutil.Process()
        self._start: tuple[float, float, float | None, float | None] | None = None

    def start(self, pid: int | None) -> None:
        try:
            self._worker = psutil.Process(pid) if pid else None
        except psutil.Error:
            self._worker = None
        busy, steal = _busy_and_steal()
        self._start = (busy, steal, _process_cpu(self._worker), _process_cpu(self._self))

    def stop(self, duration_s: float) -> dict[str, Any]:
        if self._start is None or duration_s <= 0:
            return {}
        busy0, steal0, worker0, self0 = self._start
        busy1, steal1 = _busy_and_steal()
        worker1, self1 = _process_cpu(self._worker), _process_cpu(self._self)
        worker = (worker1 - worker0) if worker0 is not None and worker1 is not None else 0.0
        own = (self1 - self0) if self0 is not None and self1 is not None else 0.0
        if self._worker is not None and self._worker.pid == self._self.pid:
            own = 0.0  # the window is around this very process: count its time once
        others = max(0.0, (busy1 - busy0) - worker - own) / duration_s
        steal = max(0.0, steal1 - steal0) / duration_s
        return {"extra": {"other_cpu_cores": round(others, 4), "steal_cores": round(steal, 4),
                          "worker_cpu_cores": round(worker / duration_s, 4)}}


def busy_warning(extras: list[dict[str, Any]]) -> str | None:
    """One warning for a measurement whose rounds (window extras) saw other processes or steal above the limit."""
    others = [e["other_cpu_cores"] for e in extras if "other_cpu_cores" in e]
    steal = [e["steal_cores"] for e in extras if "steal_cores" in e]
    busy = [i for i, e in enumerate(extras)
            if e.get("other_cpu_cores", 0) > BUSY_OTHER_CORES or e.get("steal_cores", 0) > BUSY_OTHER_CORES]
    if not busy:
        return None
    text = (f"host busy while timing: other processes used up to {max(others):.2f} cores "
            f"in {len(busy)} of {len(extras)} rounds")
    if steal and max(steal) > 0.01:
        text += f", hypervisor steal up to {max(steal):.2f} cores"
    return text
