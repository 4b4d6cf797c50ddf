"""Replaying a board: point a whole bench at another sysfs/procfs root and other board tools.

For testing and for replaying a board (a copied or synthetic sysfs tree, scripts that print recorded tool output),
two environment variables replace the host's view for every profile a command builds:

  HARNESS_SYSFS_ROOT   directory standing in for `/`: INA3221 rails, thermal zones, /proc/meminfo, the Jetson
                       release and device-tree files, the powercap (RAPL) tree under sys/class/powercap
  HARNESS_TOOLS_DIR    directory holding `tegrastats`, `nvpmodel` and `jetson_clocks`; each is taken from there
                       (a tool absent from it is reported missing, never taken from PATH instead)

A bench run this way records both in its environment and warns with every measurement, so a replayed figure is
never mistaken for one measured on this host's sensors.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from harness.core.errors import DeviceError

SYSFS_ROOT_ENV = "HARNESS_SYSFS_ROOT"
TOOLS_DIR_ENV = "HARNESS_TOOLS_DIR"
TOOLS = {"tegrastats_cmd": "tegrastats", "nvpmodel_cmd": "nvpmodel", "jetson_clocks_cmd": "jetson_clocks"}


def replay_settings(environ: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(root, profile options, what was replaced) from the environment; DeviceError for a folder that is not one."""
    env = os.environ if environ is None else environ
    root, options, replaced = "/", {}, {}
    sysfs = env.get(SYSFS_ROOT_ENV, "").strip()
    if sysfs:
        if not Path(sysfs).is_dir():
            raise DeviceError(f"{SYSFS_ROOT_ENV}={sysfs} is not a directory; unset it to measure this host")
        root = str(Path(sysfs).resolve())
        replaced[SYSFS_ROOT_ENV] = root
    tools = env.get(TOOLS_DIR_ENV, "").strip()
    if tools:
        if not Path(tools).is_dir():
            raise DeviceError(f"{TOOLS_DIR_ENV}={tools} is not a directory; unset it to use the board's own tools")
        folder = Path(tools).resolve()
        options = {key: str(folder / name) for key, name in TOOLS.items()}
        replaced[TOOLS_DIR_ENV] = str(folder)
    return root, options, replaced


def replay_warning(replaced: Mapping[str, str]) -> str | None:
    if not replaced:
        return None
    what = ", ".join(f"{k}={v}" for k, v in replaced.items())
    return f"replayed board ({what}): sensor and tool readings come from there, not from this host"
