"""Which Jetson this is: L4T release from `etc/nv_tegra_release`, model from `proc/device-tree/model`, and the
matching board description from `device_profiles/boards/*.toml`."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

BOARDS_DIR = Path(__file__).parent / "boards"
RELEASE_RE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


@dataclass(frozen=True)
class BoardSpec:
    """A board description data file: rails, how the total is made, memory, peak TOPS, power modes."""

    key: str
    name: str
    model_patterns: tuple[str, ...]
    rails: tuple[str, ...]
    total_rails: tuple[str, ...]
    total_scope: str
    memory_bytes: int | None = None
    peak_int8_tops: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    power_modes: tuple[dict[str, Any], ...] = ()

    def mode_name(self, mode_id: int | None) -> str | None:
        for mode in self.power_modes:
            if mode.get("id") == mode_id:
                return mode.get("name")
        return None


def load_board(path: Path) -> BoardSpec:
    data = tomllib.loads(path.read_text())
    power = data.pop("power")
    return BoardSpec(
        key=data.pop("key"), name=data.pop("name"), model_patterns=tuple(data.pop("model_patterns")),
        rails=tuple(power["rails"]), total_rails=tuple(power["total_rails"]), total_scope=power["scope"],
        memory_bytes=data.pop("memory_bytes", None), peak_int8_tops=data.pop("peak_int8_tops", None),
        power_modes=tuple(data.pop("power_modes", ())), info=data)


def load_boards(folder: Path = BOARDS_DIR) -> list[BoardSpec]:
    return [load_board(p) for p in sorted(folder.glob("*.toml"))]


def match_board(model: str | None, boards: list[BoardSpec] | None = None) -> BoardSpec | None:
    """The board whose longest pattern occurs in the device-tree model string ("Orin Nano" beats "Nano")."""
    if not model:
        return None
    boards = load_boards() if boards is None else boards
    best, best_len = None, 0
    low = model.lower()
    for board in boards:
        for pattern in board.model_patterns:
            if pattern.lower() in low and len(pattern) > best_len:
                best, best_len = board, len(pattern)
    return best


def _read(root: str, rel: str) -> str | None:
    try:
        # the device-tree model string ends with a NUL byte
        return Path(root, rel).read_bytes().decode(errors="replace").replace("\x00", "").strip()
    except OSError:
        return None


@dataclass(frozen=True)
class TegraRelease:
    l4t: str | None          # "35.4.1"
    raw: str | None


def read_release(root: str = "/") -> TegraRelease | None:
    text = _read(root, "etc/nv_tegra_release")
    if text is None:
        return None
    m = RELEASE_RE.search(text)
    return TegraRelease(f"{m.group(1)}.{m.group(2)}" if m else None, text.splitlines()[0] if text else None)


def read_model(root: str = "/") -> str | None:
    return _read(root, "proc/device-tree/model")


@dataclass(frozen=True)
class BoardInfo:
    is_jetson: bool
    model: str | None
    release: TegraRelease | None
    spec: BoardSpec | None


def detect_board(root: str = "/") -> BoardInfo:
    release = read_release(root)
    model = read_model(root)
    is_jetson = release is not None or bool(model and "jetson" in model.lower())
    return BoardInfo(is_jetson, model, release, match_board(model) if is_jetson else None)
