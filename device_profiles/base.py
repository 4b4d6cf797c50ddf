"""The device-profile interface shared by the CPU, NVIDIA GPU and Jetson profiles.

A profile detects its device, describes it for the run's environment record, measures idle power, and opens
measurement windows (Zeus style: `begin_window` / `end_window`) around each timed loop. A window is made of
sensors; the profile's sampler thread polls every sampler-capable sensor at `sample_interval_s`. Sensors run in
the parent process, outside the worker being timed, so sampling does not steal the worker's GIL.

A sensor that is absent or unreadable reports `None` for its fields plus a reason; it never invents a value.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Detection:
    """Whether a profile's device is present on this host, and why not when it is not."""

    available: bool
    reason: str = ""


# The one source of these defaults: BenchConfig and the `harness bench` flags take them from here.
DEFAULT_SAMPLE_INTERVAL_S = 0.02
DEFAULT_IDLE_DURATION_S = 2.0        # seconds of idle power measured before the first variant (README, --idle)


@dataclass(frozen=True)
class ProfileConfig:
    """Settings shared by all profiles. `root` lets tests point sysfs/procfs reads at a fake tree."""

    root: str = "/"
    sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S
    idle_duration_s: float = DEFAULT_IDLE_DURATION_S
    exclusive: bool = False
    lock_clocks: bool = False
    gpu_index: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IdleBaseline:
    """Idle power measured before the run; `power_mw` is None with a reason when no power sensor is readable."""

    power_mw: float | None
    duration_s: float
    source: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class WindowReading:
    """What the sensors saw during one window. Units are in the field names.

    energy_mj: total device energy in the window (scope says which part of the device that covers);
    peak_rss_bytes: the worker's peak resident set, sampled from outside;
    extra: sensor-specific series and facts (clocks, temperatures, rails, throttle reasons) as JSON-able values.
    """

    duration_s: float
    energy_mj: float | None = None
    energy_source: str | None = None
    energy_scope: str | None = None
    energy_reason: str | None = None
    avg_power_mw: float | None = None
    peak_rss_bytes: int | None = None
    device_memory_peak_bytes: int | None = None
    throttled: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


class Sensor(ABC):
    """One source of readings inside a window. Override `sample` to be polled by the sampler thread."""

    name: ClassVar[str] = "sensor"
    polled: ClassVar[bool] = False

    @abstractmethod
    def start(self, pid: int | None) -> None:
        """Called at the window's start (read cumulative counters here)."""

    def sample(self, t_s: float) -> None:
        """Called every sample interval while the window is open (only when `polled`)."""

    @abstractmethod
    def stop(self, duration_s: float) -> dict[str, Any]:
        """Called at the window's end; returns WindowReading fields (and `extra`/`warnings` entries)."""


def merge_readings(duration_s: float, parts: list[dict[str, Any]]) -> WindowReading:
    """Combine the dicts returned by each sensor's `stop` into one WindowReading.

    The first sensor that reports an energy figure wins; sensors are listed in order of preference.
    """
    fields: dict[str, Any] = {"duration_s": duration_s}
    extra: dict[str, Any] = {}
    warnings: list[str] = []
    energy_reasons: list[str] = []
    for part in parts:
        part = dict(part)
        extra.update(part.pop("extra", {}) or {})
        warnings.extend(part.pop("warnings", ()) or ())
        reason = part.pop("energy_reason", None)
        if reason:
            energy_reasons.append(reason)
        for key, value in part.items():
            if value is not None and fields.get(key) is None:
                fields[key] = value
    if fields.get("energy_mj") is None:
        fields["energy_reason"] = "; ".join(energy_reasons) or "no energy sensor in this profile"
    if fields.get("avg_power_mw") is None and fields.get("energy_mj") is not None and duration_s > 0:
        fields["avg_power_mw"] = fields["energy_mj"] / duration_s  # mJ / s = mW
    return WindowReading(**fields, extra=extra, warnings=tuple(warnings))


class Window:
    """An open measurement window: sensors started, sampler thread polling the polled ones."""

    def __init__(self, sensors: list[Sensor], pid: int | None, interval_s: float):
        self._sensors = sensors
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        for sensor in sensors:
            sensor.start(pid)
        polled = [s for s in sensors if s.polled]
        self._thread = None
        if polled:
            self._thread = threading.Thread(target=self._poll, args=(polled,), daemon=True)
            self._thread.start()

    def _poll(self, polled: list[Sensor]) -> None:
        while not self._stop.is_set():
            now = time.perf_counter() - self._t0
            for sensor in polled:
                sensor.sample(now)
            self._stop.wait(self._interval_s)

    def close(self) -> WindowReading:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        duration_s = time.perf_counter() - self._t0
        return merge_readings(duration_s, [s.stop(duration_s) for s in self._sensors])


class DeviceProfile(ABC):
    """A device the harness measures on. Subclasses add one file under device_profiles/ and one registry line."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, config: ProfileConfig | None = None):
        self.config = config or ProfileConfig()
        self._windows: dict[str, Window] = {}
        # problems found in setup/teardown (GPU shared with another process, clocks not restored...); the engine
        # stores them with the run and with every measurement taken after they appeared
        self.run_warnings: list[str] = []

    @classmethod
    @abstractmethod
    def detect(cls, config: ProfileConfig | None = None) -> Detection:
        """Is this profile's device present? Cheap, no side effects."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Environment record for the run: device model, board, clocks, driver versions... (JSON-able)."""

    @abstractmethod
    def sensors(self) -> list[Sensor]:
        """Fresh sensor objects for one window, in order of preference for energy."""

    def fingerprint(self) -> dict[str, Any]:
        """The subset of `describe()` that must match for two runs to be comparable (regress uses it)."""
        return self.describe()

    def default_providers(self) -> list[str]:
        """onnxruntime execution providers to use on this device, in order."""
        return ["CPUExecutionProvider"]

    def setup(self) -> None:
        """Prepare the device before measuring (e.g. lock clocks). Must be undone by `teardown`."""

    def teardown(self) -> None:
        """Undo `setup`."""

    def has_polled_power(self) -> bool:
        """True when power comes from a sampled sensor (which needs a real window to give a figure)."""
        return False

    def begin_window(self, key: str, pid: int | None = None) -> None:
        if key in self._windows:
            raise RuntimeError(f"window {key!r} is already open")
        from harness.device_profiles.host_load import HostLoadSensor

        # every profile also records how busy the rest of the host was: interference is the commonest error
        self._windows[key] = Window([*self.sensors(), HostLoadSensor()], pid, self.config.sample_interval_s)

    def end_window(self, key: str) -> WindowReading:
        return self._windows.pop(key).close()

    def measure_idle(self, duration_s: float | None = None) -> IdleBaseline:
        """Average power with nothing running; None + reason where the profile has no power sensor."""
        duration_s = self.config.idle_duration_s if duration_s is None else duration_s
        # a zero-length probe first: without a power sensor there is nothing to wait for
        self.begin_window("__probe__")
        probe = self.end_window("__probe__")
        if probe.energy_mj is None and probe.avg_power_mw is None and not self.has_polled_power():
            return IdleBaseline(None, 0.0, None, probe.energy_reason)
        self.begin_window("__idle__")
        time.sleep(duration_s)
        reading = self.end_window("__idle__")
        if reading.avg_power_mw is None:
            return IdleBaseline(None, reading.duration_s, None, reading.energy_reason)
        return IdleBaseline(reading.avg_power_mw, reading.duration_s, reading.energy_source)
