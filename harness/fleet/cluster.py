"""Connecting to a fleet: a real Ray cluster at HOST:PORT, or `local:N`, N real Ray nodes started on this machine.

`local:N` is what Ray's own tests do (ray.cluster_utils.Cluster): one GCS and N raylets, each a separate node
with its own resources, all on this host. Each node advertises a board (`local-0` ... `local-<N-1>`, device cpu),
so the fleet path — node pinning, object transfer, a node dying — can be tried and tested without boards.
"""
from __future__ import annotations

import contextlib
import logging
import platform
import socket
from dataclasses import dataclass, field
from typing import Any, Iterator

from harness.fleet.errors import FleetError
from harness.fleet.identity import NodeIdentity, from_ray_node, resources

LOCAL_PREFIX = "local:"
MAX_LOCAL_NODES = 16
MIN_OBJECT_STORE_BYTES = 80 * 1024 * 1024     # Ray refuses object stores below 75 MiB


def require_ray():
    from harness.core.import_utils import is_ray_available, missing_extra_message

    if not is_ray_available():
        raise FleetError(missing_extra_message("ray", "fleet"))
    import ray

    return ray


def parse_local(address: str) -> int | None:
    """N of `local:N`, None for any other address."""
    if not address.startswith(LOCAL_PREFIX):
        return None
    text = address[len(LOCAL_PREFIX):]
    if not text.isdigit() or not 1 <= int(text) <= MAX_LOCAL_NODES:
        from harness.core.errors import UsageError

        raise UsageError(f"bad --cluster {address!r}: use local:N with 1 <= N <= {MAX_LOCAL_NODES}, or HOST:PORT")
    return int(text)


def parse_host_port(address: str) -> tuple[str, int]:
    from harness.core.errors import UsageError

    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"bad cluster address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379) or local:N")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class BoardSpec:
    """One node of a local cluster: the board it advertises, its device profile, the harness version it claims
    (default: this one) and the environment its workers get (a fake sysfs root in tests, as on a real board)."""

    name: str
    device: str = "cpu"
    version: str | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalClusterConfig:
    """A small test cluster: nodes stay cheap because a 2-core CI machine runs several at once."""

    nodes: int = 2
    cpus_per_node: int = 1
    object_store_bytes: int = 100 * 1024 * 1024
    board_prefix: str = "local"
    device: str = "cpu"
    # node death is noticed by the GCS after period x threshold; Ray's defaults take ~30 s
    health_check_period_ms: int = 500
    health_check_failure_threshold: int = 4
    system_config: dict[str, Any] = field(default_factory=dict)
    boards: tuple[BoardSpec, ...] = ()         # default: `nodes` cpu boards named <board_prefix>-<i>


class LocalCluster:
    """Real Ray nodes on this machine. Always `shutdown()` it (it is a context manager): its raylets are
    separate processes."""

    def __init__(self, config: LocalClusterConfig | None = None):
        self.config = config or LocalClusterConfig()
        self._cluster = None
        self.nodes: dict[str, Any] = {}          # board -> ray node handle

    @property
    def address(self) -> str:
        return self._cluster.address

    def start(self) -> "LocalCluster":
        require_ray()
        from ray.cluster_utils import Cluster

        c = self.config
        system = {"health_check_period_ms": c.health_check_period_ms,
                  "health_check_failure_threshold": c.health_check_failure_threshold, **c.system_config}
        # the head node is a board too: N nodes means N boards
        self._cluster = Cluster(initialize_head=False, shutdown_at_exit=True)
        specs = c.boards or tuple(BoardSpec(f"{c.board_prefix}-{i}", c.device) for i in range(c.nodes))
        try:
            for i, spec in enumerate(specs):
                extra = {"_system_config": system, "include_dashboard": False} if i == 0 else {}
                self.add_board(spec.name, spec.device, spec.version, spec.env, **extra)
        except BaseException:
            self.shutdown()
            raise
        return self

    def add_board(self, board: str, device: str | None = None, version: str | None = None,
                  env: dict[str, str] | None = None, **node_args: Any):
        """Start one more node advertising `board` (and `version`, default this harness's: tests fake a node
        running another version this way). `env` reaches the node's worker processes, as the environment of
        `ray start` does on a real board."""
        from harness import __version__

        c = self.config
        res = resources(board, device or c.device, version or __version__, platform.machine())
        args = {"num_cpus": c.cpus_per_node, "resources": res, "object_store_memory": c.object_store_bytes,
                "env_vars": dict(env or {}), **node_args}
        node = self._cluster.add_node(wait=True, **args)
        self.nodes[board] = node
        return node

    def kill_board(self, board: str) -> None:
        """Kill a node hard (its raylet and workers), as a board losing power would."""
        node = self.nodes.pop(board)
        self._cluster.remove_node(node, allow_graceful=False)

    def shutdown(self) -> None:
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.shutdown()
        self.nodes.clear()

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()


def _check_reachable(host: str, port: int, timeout_s: float = 3.0) -> None:
    # ray.init retries for a long time on a wrong address; a plain TCP connect says so in seconds
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise FleetError(f"cannot reach the Ray head at {host}:{port}: {exc.strerror or exc}; start it with "
                         "`harness node start --head` there, or check the address") from None


def init(address: str) -> None:
    """Connect this process to the cluster as a Ray driver."""
    ray = require_ray()
    host, port = parse_host_port(address)
    _check_reachable(host, port)
    try:
        ray.init(address=f"{host}:{port}", namespace="harness", logging_level=logging.ERROR,
                 log_to_driver=True, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        from harness.core.errors import message_line

        raise FleetError(f"cannot join the Ray cluster at {address}: {message_line(exc)}") from None


@contextlib.contextmanager
def connect(address: str, local_config: LocalClusterConfig | None = None) -> Iterator[LocalCluster | None]:
    """Be a driver of the cluster at `address` for the duration of the block; `local:N` starts (and afterwards
    stops) N nodes on this machine. Yields the LocalCluster, or None for a real cluster."""
    ray = require_ray()
    n = parse_local(address)
    local = None
    try:
        if n is not None:
            cfg = local_config or LocalClusterConfig()
            local = LocalCluster(LocalClusterConfig(**{**cfg.__dict__, "nodes": n})).start()
            address = local.address
        init(address)
        yield local
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if local is not None:
            local.shutdown()


def fleet_nodes() -> list[NodeIdentity]:
    """Every node the connected cluster knows (dead ones too), harness boards or not."""
    import ray

    return [from_ray_node(n) for n in ray.nodes()]
