"""The Jetson command-line tools harness drives: `nvpmodel -q` (power mode) and `jetson_clocks` (clock lock with
store/restore). Command paths come from ProfileConfig.options so tests can put scripts at the OS boundary."""
from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any, Sequence

from harness.core.errors import DeviceError

COMMAND_TIMEOUT_S = 20
FREQ_RE = re.compile(r"(\w+)=(\S+)")


def _args(cmd: str | Sequence[str]) -> list[str]:
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    stdout: str
    reason: str | None = None


def run_tool(cmd: str | Sequence[str], *args: str) -> CommandResult:
    argv = [*_args(cmd), *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except FileNotFoundError:
        return CommandResult(False, "", f"{argv[0]} not found")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CommandResult(False, "", f"{' '.join(argv)} failed: {exc}")
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        return CommandResult(False, proc.stdout, f"{' '.join(argv)} exited {proc.returncode}"
                                                 + (f": {err[-1][:200]}" if err else ""))
    return CommandResult(True, proc.stdout)


def parse_nvpmodel(text: str) -> dict[str, Any]:
    """`nvpmodel -q` prints "NV Power Mode: <name>" and the mode id on the next line."""
    out: dict[str, Any] = {}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("NV Power Mode"):
            out["name"] = line.split(":", 1)[1].strip()
            if i + 1 < len(lines) and lines[i + 1].isdigit():
                out["id"] = int(lines[i + 1])
        elif line.startswith("NV Fan Mode"):
            out["fan_mode"] = line.split(":", 1)[1].strip()
    return out


def query_nvpmodel(cmd: str | Sequence[str] = "nvpmodel") -> dict[str, Any]:
    res = run_tool(cmd, "-q")
    if not res.ok:
        return {"reason": res.reason}
    parsed = parse_nvpmodel(res.stdout)
    return parsed or {"reason": "nvpmodel -q printed no power mode"}


def parse_jetson_clocks(text: str) -> dict[str, Any]:
    """`jetson_clocks --show`: per-CPU and GPU/EMC Min/Max/Current frequencies. Clocks count as locked when the
    GPU and every online CPU run with MinFreq == MaxFreq (what `jetson_clocks` sets)."""
    cpus: dict[str, dict[str, str]] = {}
    units: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        line = line.strip()
        head = line.split(" ", 1)[0].rstrip(":")
        fields = dict(FREQ_RE.findall(line))
        if re.fullmatch(r"cpu\d+", head) and fields:
            cpus[head] = fields
        elif head in ("GPU", "EMC", "DLA0_CORE", "DLA1_CORE") and fields:
            units[head] = fields
        elif line.startswith("NV Power Mode"):
            units["nvpmodel"] = {"name": line.split(":", 1)[1].strip()}

    def locked(f: dict[str, str]) -> bool:
        return "MinFreq" in f and f.get("MinFreq") == f.get("MaxFreq")

    online = [f for f in cpus.values() if f.get("Online", "1") == "1"]
    out: dict[str, Any] = {"cpus": cpus, **{k.lower(): v for k, v in units.items()}}
    if "GPU" in units and online:
        out["clocks_locked"] = locked(units["GPU"]) and all(locked(f) for f in online)
    return out


def query_jetson_clocks(cmd: str | Sequence[str] = "jetson_clocks") -> dict[str, Any]:
    res = run_tool(cmd, "--show")
    if not res.ok:
        return {"reason": f"{res.reason} (jetson_clocks --show needs root)"}
    return parse_jetson_clocks(res.stdout)


class ClockLock:
    """`--lock-clocks`: store the current clock settings, run jetson_clocks, restore them afterwards."""

    def __init__(self, cmd: str | Sequence[str], store_file: str):
        self.cmd = cmd
        self.store_file = store_file
        self.locked = False

    def lock(self) -> None:
        res = run_tool(self.cmd, "--store", self.store_file)
        if not res.ok:
            raise DeviceError(f"cannot store clock settings: {res.reason}; run as root (sudo) or drop --lock-clocks")
        res = run_tool(self.cmd)
        if not res.ok:
            self.restore()
            raise DeviceError(f"jetson_clocks failed: {res.reason}; run as root (sudo) or drop --lock-clocks")
        self.locked = True

    def restore(self) -> str | None:
        """Restore the stored settings; returns a reason when that fails (teardown must not raise)."""
        res = run_tool(self.cmd, "--restore", self.store_file)
        self.locked = False
        return None if res.ok else f"jetson_clocks --restore {self.store_file} failed: {res.reason}"
