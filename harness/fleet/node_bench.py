"""What runs on a board: the normal bench engine, pinned to this node, on the variants the head sent.

The head exported the portable variants once (ONNX files) and sent their bytes through Ray's object store. Here
they are written to this node's scratch folder and measured by the unchanged engine: this node's own device
profile (its sensors, its sysfs root), one fresh worker process per variant, sensor windows, interleaved rounds.
Device-specific artifacts (TensorRT engines) are built here, on the board, from the shipped ONNX base. The rows
the engine writes go to a RecordingStore and travel back to the head, the only writer of the DuckDB file.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.engine import Engine
from harness.fleet.identity import ENV_SCRATCH, profile_settings_from_env
from harness.fleet.records import RecordingStore

# exporters whose output only runs on the machine that built it
DEVICE_SPECIFIC_EXPORTERS = frozenset({"tensorrt"})


@dataclasses.dataclass(frozen=True)
class NodeRequest:
    """Everything a board needs besides the model files: sent by the head with each task."""

    run_id: str                                  # the fleet run (the head's)
    board: str
    device: str                                  # this board's device profile
    head_version: str
    config: dict[str, Any]                       # BenchConfig fields (the head's command line)
    variants: list[dict[str, Any]]               # Variant fields; "path" is a file name inside the payload
    device_chains: list[dict[str, Any]]          # {"base_id", "name", "steps": [{"exporter","params","text"}]}
    user_models: list[str]                       # payload file names of the user's ONNX files, in order


def _scratch(run_id: str, board: str) -> Path:
    base = Path(os.environ.get(ENV_SCRATCH) or Path(tempfile.gettempdir()) / "harness-node")
    return base / run_id / board


def _echo(board: str):
    def echo(msg: str) -> None:
        print(f"[{board}] {msg}", file=sys.stderr, flush=True)
    return echo


def run_request(request: NodeRequest, files: dict[str, bytes]) -> dict[str, Any]:
    """Bench on this node and return its records (see BoardRecords) plus what the head reports."""
    from harness import __version__
    from harness.fleet.errors import FleetError

    if __version__ != request.head_version:
        # the head checked the advertised version; this is the code actually installed here
        raise FleetError(f"board {request.board} runs harness {__version__}, the head runs {request.head_version}")
    work = _scratch(request.run_id, request.board)
    if work.exists():
        shutil.rmtree(work)
    models = work / "models"
    models.mkdir(parents=True)
    for name, data in files.items():
        target = (models / name).resolve()
        if models.resolve() not in target.parents:
            raise FleetError(f"refusing a shipped file outside the scratch folder: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    try:
        return _bench(request, models, work)
    finally:
        # the board keeps nothing: what matters went back to the head
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            work.parent.rmdir()          # the run's folder, once the last board on this host is done


def _bench(request: NodeRequest, models: Path, work: Path) -> dict[str, Any]:
    from harness.plan import BenchConfig
    from harness.core.variant import Variant

    fields = {f.name for f in dataclasses.fields(BenchConfig)}
    cfg = {k: v for k, v in request.config.items() if k in fields}
    cfg.update(device=request.device, db=str(work / "unused.duckdb"), artifacts_dir=str(work / "artifacts"),
               progress=False, models=tuple(str(models / m) for m in request.user_models))
    cfg["recipes"] = tuple(cfg["recipes"]) if cfg.get("recipes") else None
    cfg["batch_sizes"] = tuple(cfg.get("batch_sizes") or ())
    cfg["input_shapes"] = {k: tuple(v) for k, v in (cfg.get("input_shapes") or {}).items()}
    config = BenchConfig(**cfg)
    shipped = [Variant(**{**v, "path": str(models / v["path"]) if v.get("path") else None})
               for v in request.variants]
    echo = _echo(request.board)
    engine = NodeEngine(config, shipped, request.device_chains, request.board, echo)
    result = engine.run()
    records = engine.store.records
    hdf5 = records.run.get("hdf5_path")
    hdf5_bytes = Path(hdf5).read_bytes() if hdf5 and Path(hdf5).is_file() else None
    import ray

    return {"records": records, "status": result.status, "failed": result.failed, "hdf5": hdf5_bytes,
            "host": socket.gethostname(), "node_id": ray.get_runtime_context().get_node_id()}


class NodeEngine(Engine):
    """The bench engine with three differences: this node's profile settings, the shipped variants instead of
    an export, and a RecordingStore instead of the DuckDB file."""

    def __init__(self, config, shipped, device_chains, board: str, echo):
        super().__init__(config, echo)
        self.store = RecordingStore()
        self.shipped = shipped
        self.device_chains = device_chains
        self.board = board

    def _profile(self):
        from harness.device_profiles import load_profile
        from harness.device_profiles.base import ProfileConfig

        c = self.config
        root, options = profile_settings_from_env()
        return load_profile(c.device, ProfileConfig(
            root=root, options=options, sample_interval_s=c.sample_interval_s, idle_duration_s=c.idle_s,
            exclusive=c.exclusive, lock_clocks=c.lock_clocks, gpu_index=c.gpu_index))

    def _export(self, example, out_dir: Path, profile, run_id: str):
        from harness.store.store import utcnow

        variants = list(self.shipped)
        if self.device_chains:
            variants += self._build_device_variants(example, out_dir, profile)
        for v in variants:
            if not v.ok:
                with self.store.write() as con:
                    self.store.insert_rows(con, "variants", [v.row(run_id, utcnow())])
        return variants

    def _build_device_variants(self, example, out_dir: Path, profile):
        """TensorRT engines and the like: built here from the shipped ONNX base, on the board that runs them."""
        from harness.exporters.base import Artifact, ExportContext
        from harness.exporters.recipes import Step, _run_step
        from harness.core.variant import Variant, recipe_hash

        out_dir.mkdir(parents=True, exist_ok=True)
        ctx = ExportContext(example=example, out_dir=out_dir, target_device=self.config.device,
                            target_info=profile.describe(), seed=self.config.seed)
        by_id = {v.variant_id: v for v in self.shipped}
        built = []
        for chain in self.device_chains:
            source = by_id.get(chain["base_id"])
            name = chain["base_name"]
            key = chain["base_name"]
            for raw in chain["steps"]:
                step = Step(raw["exporter"], raw["params"], raw["text"])
                name, key = f"{name}>{step.text}", f"{key}>{step.text}"
                if source is None or not source.ok:
                    why = source.error if source is not None else "its base was not exported"
                    source = Variant(name=name, variant_id=recipe_hash(example.name, key, step.params), path=None,
                                     model=example.name, operation=step.exporter, params=step.params,
                                     status="skipped", error=f"not exported: base failed ({why})")
                    built.append(source)
                    continue
                out = _run_step(step, Artifact(source), ctx, name, key)
                source = out if isinstance(out, Variant) else out.variant
                source = source.with_(info={**source.info, "built_on": self.board})
                self.echo(f"  built {name} on {self.board}" if source.ok else f"  {name}: {source.error}")
                built.append(source)
        return built
