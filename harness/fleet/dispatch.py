"""The head of a fleet bench: one run, one pinned bench task per board, every record written here.

Order of work (bad input fails before anything is written, as on one machine):
  1. resolve the model (ONNX files or the example) and the board selection: names, `all`, or `failed@RUN`;
  2. join the cluster; refuse unknown boards and any board running another harness version (one line);
  3. record the run and its boards; export the portable variants once per kind of target (device profile and
     CPU architecture: usually one) and put their bytes in Ray's object store;
  4. one task per board, pinned to its node (NodeAffinitySchedulingStrategy, soft=False: "every board", not "any
     board") and holding the board's one-unit resource, so two benches never share a board;
  5. as each board answers, write its records in one transaction; a board whose node died or became unreachable
     gets its variants stored as failed measurements with the reason, every other board's results land;
  6. mark the run complete when any board measured something, and name the failed boards.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import secrets
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.core.errors import UsageError
from harness.fleet.errors import FleetError
from harness.fleet.identity import BOARD, NodeIdentity
from harness.plan import BenchConfig

FAILED_PREFIX = "failed@"


@dataclass(frozen=True)
class FleetConfig:
    cluster: str                        # HOST:PORT or local:N
    boards: str                         # NAME[,NAME...] | all | failed@RUN
    bench: BenchConfig
    task_timeout_s: float | None = None  # a board that has not answered by then counts as unreachable


@dataclass(frozen=True)
class FleetResult:
    run_id: str
    status: str
    boards: list[str]
    failed: dict[str, str]              # board -> reason
    problems: list[str] = field(default_factory=list)   # variant-level failures on boards that answered
    rows_written: int = 0


@dataclass
class _Target:
    """The variants one kind of board gets: exported once on the head for (device profile, architecture)."""

    device: str
    machine: str | None
    variants: list = field(default_factory=list)            # Variant records, paths on the head
    files: dict[str, bytes] = field(default_factory=dict)  # payload: relative path -> bytes
    rel_paths: dict[str, str] = field(default_factory=dict)   # variant_id -> relative path in the payload
    device_chains: list[dict[str, Any]] = field(default_factory=list)
    ref: Any = None


def parse_board_spec(spec: str) -> tuple[str, list[str] | str | None]:
    """("all", None) | ("names", [..]) | ("failed", RUN)."""
    spec = (spec or "").strip()
    if not spec:
        raise UsageError("--boards needs NAME[,NAME...], all, or failed@RUN")
    if spec == "all":
        return "all", None
    if spec.startswith(FAILED_PREFIX):
        ref = spec[len(FAILED_PREFIX):]
        if not ref:
            raise UsageError("--boards failed@RUN needs a run reference, e.g. failed@latest")
        return "failed", ref
    from harness.fleet.identity import check_board_name

    names = [check_board_name(n.strip()) for n in spec.split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise UsageError(f"--boards {spec!r} names a board twice")
    return "names", names


def _bench_on_board_fn():
    import ray

    @ray.remote(num_cpus=0, max_retries=0)
    def bench_on_board(request, files):
        from harness.fleet.node_bench import run_request

        return run_request(request, files)

    return bench_on_board


def _split_recipe(recipe: str) -> tuple[str | None, list[dict[str, Any]]]:
    """(portable prefix, device-specific steps): "int8-static>tensorrt" -> ("int8-static", [tensorrt step])."""
    from harness.exporters.recipes import parse_recipe
    from harness.fleet.node_bench import DEVICE_SPECIFIC_EXPORTERS

    steps = parse_recipe(recipe)
    for i, step in enumerate(steps):
        if step.exporter in DEVICE_SPECIFIC_EXPORTERS:
            prefix = ">".join(s.text for s in steps[:i]) or None
            return prefix, [{"exporter": s.exporter, "params": s.params, "text": s.text} for s in steps[i:]]
    return recipe, []


class FleetBench:
    def __init__(self, config: FleetConfig, echo: Callable[[str], None] | None = None):
        from harness.store import Store

        self.config = config
        self.echo = echo or (lambda msg: print(msg, file=sys.stderr))
        self.store = Store(config.bench.db, lock_timeout_s=config.bench.lock_timeout_s)
        self._hdf5_set = False

    # -- 1. what was asked ----------------------------------------------------------------------------------------
    def _wanted(self) -> tuple[str, list[str] | None]:
        kind, arg = parse_board_spec(self.config.boards)
        if kind == "failed":
            from harness.store.fleet import failed_boards

            if not self.store.path.exists():
                raise UsageError(f"--boards failed@{arg}: no result database at {self.store.path}; pass --db")
            self.store.migrate()           # an older file is upgraded, as by any writing command
            run_id = self.store.resolve_run(arg)
            names = failed_boards(self.store, run_id)
            if not names:
                raise UsageError(f"run {run_id} has no failed boards; nothing to re-run")
            self.echo(f"re-running the failed boards of {run_id}: {', '.join(names)}")
            return "failed", names
        return kind, arg

    def _model(self):
        from harness.engine import Engine

        c = self.config.bench
        if c.models:
            from harness.core.variant import variant_from_file

            if c.recipes:
                # never silently dropped: recipes on ONNX files are built by a local bench's engine only
                raise UsageError("--cluster measures model files as given; --recipe on ONNX files runs with a "
                                 "local `harness bench` (or give --example with its recipes)")
            # the engine's own checks: missing, non-ONNX, corrupt files and unresolved shapes fail here
            models = Engine(c)._user_models()
            return None, [variant_from_file(m.path, name=m.name, model=m.name, operation="user",
                                            info={"source": str(m.path)}) for m in models]
        from harness.examples import load_example

        if c.recipes:
            for r in c.recipes:
                _split_recipe(r)                  # a typo fails before the cluster is touched
        return load_example(c.example), []

    # -- 2. which nodes -------------------------------------------------------------------------------------------
    @staticmethod
    def select(nodes: list[NodeIdentity], kind: str, names: list[str] | None, head_version: str
               ) -> list[NodeIdentity]:
        boards = [n for n in nodes if n.board]
        alive: dict[str, NodeIdentity] = {}
        dead: dict[str, NodeIdentity] = {}
        for n in boards:
            if n.alive:
                if n.board in alive:
                    raise FleetError(f"two live nodes advertise board {n.board!r} ({alive[n.board].host} and "
                                     f"{n.host}); give each board its own name")
                alive[n.board] = n
            else:
                dead[n.board] = n
        if kind == "all":
            chosen = sorted(alive.values(), key=lambda n: n.board)
            if not chosen:
                raise FleetError("no live board in the cluster; join one with `harness node start --address "
                                 "HEAD:PORT --board NAME`")
        else:
            unknown = [b for b in names if b not in alive and b not in dead]
            if kind == "failed":
                # boards that failed before may have left the cluster for good (Ray forgets a dead node's
                # resources): they are re-tried as absent and fail again with that reason
                for b in unknown:
                    dead[b] = NodeIdentity(node_id="", host="", address="", alive=False, board=b, device=None,
                                           version=None, machine=None)
                unknown = []
            if unknown:
                known = ", ".join(sorted(alive)) or "none"
                raise UsageError(f"no board named {', '.join(unknown)} in the cluster; live boards: {known}")
            chosen = [alive.get(b) or dead[b] for b in names]
        for n in chosen:
            why = n.mismatch(head_version)
            if why and n.alive:
                raise FleetError(f"board {n.board} ({n.host}) {why}: install the same harness on the head and "
                                 "every board (refused; nothing was run)")
        return chosen

    # -- the run ---------------------------------------------------------------------------------------------------
    def run(self) -> FleetResult:
        from harness import __version__
        from harness.fleet import cluster

        if cluster.parse_local(self.config.cluster) is None:
            cluster.parse_host_port(self.config.cluster)      # a malformed address fails before anything else
        kind, names = self._wanted()
        example, user_variants = self._model()
        with cluster.connect(self.config.cluster):
            nodes = cluster.fleet_nodes()
            chosen = self.select(nodes, kind, names, __version__)
            return self._run(chosen, example, user_variants)

    def _run(self, chosen: list[NodeIdentity], example, user_variants) -> FleetResult:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from harness import __version__, environment
        from harness.engine import new_run_id
        from harness.fleet.node_bench import NodeRequest
        from harness.store import fleet as fleet_store
        from harness.store.store import to_json, utcnow

        c = self.config.bench
        self.store.migrate()
        run_id = new_run_id()
        artifacts = Path(c.artifacts_dir or Path(c.db).resolve().parent / "harness-artifacts") / run_id
        model_name = example.name if example else ",".join(v.model for v in user_variants)
        devices = sorted({n.device or "?" for n in chosen})
        env = {"host": socket.gethostname(), "harness_version": __version__, "python": platform.python_version(),
               "fleet": {"cluster": self.config.cluster, "boards": [n.as_dict() for n in chosen]}}
        self.store.create_run({
            "run_id": run_id, "created_at": utcnow(), "finished_at": None, "status": "running", "tag": c.tag,
            "model": model_name, "device": ",".join(devices), "host": env["host"], "git_sha": environment.git_sha(),
            "harness_version": __version__, "fingerprint": None, "environment": to_json(env),
            "config": to_json({**c.as_dict(), "cluster": self.config.cluster, "boards": self.config.boards}),
            "hdf5_path": None,
        })
        self.echo(f"run {run_id}: {model_name} on {len(chosen)} board(s) "
                  f"({', '.join(n.board for n in chosen)}) -> {c.db}")
        failed: dict[str, str] = {}
        problems: list[str] = []
        written = 0
        status = "failed"
        boards_done: set[str] = set()
        try:
            for n in chosen:
                fleet_store.create_run_board(self.store, {
                    "run_id": run_id, "board": n.board, "node": n.node_id, "host": n.host, "device": n.device,
                    "harness_version": n.version, "status": "running", "started_at": utcnow()})
            targets = self._export(example, user_variants, chosen, artifacts, run_id)
            fn = _bench_on_board_fn()
            pending: dict[Any, tuple[NodeIdentity, _Target]] = {}
            for n in chosen:
                # a dead board's variants are those of its kind, or (kind unknown) of the first kind exported
                target = targets.get((n.device, n.machine)) or next(iter(targets.values()), None) or _Target("", "")
                if not n.alive:
                    self._board_failed(run_id, n, target, "node is not alive in the cluster (down or unreachable)",
                                       failed)
                    continue
                request = NodeRequest(
                    run_id=run_id, board=n.board, device=n.device, head_version=__version__,
                    config=c.as_dict(),
                    variants=[{**dataclasses.asdict(v), "path": target.rel_paths.get(v.variant_id)}
                              for v in target.variants],
                    device_chains=target.device_chains,
                    user_models=[target.rel_paths[v.variant_id] for v in target.variants] if c.models else [])
                ref = fn.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n.node_id, soft=False),
                    resources={BOARD + n.board: 1.0}).remote(request, target.ref)
                pending[ref] = (n, target)
            deadline = None
            if self.config.task_timeout_s is not None:
                deadline = time.monotonic() + self.config.task_timeout_s
            while pending:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=timeout)
                if not ready:
                    for ref, (n, target) in list(pending.items()):
                        ray.cancel(ref, force=True)
                        self._board_failed(run_id, n, target, f"no answer within {self.config.task_timeout_s:g} s "
                                           "(node unreachable or stuck)", failed)
                    pending.clear()
                    break
                ref = ready[0]
                n, target = pending.pop(ref)
                try:
                    answer = ray.get(ref)
                except Exception as exc:  # any Ray or harness failure of this board; the others go on
                    from harness.fleet.faults import describe_failure

                    self._board_failed(run_id, n, target, describe_failure(exc), failed)
                    continue
                written += self._land(run_id, n, answer, artifacts, failed, problems)
                boards_done.add(n.board)
            ok_boards = [b for b in boards_done if b not in failed]
            status = "complete" if ok_boards else "failed"
            return FleetResult(run_id, status, [n.board for n in chosen], failed, problems, written)
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            self._finish(run_id, status, chosen)

    # -- 3. export once ----------------------------------------------------------------------------------------------
    def _export(self, example, user_variants, chosen, artifacts: Path, run_id: str) -> dict[tuple, _Target]:
        import ray

        from harness.store import fleet as fleet_store
        from harness.store.store import utcnow
        from harness.core.variant import _model_files

        targets: dict[tuple, _Target] = {}
        stored: set[str] = set()
        for n in chosen:
            if n.alive:
                targets.setdefault((n.device, n.machine), _Target(n.device, n.machine))
        for (device, machine), t in targets.items():
            if example is None:
                t.variants = list(user_variants)
                for i, v in enumerate(t.variants):
                    t.rel_paths[v.variant_id] = f"m{i}/{Path(v.path).name}"
                base_dirs = {v.variant_id: Path(v.path).parent for v in t.variants}
            else:
                out_dir = artifacts / (f"{device}-{machine}" if len(targets) > 1 else "variants")
                t.variants, t.device_chains = self._export_example(example, device, machine, out_dir)
                base_dirs = {v.variant_id: out_dir for v in t.variants}
                for v in t.variants:
                    if v.ok:
                        t.rel_paths[v.variant_id] = os.path.relpath(v.path, out_dir)
            for v in t.variants:
                if not v.ok:
                    continue
                for f in _model_files(Path(v.path)):
                    rel = os.path.relpath(f, base_dirs[v.variant_id])
                    if example is None:
                        rel = str(Path(t.rel_paths[v.variant_id]).parent / Path(f).name)
                    t.files[rel] = f.read_bytes()
            rows = [v.row(run_id, utcnow()) for v in t.variants if v.variant_id not in stored]
            stored.update(v.variant_id for v in t.variants)
            fleet_store.insert_variants(self.store, rows)
            size = sum(len(b) for b in t.files.values())
            # one copy in the object store per kind of board; Ray moves it to each node that needs it
            t.ref = ray.put(t.files)
            self.echo(f"shipping {len([v for v in t.variants if v.ok])} variant(s), {size / 1e6:.2f} MB, to "
                      f"{device}/{machine or '?'} board(s)")
        return targets

    def _export_example(self, example, device: str, machine: str | None, out_dir: Path):
        from harness.exporters.base import ExportContext
        from harness.exporters.recipes import build_variants

        c = self.config.bench
        recipes = list(c.recipes or example.default_recipes)
        portable: list[str] = []
        chains: list[tuple[str | None, list]] = []
        for r in recipes:
            prefix, steps = _split_recipe(r)
            if prefix and prefix not in portable:
                portable.append(prefix)
            if steps:
                chains.append((prefix, steps))
        if chains and not portable:
            portable.append("fp32")
        ctx = ExportContext(example=example, out_dir=out_dir, target_device=device,
                            target_info={"machine": machine} if machine else {}, seed=c.seed)
        self.echo(f"exporting {len(portable)} portable variant(s) of {example.name} for {device}/{machine}: "
                  f"{', '.join(portable)}")
        variants = build_variants(example, portable, ctx, progress=lambda name: self.echo(f"  exported {name}"))
        by_name = {v.name: v for v in variants}
        device_chains = []
        for prefix, steps in chains:
            base = by_name.get(prefix or "fp32")
            device_chains.append({"base_id": base.variant_id if base else None, "base_name": prefix or "fp32",
                                  "steps": steps})
        return variants, device_chains

    # -- 5. results --------------------------------------------------------------------------------------------------
    def _land(self, run_id: str, n: NodeIdentity, answer: dict[str, Any], artifacts: Path,
              failed: dict[str, str], problems: list[str]) -> int:
        from harness.store import fleet as fleet_store

        records = answer["records"]
        node_id, host = answer.get("node_id") or n.node_id, answer.get("host") or n.host
        tag = {"node": node_id, "host": host, "board": n.board}
        for row in records.tables["measurements"]:
            row.update(run_id=run_id, **tag)
        for row in records.tables["quality"]:
            row.update(run_id=run_id, board=n.board)
        for row in records.tables["layers"]:
            row["run_id"] = run_id
        for row in records.tables["variants"]:
            row["run_id"] = run_id
            if '"built_on"' in (row.get("info") or ""):   # built on this board (TensorRT engine)
                row["board"] = n.board
        written = fleet_store.write_board_records(
            self.store, run_id, records.tables["variants"], records.tables["measurements"], records.samples,
            records.tables["quality"], records.tables["layers"])
        hdf5_path = None
        if answer.get("hdf5"):
            target = artifacts / "boards" / n.board / "outputs.h5"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(answer["hdf5"])
            hdf5_path = str(target)
            # the run's own HDF5 pointer (used by the dashboard's behaviour view) is the first board's file
            if not self._hdf5_set:
                self.store.update_run(run_id, hdf5_path=hdf5_path)
                self._hdf5_set = True
        run_row = records.run
        ok = any(m.get("status") == "ok" for m in records.tables["measurements"])
        status = "complete" if ok else "failed"
        error = None if ok else (answer["failed"][0] if answer.get("failed") else "nothing could be measured")
        fleet_store.finish_run_board(self.store, run_id, n.board, status, error, node=node_id, host=host,
                                     fingerprint=run_row.get("fingerprint"), environment=run_row.get("environment"),
                                     hdf5_path=hdf5_path)
        if not ok:
            failed[n.board] = error
        problems.extend(f"{n.board}: {line}" for line in answer.get("failed") or [])
        count = len(records.tables["measurements"])
        self.echo(f"[{n.board}] {count} measurement(s) stored ({written} rows) from {host}")
        return written

    def _board_failed(self, run_id: str, n: NodeIdentity, target: _Target, reason: str,
                      failed: dict[str, str]) -> None:
        """Store every variant the board was to measure as a failed measurement with the reason."""
        from harness.store import fleet as fleet_store
        from harness.store.store import to_json, utcnow

        c = self.config.bench
        why = f"board {n.board} ({n.host}): {reason}"
        rows = [{"measurement_id": secrets.token_hex(8), "run_id": run_id, "variant_id": v.variant_id,
                 "runtime": c.runtime, "provider": c.provider, "graph_optimization": c.graph_optimization,
                 "batch_size": c.batch_sizes[0] if len(c.batch_sizes) == 1 else None, "threads": c.threads,
                 "status": "failed", "error": why, "warnings": to_json([]), "created_at": utcnow(),
                 "node": n.node_id, "host": n.host, "board": n.board}
                for v in target.variants if v.ok]
        fleet_store.write_board_records(self.store, run_id, [], rows, [], [], [])
        fleet_store.finish_run_board(self.store, run_id, n.board, "failed", reason)
        failed[n.board] = reason
        self.echo(f"[{n.board}] failed: {reason}")

    def _finish(self, run_id: str, status: str, chosen: list[NodeIdentity]) -> None:
        from harness.store import fleet as fleet_store

        # boards still "running" (interrupted head) are closed with the run's status
        for row in fleet_store.run_boards(self.store, run_id):
            if row["status"] == "running":
                fleet_store.finish_run_board(self.store, run_id, row["board"], "failed",
                                             f"run {status} before the board answered")
        prints = sorted(r["fingerprint"] for r in fleet_store.run_boards(self.store, run_id) if r["fingerprint"])
        if prints:
            import hashlib

            self.store.update_run(run_id, fingerprint=hashlib.sha256("|".join(prints).encode()).hexdigest()[:16])
        self.store.finish_run(run_id, status)


def run_fleet_bench(config: FleetConfig, echo: Callable[[str], None] | None = None) -> FleetResult:
    return FleetBench(config, echo).run()
