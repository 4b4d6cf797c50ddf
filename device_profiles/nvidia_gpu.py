"""The `nvidia-gpu` profile: discrete/datacenter NVIDIA GPUs through NVML (nvidia-ml-py, imported lazily).

Energy: the cumulative `nvmlDeviceGetTotalEnergyConsumption` counter (mJ, Volta and newer) read at the window's
edges; where the GPU lacks it, `nvmlDeviceGetPowerUsage` samples integrated by time. The counter advances in
steps of roughly NVML_ENERGY_UPDATE_PERIOD_S, so windows shorter than MIN_WINDOW_PERIODS of those are flagged.
Sampled during each window: power, memory (whole GPU and the worker's own), SM/memory clocks, temperature and
clock-event (throttle) reasons. Other processes on the GPU are reported, or refused with `exclusive`.

NVML enumerates GPUs in PCI bus order while CUDA defaults to "fastest first"; the profile sets
CUDA_DEVICE_ORDER=PCI_BUS_ID (inherited by the worker it spawns) so `gpu_index` names the same GPU in both.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

from harness.device_profiles.base import Detection, DeviceProfile, ProfileConfig, Sensor
from harness.device_profiles.energy import counter_delta, integrate_power_mj
from harness.device_profiles.process_memory import ProcessMemorySensor
from harness.core.errors import DeviceError
from harness.core.import_utils import is_pynvml_available, missing_extra_message

# The energy counter (and power reading) is refreshed about every 100 ms on recent GPUs (ml.energy's
# measurements; NVML documents no figure). A window needs many updates for the delta to be meaningful.
NVML_ENERGY_UPDATE_PERIOD_S = 0.1
MIN_WINDOW_PERIODS = 10
REQUIRED_DEVICE_ORDER = "PCI_BUS_ID"

# clock-event reason bits that mean the GPU was slowed down (idle, app-clock and sync-boost bits are not)
THROTTLE_REASONS = {
    "SwPowerCap": 0x4, "HwSlowdown": 0x8, "SwThermalSlowdown": 0x20, "HwThermalSlowdown": 0x40,
    "HwPowerBrakeSlowdown": 0x80,
}
OTHER_REASONS = {"GpuIdle": 0x1, "ApplicationsClocksSetting": 0x2, "SyncBoost": 0x10, "DisplayClockSetting": 0x100}


def _nvml():
    import pynvml

    return pynvml


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def nvml_try(fn: Callable, *args: Any) -> Any:
    """Call an NVML function; None where the GPU or driver does not support it."""
    nvml = _nvml()
    try:
        return _text(fn(*args))
    except nvml.NVMLError:
        return None


def decode_reasons(mask: int | None) -> list[str]:
    if not mask:
        return []
    return [name for name, bit in {**THROTTLE_REASONS, **OTHER_REASONS}.items() if mask & bit]


def is_throttling(mask: int | None) -> bool | None:
    if mask is None:
        return None
    return any(mask & bit for bit in THROTTLE_REASONS.values())


def cuda_version_text(value: int | None) -> str | None:
    """NVML's CUDA driver version integer (12040) as "12.4"."""
    if not value:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def ensure_device_order() -> str:
    """Set CUDA_DEVICE_ORDER=PCI_BUS_ID unless the user chose another order (then NVML and CUDA may disagree)."""
    current = os.environ.get("CUDA_DEVICE_ORDER")
    if current is None:
        os.environ["CUDA_DEVICE_ORDER"] = REQUIRED_DEVICE_ORDER
        return REQUIRED_DEVICE_ORDER
    if current != REQUIRED_DEVICE_ORDER:
        raise DeviceError(f"CUDA_DEVICE_ORDER={current} makes CUDA and NVML number GPUs differently; "
                          f"unset it or set CUDA_DEVICE_ORDER={REQUIRED_DEVICE_ORDER}")
    return current


def gpu_processes(nvml, handle) -> list[tuple[int, int | None]]:
    """(pid, used GPU memory bytes or None) of compute and graphics processes on the GPU."""
    out: dict[int, int | None] = {}
    for name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        fn = getattr(nvml, name, None)
        if fn is None:
            continue
        try:
            procs = fn(handle)
        except nvml.NVMLError:
            continue
        for p in procs:
            used = getattr(p, "usedGpuMemory", None)
            # NVML reports "not available" (e.g. in containers) as None or as a huge sentinel
            if used is not None and used >= 2**63:
                used = None
            out[p.pid] = used if out.get(p.pid) is None else out[p.pid]
    return sorted(out.items())


def clock_event_reasons(nvml, handle) -> int | None:
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        fn = getattr(nvml, name, None)
        if fn is None:
            continue
        try:
            return int(fn(handle))
        except nvml.NVMLError:
            continue
    return None


class NvmlSensor(Sensor):
    """Energy counter deltas (or integrated power), memory, clocks, temperature and throttling of one GPU."""

    name = "nvml"
    polled = True

    def __init__(self, nvml, handle, own_pids: tuple[int, ...] = ()):
        self._nvml = nvml
        self._h = handle
        self._own = set(own_pids)
        self._pid: int | None = None
        self._energy_start: int | None = None
        self._energy_reason: str | None = None
        self._t0 = 0.0
        self._power_t: list[float] = []
        self._power_mw: list[float] = []
        self._mem_used_peak: int | None = None
        self._proc_mem_peak: int | None = None
        self._sm_mhz: list[int] = []
        self._mem_mhz: list[int] = []
        self._temp_max_c: int | None = None
        self._reasons_mask = 0
        self._reasons_read = False
        self._others: set[int] = set()

    def _call(self, fn_name: str, *args: Any) -> Any:
        fn = getattr(self._nvml, fn_name, None)
        if fn is None:
            return None
        try:
            return fn(self._h, *args)
        except self._nvml.NVMLError:
            return None

    def _read_energy(self) -> int | None:
        fn = getattr(self._nvml, "nvmlDeviceGetTotalEnergyConsumption", None)
        if fn is None:
            self._energy_reason = "this nvidia-ml-py has no nvmlDeviceGetTotalEnergyConsumption"
            return None
        try:
            return int(fn(self._h))
        except self._nvml.NVMLError as exc:
            self._energy_reason = f"NVML energy counter unsupported on this GPU ({exc}); pre-Volta GPUs lack it"
            return None

    def _sample(self) -> None:
        t = time.perf_counter() - self._t0
        power = self._call("nvmlDeviceGetPowerUsage")       # mW
        if power is not None:
            self._power_t.append(t)
            self._power_mw.append(float(power))
        mem = self._call("nvmlDeviceGetMemoryInfo")
        if mem is not None:
            self._mem_used_peak = max(mem.used, self._mem_used_peak or 0)
        sm = self._call("nvmlDeviceGetClockInfo", getattr(self._nvml, "NVML_CLOCK_SM", 1))
        if sm is not None:
            self._sm_mhz.append(int(sm))
        mclk = self._call("nvmlDeviceGetClockInfo", getattr(self._nvml, "NVML_CLOCK_MEM", 2))
        if mclk is not None:
            self._mem_mhz.append(int(mclk))
        temp = self._call("nvmlDeviceGetTemperature", getattr(self._nvml, "NVML_TEMPERATURE_GPU", 0))
        if temp is not None:
            self._temp_max_c = max(int(temp), self._temp_max_c if self._temp_max_c is not None else int(temp))
        mask = clock_event_reasons(self._nvml, self._h)
        if mask is not None:
            self._reasons_read = True
            self._reasons_mask |= mask
        for pid, used in gpu_processes(self._nvml, self._h):
            if pid == self._pid:
                if used is not None:
                    self._proc_mem_peak = max(used, self._proc_mem_peak or 0)
            elif pid not in self._own:
                self._others.add(pid)

    def start(self, pid: int | None) -> None:
        self._pid = pid
        self._t0 = time.perf_counter()
        self._energy_start = self._read_energy()
        self._sample()

    def sample(self, t_s: float) -> None:
        self._sample()

    def stop(self, duration_s: float) -> dict[str, Any]:
        energy_end = self._read_energy() if self._energy_start is not None else None
        self._sample()
        out: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        warnings: list[str] = []
        span_s = self._power_t[-1] - self._power_t[0] if len(self._power_t) > 1 else 0.0
        if self._energy_start is not None and energy_end is not None:
            out["energy_mj"] = float(counter_delta(self._energy_start, energy_end, None))
            out["energy_source"] = "nvml-energy-counter"
        elif len(self._power_t) >= 2 and span_s > 0:
            out["energy_mj"] = integrate_power_mj(self._power_t, self._power_mw)
            out["energy_source"] = "nvml-power-integrated"
            extra["energy_fallback_reason"] = self._energy_reason
        else:
            out["energy_reason"] = f"NVML: {self._energy_reason or 'no power readings in the window'}"
        if out.get("energy_mj") is not None:
            out["energy_scope"] = "GPU board (NVML)"
            if duration_s < MIN_WINDOW_PERIODS * NVML_ENERGY_UPDATE_PERIOD_S:
                warnings.append(f"window {duration_s * 1000:.0f} ms is under {MIN_WINDOW_PERIODS}x the NVML "
                                f"energy update period (~{NVML_ENERGY_UPDATE_PERIOD_S * 1000:.0f} ms): energy is coarse")
        if self._power_mw:
            extra["power_samples"] = len(self._power_mw)
            extra["power_peak_mw"] = max(self._power_mw)
            if span_s > 0:
                extra["power_sampled_avg_mw"] = integrate_power_mj(self._power_t, self._power_mw) / span_s
        if self._proc_mem_peak is not None:
            out["device_memory_peak_bytes"] = self._proc_mem_peak
            extra["device_memory_scope"] = "worker process"
        elif self._mem_used_peak is not None:
            out["device_memory_peak_bytes"] = self._mem_used_peak
            extra["device_memory_scope"] = "whole GPU (per-process figure not available)"
        if self._mem_used_peak is not None:
            extra["gpu_memory_used_peak_bytes"] = self._mem_used_peak
        if self._sm_mhz:
            extra["sm_clock_mhz"] = {"min": min(self._sm_mhz), "max": max(self._sm_mhz)}
        if self._mem_mhz:
            extra["mem_clock_mhz"] = {"min": min(self._mem_mhz), "max": max(self._mem_mhz)}
        if self._temp_max_c is not None:
            extra["gpu_temp_max_c"] = self._temp_max_c
        if self._reasons_read:
            out["throttled"] = bool(is_throttling(self._reasons_mask))
            extra["clock_event_reasons"] = decode_reasons(self._reasons_mask)
            if out["throttled"]:
                warnings.append("GPU clocks were throttled: " + ", ".join(
                    r for r in decode_reasons(self._reasons_mask) if r in THROTTLE_REASONS))
        if self._others:
            extra["other_gpu_pids"] = sorted(self._others)
            warnings.append(f"other processes used the GPU during the window: {sorted(self._others)}")
        out["extra"] = extra
        out["warnings"] = warnings
        return out


class NvidiaGpuProfile(DeviceProfile):
    name = "nvidia-gpu"
    description = "NVIDIA GPU via NVML: energy counter, memory, clocks, temperature, throttle reasons"

    @classmethod
    def detect(cls, config: ProfileConfig | None = None) -> Detection:
        config = config or ProfileConfig()
        if not is_pynvml_available():
            return Detection(False, missing_extra_message("nvidia-ml-py", "gpu"))
        nvml = _nvml()
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            return Detection(False, f"NVML cannot start ({exc}): no NVIDIA driver or GPU on this host; "
                                    f"use --device cpu here, or run on a machine with an NVIDIA GPU")
        try:
            count = nvml.nvmlDeviceGetCount()
        finally:
            nvml.nvmlShutdown()
        if config.gpu_index >= count:
            return Detection(False, f"GPU index {config.gpu_index} requested but NVML sees {count} GPU(s)")
        return Detection(True)

    def __init__(self, config: ProfileConfig | None = None):
        super().__init__(config)
        self.device_order = ensure_device_order()
        self._nvml = _nvml()
        self._nvml.nvmlInit()
        self._initialised = True
        self.handle = self._nvml.nvmlDeviceGetHandleByIndex(self.config.gpu_index)

    def _other_processes(self) -> list[tuple[int, int | None]]:
        return [(pid, used) for pid, used in gpu_processes(self._nvml, self.handle) if pid != os.getpid()]

    def describe(self) -> dict[str, Any]:
        nvml, h = self._nvml, self.handle
        cc = nvml_try(nvml.nvmlDeviceGetCudaComputeCapability, h)
        mem = nvml_try(nvml.nvmlDeviceGetMemoryInfo, h)
        pci = nvml_try(nvml.nvmlDeviceGetPciInfo, h)
        clock_sm = getattr(nvml, "NVML_CLOCK_SM", 1)
        clock_mem = getattr(nvml, "NVML_CLOCK_MEM", 2)
        energy = nvml_try(nvml.nvmlDeviceGetTotalEnergyConsumption, h) \
            if hasattr(nvml, "nvmlDeviceGetTotalEnergyConsumption") else None
        return {
            "device": self.name,
            "gpu_index": self.config.gpu_index,
            "gpu_name": nvml_try(nvml.nvmlDeviceGetName, h),
            "gpu_uuid": nvml_try(nvml.nvmlDeviceGetUUID, h),
            "pci_bus_id": _text(getattr(pci, "busId", None)) if pci is not None else None,
            "driver": nvml_try(nvml.nvmlSystemGetDriverVersion),
            "cuda_driver": cuda_version_text(nvml_try(nvml.nvmlSystemGetCudaDriverVersion_v2)
                                             if hasattr(nvml, "nvmlSystemGetCudaDriverVersion_v2") else None),
            "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
            "memory_total_bytes": mem.total if mem is not None else None,
            "power_limit_mw": nvml_try(nvml.nvmlDeviceGetEnforcedPowerLimit, h),
            "sm_clock_mhz": nvml_try(nvml.nvmlDeviceGetClockInfo, h, clock_sm),
            "mem_clock_mhz": nvml_try(nvml.nvmlDeviceGetClockInfo, h, clock_mem),
            "sm_clock_max_mhz": nvml_try(nvml.nvmlDeviceGetMaxClockInfo, h, clock_sm),
            "mem_clock_max_mhz": nvml_try(nvml.nvmlDeviceGetMaxClockInfo, h, clock_mem),
            "persistence_mode": nvml_try(nvml.nvmlDeviceGetPersistenceMode, h),
            "pstate": nvml_try(nvml.nvmlDeviceGetPerformanceState, h),
            "energy_counter": energy is not None,
            "energy_update_period_s": NVML_ENERGY_UPDATE_PERIOD_S,
            "CUDA_DEVICE_ORDER": os.environ.get("CUDA_DEVICE_ORDER"),
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "other_gpu_pids": [pid for pid, _ in self._other_processes()],
            "exclusive": self.config.exclusive,
            "setup_warnings": list(self.run_warnings),
        }

    def fingerprint(self) -> dict[str, Any]:
        d = self.describe()
        return {k: d[k] for k in ("device", "gpu_name", "driver", "compute_capability", "power_limit_mw",
                                  "memory_total_bytes")}

    def default_providers(self) -> list[str]:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def sensors(self) -> list[Sensor]:
        return [NvmlSensor(self._nvml, self.handle, own_pids=(os.getpid(),)), ProcessMemorySensor()]

    def setup(self) -> None:
        others = self._other_processes()
        if not others:
            return
        listing = ", ".join(f"pid {pid}" + (f" ({used / 2**20:.0f} MiB)" if used else "") for pid, used in others)
        if self.config.exclusive:
            raise DeviceError(f"GPU {self.config.gpu_index} is in use by {listing}; stop them or drop --exclusive")
        self.run_warnings.append(f"GPU {self.config.gpu_index} is shared with {listing}: timings and energy "
                                   f"include their work")

    def teardown(self) -> None:
        if self._initialised:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
            self._initialised = False
