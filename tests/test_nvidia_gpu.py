"""nvidia-gpu profile. The sensor arithmetic runs against a stand-in for the NVML driver library (the OS boundary,
like a fake sysfs tree); the profile against the real NVML runs only under the `gpu` marker on a GPU host."""
import os
import time
from types import SimpleNamespace

import pytest

from harness.device_profiles.base import ProfileConfig, merge_readings
from harness.device_profiles.nvidia_gpu import (MIN_WINDOW_PERIODS, NVML_ENERGY_UPDATE_PERIOD_S, NvidiaGpuProfile,
                                        NvmlSensor, cuda_version_text, decode_reasons, ensure_device_order,
                                        is_throttling)
from harness.core.errors import DeviceError


class DriverNvml:
    """Stands in for libnvidia-ml: a scripted energy counter and power readings, settable per test."""

    class NVMLError(Exception):
        pass

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    def __init__(self, energy_mj=None, power_mw=(100_000,), reasons=0, procs=()):
        self.energy = list(energy_mj) if energy_mj is not None else None
        self.power = list(power_mw)
        self.reasons = reasons
        self.procs = procs

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if self.energy is None:
            raise self.NVMLError("Not Supported")
        return self.energy.pop(0) if len(self.energy) > 1 else self.energy[0]

    def nvmlDeviceGetPowerUsage(self, h):
        return self.power.pop(0) if len(self.power) > 1 else self.power[0]

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=2 * 2**30, total=80 * 2**30)

    def nvmlDeviceGetClockInfo(self, h, kind):
        return 1980 if kind == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetTemperature(self, h, kind):
        return 41

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return self.reasons

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.procs]


def _window(sensor, seconds=0.0):
    sensor.start(pid=4242)
    time.sleep(seconds)
    return merge_readings(seconds, [sensor.stop(seconds)])


def test_energy_from_counter_delta():
    nvml = DriverNvml(energy_mj=[1_000_000, 1_250_500], procs=[(4242, 512 * 2**20)])
    r = _window(NvmlSensor(nvml, handle=0), seconds=0.0)
    assert r.energy_mj == 250_500.0 and r.energy_source == "nvml-energy-counter"
    assert r.device_memory_peak_bytes == 512 * 2**20 and r.extra["device_memory_scope"] == "worker process"
    assert r.extra["sm_clock_mhz"] == {"min": 1980, "max": 1980} and r.extra["gpu_temp_max_c"] == 41
    assert r.throttled is False


def test_short_window_is_flagged():
    r = _window(NvmlSensor(DriverNvml(energy_mj=[0, 10]), 0))
    assert any("update period" in w for w in r.warnings)
    assert MIN_WINDOW_PERIODS * NVML_ENERGY_UPDATE_PERIOD_S == pytest.approx(1.0)


def test_power_fallback_is_integrated_by_time():
    # no energy counter (pre-Volta): power samples 100 W then 300 W
    nvml = DriverNvml(energy_mj=None, power_mw=[100_000, 300_000])
    sensor = NvmlSensor(nvml, 0)
    sensor.start(None)
    time.sleep(0.05)
    out = sensor.stop(0.05)
    t = sensor._power_t
    assert out["energy_source"] == "nvml-power-integrated"
    # trapezoid over the two samples, hand-computed from their timestamps
    assert out["energy_mj"] == pytest.approx((t[1] - t[0]) * (100_000 + 300_000) / 2)
    assert "pre-Volta" in out["extra"]["energy_fallback_reason"]


def test_throttle_reasons_and_other_processes():
    nvml = DriverNvml(energy_mj=[0, 5000], reasons=0x1 | 0x40, procs=[(4242, None), (999, 2**30)])
    r = _window(NvmlSensor(nvml, 0))
    assert r.throttled is True and "HwThermalSlowdown" in r.extra["clock_event_reasons"]
    assert r.extra["other_gpu_pids"] == [999]
    # per-process memory not available: the whole-GPU figure, labelled as such
    assert r.extra["device_memory_scope"].startswith("whole GPU")
    assert any("other processes" in w for w in r.warnings)


def test_reason_decoding_and_versions():
    assert decode_reasons(0x1) == ["GpuIdle"] and is_throttling(0x1) is False
    assert is_throttling(0x4) is True and is_throttling(None) is None
    assert cuda_version_text(12040) == "12.4" and cuda_version_text(None) is None


def test_device_order_is_set_or_required(monkeypatch):
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert ensure_device_order() == "PCI_BUS_ID" and os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    with pytest.raises(DeviceError, match="PCI_BUS_ID"):
        ensure_device_order()


def _gpu_present() -> tuple[bool, str]:
    found = NvidiaGpuProfile.detect()
    return found.available, found.reason


def test_detect_without_gpu_gives_actionable_reason():
    present, reason = _gpu_present()
    if present:
        pytest.skip("an NVIDIA GPU is present")
    assert "NVML" in reason or "nvidia-ml-py" in reason


@pytest.mark.gpu
def test_real_nvml_window_and_describe():
    present, reason = _gpu_present()
    if not present:
        pytest.skip(f"no NVIDIA GPU: {reason}")
    from harness.device_profiles import load_profile

    prof = load_profile("nvidia-gpu", ProfileConfig(sample_interval_s=0.02))
    try:
        d = prof.describe()
        assert d["gpu_name"] and d["driver"] and d["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        prof.setup()
        prof.begin_window("w")
        time.sleep(1.2)
        r = prof.end_window("w")
        assert r.energy_mj is not None and r.avg_power_mw is not None
        assert prof.measure_idle(0.5).power_mw is not None
    finally:
        prof.teardown()


@pytest.mark.gpu
def test_real_nvml_exclusive_refuses_shared_gpu():
    present, reason = _gpu_present()
    if not present:
        pytest.skip(f"no NVIDIA GPU: {reason}")
    prof = NvidiaGpuProfile(ProfileConfig(exclusive=True))
    try:
        if prof.describe()["other_gpu_pids"]:
            with pytest.raises(DeviceError):
                prof.setup()
        else:
            prof.setup()
    finally:
        prof.teardown()
