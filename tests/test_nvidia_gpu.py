"""nvidia-gpu profile. The sensor arithmetic runs against a stand-in for the NVML driver library (the OS boundary,
like a fake sysfs tree); the profile against the real NVML runs only under the `gpu` marker on a GPU host."""
import importlib.machinery
import os
import sys
import time
import types
from types import SimpleNamespace

import pytest

from harness.device_profiles.base import ProfileConfig, merge_readings
from harness.device_profiles.nvidia_gpu import (MIN_WINDOW_PERIODS, NVML_ENERGY_UPDATE_PERIOD_S, NvidiaGpuProfile,
                                        NvmlSensor, cuda_version_text, decode_reasons, ensure_device_order,
                                        gpu_processes, is_throttling)
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


class FakePynvml(types.ModuleType):
    """Stands in for the `pynvml` module itself (the binding to libnvidia-ml), so the profile's own calls -
    nvmlInit, handles, describe's queries, process lists - run unchanged. Byte strings and the "not available"
    memory sentinel are what real drivers return."""

    class NVMLError(Exception):
        pass

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    def __init__(self, count=1, init_error=None, procs=(), graphics=(), energy=True):
        super().__init__("pynvml")
        self.__spec__ = importlib.machinery.ModuleSpec("pynvml", None)
        self.count, self.init_error, self.procs, self.graphics, self.energy = count, init_error, procs, graphics, energy
        self.calls: list[str] = []

    def nvmlInit(self):
        self.calls.append("init")
        if self.init_error:
            raise self.NVMLError(self.init_error)

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        if i >= self.count:
            raise self.NVMLError("Invalid Argument")
        return f"handle-{i}"

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA A100-SXM4-80GB"

    def nvmlDeviceGetUUID(self, h):
        return b"GPU-0123"

    def nvmlDeviceGetPciInfo(self, h):
        return SimpleNamespace(busId=b"00000000:07:00.0")

    def nvmlSystemGetDriverVersion(self):
        return b"550.54.15"

    def nvmlSystemGetCudaDriverVersion_v2(self):
        return 12040

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return (8, 0)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=3 * 2**30, total=80 * 2**30)

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 400_000

    def nvmlDeviceGetClockInfo(self, h, kind):
        return 1410 if kind == self.NVML_CLOCK_SM else 1593

    def nvmlDeviceGetMaxClockInfo(self, h, kind):
        return 1410 if kind == self.NVML_CLOCK_SM else 1593

    def nvmlDeviceGetPersistenceMode(self, h):
        return 1

    def nvmlDeviceGetPerformanceState(self, h):
        raise self.NVMLError("Not Supported")      # describe must record None, not fail

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.energy:
            raise self.NVMLError("Not Supported")
        return 123_456

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.procs]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.graphics]


NOT_AVAILABLE = 2**64 - 1     # what NVML puts in usedGpuMemory when it cannot tell (containers, MIG)


@pytest.fixture
def fake_pynvml(monkeypatch):
    """Install a FakePynvml as `pynvml`; the test configures it through the returned factory."""
    from harness.core import import_utils

    def install(**kwargs) -> FakePynvml:
        fake = FakePynvml(**kwargs)
        monkeypatch.setitem(sys.modules, "pynvml", fake)
        import_utils._has.cache_clear()
        return fake

    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    yield install
    import_utils._has.cache_clear()


def test_detect_through_nvml(fake_pynvml):
    fake = fake_pynvml(count=2)
    assert NvidiaGpuProfile.detect(ProfileConfig(gpu_index=1)).available
    assert fake.calls == ["init", "shutdown"]          # detect leaves NVML as it found it
    found = NvidiaGpuProfile.detect(ProfileConfig(gpu_index=2))
    assert not found.available and "index 2" in found.reason and "2 GPU(s)" in found.reason
    fake_pynvml(init_error="Driver Not Loaded")
    found = NvidiaGpuProfile.detect()
    assert not found.available and "NVML cannot start" in found.reason and "--device cpu" in found.reason


def test_describe_and_fingerprint_through_nvml(fake_pynvml):
    fake = fake_pynvml(procs=[(os.getpid(), 2**20)])
    prof = NvidiaGpuProfile(ProfileConfig(gpu_index=0))
    try:
        d = prof.describe()
        assert d["gpu_name"] == "NVIDIA A100-SXM4-80GB" and d["driver"] == "550.54.15"    # bytes decoded
        assert d["pci_bus_id"] == "00000000:07:00.0" and d["compute_capability"] == "8.0"
        assert d["cuda_driver"] == "12.4" and d["memory_total_bytes"] == 80 * 2**30
        assert d["pstate"] is None                       # unsupported query: None, not an exception
        assert d["energy_counter"] is True and d["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        assert d["other_gpu_pids"] == []                 # harness's own process is not "another process"
        fp = prof.fingerprint()
        assert fp == {"device": "nvidia-gpu", "gpu_name": "NVIDIA A100-SXM4-80GB", "driver": "550.54.15",
                      "compute_capability": "8.0", "power_limit_mw": 400_000, "memory_total_bytes": 80 * 2**30}
    finally:
        prof.teardown()
    prof.teardown()
    assert fake.calls.count("shutdown") == 1             # teardown is idempotent
    fake_pynvml(energy=False)
    prof = NvidiaGpuProfile(ProfileConfig())
    assert prof.describe()["energy_counter"] is False
    prof.teardown()


def test_shared_gpu_warns_and_exclusive_refuses(fake_pynvml):
    fake_pynvml(procs=[(31337, 512 * 2**20)], graphics=[(4040, None)])
    shared = NvidiaGpuProfile(ProfileConfig())
    shared.setup()
    assert len(shared.run_warnings) == 1
    assert "pid 4040" in shared.run_warnings[0] and "pid 31337 (512 MiB)" in shared.run_warnings[0]
    shared.teardown()
    exclusive = NvidiaGpuProfile(ProfileConfig(exclusive=True))
    with pytest.raises(DeviceError, match=r"in use by pid 4040, pid 31337 \(512 MiB\).*drop --exclusive"):
        exclusive.setup()
    exclusive.teardown()


def test_exclusive_on_a_free_gpu_proceeds_without_warnings(fake_pynvml):
    fake_pynvml(procs=[(os.getpid(), 2**20)])
    prof = NvidiaGpuProfile(ProfileConfig(exclusive=True))
    prof.setup()
    assert prof.run_warnings == [] and prof.describe()["other_gpu_pids"] == []
    prof.teardown()


def test_memory_sentinel_means_unknown_not_sixteen_exabytes(fake_pynvml):
    fake = fake_pynvml(procs=[(4242, NOT_AVAILABLE), (77, 3 * 2**30)], graphics=[(77, NOT_AVAILABLE)])
    assert gpu_processes(fake, "handle-0") == [(77, 3 * 2**30), (4242, None)]
    r = _window(NvmlSensor(fake, "handle-0"))
    # the worker's own figure is unknown: the whole-GPU figure is stored, labelled as such
    assert r.device_memory_peak_bytes == 3 * 2**30
    assert r.extra["device_memory_scope"].startswith("whole GPU") and r.extra["other_gpu_pids"] == [77]


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
        others = prof.describe()["other_gpu_pids"]
        if others:
            with pytest.raises(DeviceError, match=f"pid {others[0]}"):
                prof.setup()
        else:
            # a free GPU: setup proceeds and records no sharing
            prof.setup()
            assert prof.run_warnings == []
    finally:
        prof.teardown()


QUICK_BENCH = ["--min-duration", "0.2", "--min-iterations", "30", "--rounds", "2", "--warmup", "2", "--idle", "0",
               "--no-progress"]


def test_onnx_on_the_host_cpu_of_a_gpu_host_is_not_charged_to_the_gpu(fake_pynvml, tmp_path, monkeypatch, capsys):
    """Seen on an H200 without onnxruntime-gpu: ONNX variants ran on the host CPU while their roofline used the
    GPU's datasheet peak and their energy came from NVML's GPU board. Now: without a CUDA provider the variant
    fails with a line saying how to proceed; with --provider CPUExecutionProvider it is measured, its roofline
    is against the host's measured peak, and energy per inference is null with the reason."""
    import json

    from harness import cli
    from harness.device_profiles.peaks import MEASURED
    from harness.store import Store
    from helpers import make_mlp_onnx

    fake_pynvml()
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    model = make_mlp_onnx(tmp_path / "mlp.onnx")
    db = tmp_path / "g.duckdb"
    assert cli.main(["bench", str(model), "--device", "nvidia-gpu", "--db", str(db), *QUICK_BENCH]) == 1
    err = capsys.readouterr().err
    assert "no CUDAExecutionProvider" in err and "--provider CPUExecutionProvider" in err
    assert cli.main(["bench", str(model), "--device", "nvidia-gpu", "--provider", "CPUExecutionProvider",
                     "--db", str(db), *QUICK_BENCH]) == 0
    row = Store(db).query("SELECT * FROM measurements WHERE status = 'ok'")[0]
    assert row["provider"] == "CPUExecutionProvider"
    assert row["energy_per_inference_mj"] is None and "ran on the host CPU" in row["energy_reason"]
    assert row["energy_mj"] is None and row["avg_power_mw"] is None and row["device_memory_peak_bytes"] is None
    assert row["peak_rss_bytes"] > 0
    assert row["peak_source"] == MEASURED and row["peak_fraction"] is not None
    assert any("ran on the host CPU" in w for w in json.loads(row["warnings"]))
