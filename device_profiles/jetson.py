"""The `jetson` profile: NVIDIA Jetson boards (Nano, TX2, Xavier NX, AGX Xavier, Orin Nano/NX, AGX Orin).

Power comes from the INA3221 monitors in sysfs, polled and integrated by time; where those are unreadable,
from a running `tegrastats`. The total is the module-input rail or the board's documented sum of rails (see
jetson_power). describe() records the board, L4T release, nvpmodel mode and jetson_clocks state;
`lock_clocks` stores the clock settings, runs jetson_clocks, and restores them at teardown.

ProfileConfig.options keys:
  power_source            "auto" (INA3221, else tegrastats) | "ina3221" | "tegrastats"
  power_rails             list of rail names whose sum is the total (overrides the board file)
  tegrastats_cmd          tegrastats command (default "tegrastats"); tegrastats_interval_ms (default 100)
  nvpmodel_cmd            default "nvpmodel"
  jetson_clocks_cmd       default "jetson_clocks"; jetson_clocks_store_file: where --store writes
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.device_profiles.base import Detection, DeviceProfile, ProfileConfig, Sensor
from harness.device_profiles.cpu import cpu_model
from harness.device_profiles.ina3221 import Ina3221Sensor, find_rails
from harness.device_profiles.jetson_board import BoardInfo, detect_board
from harness.device_profiles.jetson_power import total_rule
from harness.device_profiles.jetson_thermal import JetsonThermalMemorySensor, read_ram_used_bytes
from harness.device_profiles.jetson_tools import ClockLock, query_jetson_clocks, query_nvpmodel
from harness.device_profiles.process_memory import ProcessMemorySensor
from harness.device_profiles.tegrastats import DEFAULT_INTERVAL_MS, TegrastatsSensor, TegrastatsStream, command_args
from harness.core.errors import DeviceError

NOT_A_JETSON = ("this host is not an NVIDIA Jetson ({why}); install harness on the Jetson board itself "
                "(JetPack provides CUDA, TensorRT and the power sensors: pip install 'harness[jetson]') and run "
                "`harness bench --device jetson` there")


def _cuda_version(root: str) -> str | None:
    base = Path(root, "usr/local/cuda")
    try:
        return json.loads((base / "version.json").read_text())["cuda"]["version"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        return (base / "version.txt").read_text().strip().split()[-1]
    except (OSError, IndexError):
        return None


class JetsonProfile(DeviceProfile):
    name = "jetson"
    description = "NVIDIA Jetson: INA3221 rails (tegrastats fallback), nvpmodel, jetson_clocks, thermal zones"

    @classmethod
    def detect(cls, config: ProfileConfig | None = None) -> Detection:
        config = config or ProfileConfig()
        board = detect_board(config.root)
        if board.is_jetson:
            return Detection(True)
        why = f"no {Path(config.root, 'etc/nv_tegra_release')}"
        why += f", device-tree model is {board.model!r}" if board.model else ", no device-tree model"
        return Detection(False, NOT_A_JETSON.format(why=why))

    def __init__(self, config: ProfileConfig | None = None):
        super().__init__(config)
        opts = self.config.options
        self.board: BoardInfo = detect_board(self.config.root)
        self._override = opts.get("power_rails")
        self._rails, self._rails_reason = find_rails(self.config.root)
        self._stream: TegrastatsStream | None = None
        self._clock_lock: ClockLock | None = None
        self.power_source, self.power_reason = self._choose_power_source(opts.get("power_source", "auto"))

    # --- power source -------------------------------------------------------------------------------------
    def _tegrastats_cmd(self) -> list[str]:
        return command_args(self.config.options.get("tegrastats_cmd", "tegrastats"))

    def _choose_power_source(self, wanted: str) -> tuple[str | None, str | None]:
        if wanted not in ("auto", "ina3221", "tegrastats"):
            raise DeviceError(f"power_source must be auto, ina3221 or tegrastats, not {wanted!r}")
        if wanted in ("auto", "ina3221") and self._rails:
            return "ina3221", None
        if wanted == "ina3221":
            return None, self._rails_reason
        exe = self._tegrastats_cmd()[0]
        if shutil.which(exe) or Path(exe).is_file():
            return "tegrastats", self._rails_reason
        return None, f"{self._rails_reason}; and tegrastats ({exe}) is not installed"

    def _board_rule_args(self) -> tuple[tuple[str, ...], str | None]:
        spec = self.board.spec
        return (spec.total_rails, spec.total_scope) if spec else ((), None)

    def _stream_(self) -> TegrastatsStream:
        if self._stream is None:
            interval = int(self.config.options.get("tegrastats_interval_ms", DEFAULT_INTERVAL_MS))
            self._stream = TegrastatsStream(self._tegrastats_cmd(), interval)
        return self._stream

    def sensors(self) -> list[Sensor]:
        total_rails, scope = self._board_rule_args()
        out: list[Sensor] = []
        if self.power_source == "ina3221":
            out.append(Ina3221Sensor(self._rails, total_rails, scope, self._override))
        elif self.power_source == "tegrastats":
            out.append(TegrastatsSensor(self._stream_(), total_rails, scope, self._override))
        else:
            out.append(_NoPower(f"Jetson power unavailable: {self.power_reason}"))
        out += [JetsonThermalMemorySensor(self.config.root), ProcessMemorySensor()]
        return out

    # --- environment ---------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        opts = self.config.options
        spec = self.board.spec
        total_rails, scope = self._board_rule_args()
        rule, rule_reason = total_rule([r.name for r in self._rails], total_rails, scope, self._override) \
            if self._rails else (None, self._rails_reason)
        _, ram_total = read_ram_used_bytes(self.config.root)
        return {
            "device": self.name,
            "board": spec.key if spec else None,
            "board_name": spec.name if spec else None,
            "board_model": self.board.model,
            "l4t": self.board.release.l4t if self.board.release else None,
            "l4t_release": self.board.release.raw if self.board.release else None,
            "cuda": _cuda_version(self.config.root),
            "cpu_model": cpu_model(self.config.root),
            "machine": platform.machine(),
            "memory_total_bytes": ram_total,
            "peak_int8_tops": spec.peak_int8_tops if spec else None,
            "peak_note": spec.info.get("peak_note") if spec else None,
            "power_source": self.power_source,
            "power_reason": self.power_reason,
            "power_rails": [r.name for r in self._rails],
            "power_total_rails": list(rule.rails) if rule else None,
            "power_scope": rule.scope if rule else None,
            "power_rails_missing": list(rule.missing) if rule and rule.missing else None,
            "power_total_reason": rule_reason,
            "nvpmodel": query_nvpmodel(opts.get("nvpmodel_cmd", "nvpmodel")),
            "jetson_clocks": query_jetson_clocks(opts.get("jetson_clocks_cmd", "jetson_clocks")),
            "lock_clocks": self.config.lock_clocks,
        }

    def fingerprint(self) -> dict[str, Any]:
        d = self.describe()
        nvp = d["nvpmodel"]
        return {"device": d["device"], "board": d["board"], "board_model": d["board_model"], "l4t": d["l4t"],
                "nvpmodel": nvp.get("name"), "nvpmodel_id": nvp.get("id"),
                "clocks_locked": d["jetson_clocks"].get("clocks_locked")}

    def default_providers(self) -> list[str]:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    # --- lifecycle ----------------------------------------------------------------------------------------
    def setup(self) -> None:
        if self.power_source == "tegrastats":
            self._stream_().start()
        if self.config.lock_clocks:
            store = self.config.options.get("jetson_clocks_store_file") or os.path.join(
                tempfile.mkdtemp(prefix="harness-clocks-"), "jetson_clocks.conf")
            self._clock_lock = ClockLock(self.config.options.get("jetson_clocks_cmd", "jetson_clocks"), store)
            self._clock_lock.lock()

    def teardown(self) -> None:
        if self._clock_lock is not None and self._clock_lock.locked:
            reason = self._clock_lock.restore()
            if reason:
                self.run_warnings.append(reason)
        if self._stream is not None:
            self._stream.stop()
            self._stream = None


class _NoPower(Sensor):
    """Stands in when no power source is readable, so the reason reaches the stored measurement."""

    name = "no_power"

    def __init__(self, reason: str):
        self._reason = reason

    def start(self, pid: int | None) -> None:
        pass

    def stop(self, duration_s: float) -> dict[str, Any]:
        return {"energy_reason": self._reason}
