"""`ray start` / `ray stop` wrappers that make a machine a harness node, and the fleet listing.

Security: a Ray cluster executes whatever code any client that reaches its ports sends it; Ray has no
authentication of its own. Start the head on an address of a trusted network only (the default here is
127.0.0.1); never expose Ray's ports (GCS port, client server 10001, object manager and worker ports) to an
untrusted network. harness opens no port of its own and starts Ray without its dashboard.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError
from harness.fleet.errors import FleetError
from harness.fleet.identity import VERSION, check_board_name, node_env, resources

DEFAULT_PORT = 6379
DETECT_ORDER = ("jetson", "nvidia-gpu", "cpu")


@dataclass(frozen=True)
class NodeStartConfig:
    head: bool = False
    address: str | None = None          # HEAD_HOST:PORT to join (not with head)
    host: str | None = None             # the address this node binds to and advertises
    port: int = DEFAULT_PORT            # head only: the GCS port
    board: str | None = None
    device: str = "auto"                # profile name or auto (first detected of jetson, nvidia-gpu, cpu)
    device_root: str | None = None      # the profile's filesystem root (tests and containers)
    device_options: dict[str, Any] = field(default_factory=dict)
    scratch: str | None = None
    num_cpus: int | None = None
    object_store_bytes: int | None = None


def detect_device(root: str = "/", options: dict[str, Any] | None = None) -> str:
    """The first device profile whose device is present here."""
    from harness.device_profiles import profile_class
    from harness.device_profiles.base import ProfileConfig

    cfg = ProfileConfig(root=root, options=dict(options or {}))
    for name in DETECT_ORDER:
        if profile_class(name).detect(cfg).available:
            return name
    return "cpu"


def _ray_executable() -> str:
    # the `ray` next to this Python first: a node must run Ray and harness from the same environment
    local = Path(sys.executable).with_name("ray")
    found = str(local) if local.exists() else shutil.which("ray")
    if not found:
        from harness.core.import_utils import missing_extra_message

        raise FleetError(missing_extra_message("ray", "fleet"))
    return found


def start_command(config: NodeStartConfig) -> tuple[list[str], dict[str, str]]:
    """(`ray start` argument list, extra environment) for `config`; validates it."""
    from harness import __version__

    if config.head == bool(config.address):
        raise UsageError("node start needs exactly one of --head or --address HEAD_HOST:PORT")
    device = config.device
    if device == "auto":
        device = detect_device(config.device_root or "/", config.device_options)
    else:
        from harness.device_profiles import profile_class

        profile_class(device)   # unknown names fail here with the list of profiles
    board = config.board
    if board is None and not config.head:
        board = socket.gethostname().split(".")[0]
    res = {VERSION + __version__: 1.0}
    if board is not None:
        res = resources(check_board_name(board), device, __version__, platform.machine())
    args = [_ray_executable(), "start", "--disable-usage-stats", f"--resources={json.dumps(res, sort_keys=True)}"]
    if config.head:
        args += ["--head", f"--port={config.port}", "--include-dashboard=false",
                 f"--node-ip-address={config.host or '127.0.0.1'}"]
    else:
        from harness.fleet.cluster import parse_host_port

        host, port = parse_host_port(config.address)
        args += [f"--address={host}:{port}"]
        if config.host:
            args += [f"--node-ip-address={config.host}"]
    if config.num_cpus is not None:
        args += [f"--num-cpus={config.num_cpus}"]
    if config.object_store_bytes is not None:
        args += [f"--object-store-memory={config.object_store_bytes}"]
    return args, node_env(config.device_root, config.device_options, config.scratch)


def start(config: NodeStartConfig) -> int:
    args, env = start_command(config)
    proc = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise FleetError(f"ray start failed: {tail[-1][:240] if tail else f'exit {proc.returncode}'}")
    return 0


def stop() -> int:
    proc = subprocess.run([_ray_executable(), "stop"], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise FleetError(f"ray stop failed: {tail[-1][:240] if tail else f'exit {proc.returncode}'}")
    return 0


def list_nodes(address: str) -> list[dict[str, Any]]:
    """Every node of the cluster at `address` (boards first), with its mismatch against this harness."""
    from harness import __version__
    from harness.fleet import cluster

    with cluster.connect(address):
        nodes = cluster.fleet_nodes()
    rows = [n.as_dict(__version__) for n in nodes]
    rows.sort(key=lambda r: (r["board"] is None, r["board"] or "", not r["alive"], r["host"]))
    return rows
