"""A node's harness identity, as Ray custom resources.

Ray cannot see a Jetson GPU (there is no NVML on Jetson), so a board advertises itself: `harness node start`
adds custom resources whose names carry the board name, its device profile and the harness version. Resources
work in every Ray version (node labels are newer and their value syntax is restricted), and the board resource
has exactly one unit, so two benches can never share a board at once.

    harness-board:<board>      1   the board; a bench task asks for it, so one bench per board at a time
    harness-device:<profile>   1   cpu, nvidia-gpu or jetson
    harness-version:<version>  1   the harness version installed on the node
    harness-arch:<machine>     1   x86_64, aarch64: decides e.g. the INT8 format the head exports for it

Profile settings a board needs (a sysfs root, tool paths) are not resources: they are environment variables of
the `ray start` process, which Ray's worker processes on that node inherit (see ENV_* below).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from harness.core.errors import UsageError

BOARD = "harness-board:"
DEVICE = "harness-device:"
VERSION = "harness-version:"
ARCH = "harness-arch:"

ENV_ROOT = "HARNESS_NODE_ROOT"                    # the device profile's filesystem root (default /)
ENV_OPTIONS = "HARNESS_NODE_DEVICE_OPTIONS"       # JSON object of profile options (tool paths, power source...)
ENV_SCRATCH = "HARNESS_NODE_SCRATCH"              # where a board keeps the variants it is sent (default: tmp)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_board_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise UsageError(f"bad board name {name!r}: use letters, digits, '.', '_' or '-' (at most 63 characters)")
    return name


def resources(board: str, device: str, version: str, machine: str) -> dict[str, float]:
    return {BOARD + check_board_name(board): 1.0, DEVICE + device: 1.0, VERSION + version: 1.0,
            ARCH + machine: 1.0}


def _suffix(res: dict[str, Any], prefix: str) -> str | None:
    found = sorted(k[len(prefix):] for k in res if k.startswith(prefix))
    return found[0] if found else None


@dataclass(frozen=True)
class NodeIdentity:
    """One Ray node as harness sees it. `board` is None for a node that did not join with `harness node start`
    (e.g. a plain `ray start` head); such nodes are never benched on."""

    node_id: str
    host: str
    address: str
    alive: bool
    board: str | None
    device: str | None
    version: str | None
    machine: str | None

    def mismatch(self, head_version: str) -> str | None:
        """Why this node must not bench for a head running `head_version` (None when it may)."""
        if self.board is None:
            return None
        if self.version is None:
            return "advertises no harness version"
        if self.version != head_version:
            return f"runs harness {self.version}, the head runs {head_version}"
        return None

    def as_dict(self, head_version: str | None = None) -> dict[str, Any]:
        out = {"board": self.board, "device": self.device, "host": self.host, "address": self.address,
               "alive": self.alive, "harness_version": self.version, "machine": self.machine,
               "node_id": self.node_id}
        if head_version is not None:
            out["mismatch"] = self.mismatch(head_version)
        return out


def from_ray_node(node: dict[str, Any]) -> NodeIdentity:
    """Parse one entry of `ray.nodes()`. A dead node reports no resources, so its identity comes from the
    resources it registered with (`Resources` is kept in the entry by every Ray version we support)."""
    res = node.get("Resources") or {}
    return NodeIdentity(
        node_id=node.get("NodeID", ""), host=node.get("NodeManagerHostname") or node.get("NodeManagerAddress", ""),
        address=node.get("NodeManagerAddress", ""), alive=bool(node.get("Alive")),
        board=_suffix(res, BOARD), device=_suffix(res, DEVICE), version=_suffix(res, VERSION),
        machine=_suffix(res, ARCH))


def node_env(root: str | None = None, options: dict[str, Any] | None = None,
             scratch: str | None = None) -> dict[str, str]:
    """Environment variables that carry a node's profile settings to Ray's workers on it."""
    env = {}
    if root:
        env[ENV_ROOT] = root
    if options:
        env[ENV_OPTIONS] = json.dumps(options, sort_keys=True)
    if scratch:
        env[ENV_SCRATCH] = scratch
    return env


def profile_settings_from_env() -> tuple[str, dict[str, Any]]:
    """(root, options) of this node's device profile, from the environment `harness node start` set."""
    root = os.environ.get(ENV_ROOT) or "/"
    text = os.environ.get(ENV_OPTIONS)
    try:
        options = json.loads(text) if text else {}
    except ValueError:
        raise UsageError(f"{ENV_OPTIONS} is not a JSON object: {text[:80]!r}") from None
    if not isinstance(options, dict):
        raise UsageError(f"{ENV_OPTIONS} is not a JSON object: {text[:80]!r}")
    return root, options
