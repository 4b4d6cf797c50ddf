"""`harness bench --monitor DIR`: measure the checkpoints a LocalModelMonitor (or C&C's own) directory holds.

ONNX checkpoints (`models/<id>.onnx`) are measured as they are. Torch checkpoints (`models/<id>.pth`, state
dicts) need `--model-factory module:function`, a function returning a fresh torch module the state dict fits,
and `--input-shape NAME=DxD...` for the example input; each is exported to ONNX first. Every measured variant
keeps its C&C id as its name, its base and operation, and the metrics logged for it; models without a
checkpoint are listed and left out.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Callable

from harness.engine import BenchResult, Engine
from harness.core.errors import ModelError, UsageError, message_line
from harness.interop import cc
from harness.plan import BenchConfig
from harness.core.variant import Variant, variant_from_file


def load_factory(ref: str) -> Callable[[], Any]:
    module, _, func = ref.partition(":")
    if not module or not func:
        raise UsageError(f"bad --model-factory {ref!r}: expected module:function")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot load --model-factory {ref!r}: {message_line(exc)}") from None


def _torch_to_onnx(ckpt: Path, factory: Callable[[], Any], input_shapes: dict[str, tuple[int, ...]],
                   out: Path) -> Path:
    import warnings

    import torch

    if not input_shapes:
        raise UsageError(f"{ckpt.name} is a torch checkpoint: give --input-shape NAME=DxD... for its example input")
    state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    module = factory()
    try:
        module.load_state_dict(state)
    except Exception as exc:
        raise ModelError(f"{ckpt.name} does not fit the --model-factory module: {message_line(exc, 200)}") from None
    module.eval()
    names = list(input_shapes)
    inputs = tuple(torch.zeros(shape) for shape in input_shapes.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, inputs, str(out), input_names=names,
                          dynamic_axes={n: {0: "batch"} for n in names}, opset_version=17, dynamo=False)
    return out


def monitor_variants(directory: str | Path, artifacts: Path, factory_ref: str | None,
                     input_shapes: dict[str, tuple[int, ...]], echo: Callable[[str], None]
                     ) -> tuple[list[Variant], cc.CCDocument, dict[str, str]]:
    """(variants to measure, the directory's document, {C&C id: variant id})."""
    directory = Path(directory)
    doc = cc.read_document(directory)
    by_id = {m["id"]: m for m in doc.models}
    factory = load_factory(factory_ref) if factory_ref else None
    name = directory.resolve().name
    found: dict[str, Variant] = {}
    for m in doc.models:
        mid = m["id"]
        ckpt = cc.find_checkpoint(directory, "models", mid)
        if ckpt is None:
            echo(f"  {mid}: no checkpoint in {directory / 'models'}; not measured")
            continue
        if ckpt.suffix == ".pkl":
            echo(f"  {mid}: pickle checkpoints cannot be measured (save an ONNX file or a torch state dict)")
            continue
        if ckpt.suffix == ".pth":
            if factory is None:
                echo(f"  {mid}: torch checkpoint; pass --model-factory module:function to measure it")
                continue
            artifacts.mkdir(parents=True, exist_ok=True)
            path = _torch_to_onnx(ckpt, factory, input_shapes, artifacts / f"{mid}.onnx")
        else:
            path = ckpt
        op = m.get("operation") or {}
        found[mid] = variant_from_file(path, name=mid, model=name, precision=None,
                                       operation=op.get("name"), params=op.get("parameters") or {},
                                       info={"source": "monitor", "cc_id": mid, "checkpoint": str(ckpt),
                                             "tag": m.get("tag")})
    if not found:
        raise ModelError(f"no measurable checkpoint in {directory}: save ONNX files (checkpoint='model.onnx') or "
                         "torch state dicts with --model-factory")
    ids: dict[str, str] = {}
    seen: set[str] = set()
    for mid, v in found.items():
        vid = v.variant_id if v.variant_id not in seen else f"{v.variant_id}-{mid}"
        seen.add(vid)
        ids[mid] = vid
    variants = []
    for mid, v in found.items():
        base = by_id[mid].get("base")
        root = cc.root_of(mid, {k: by_id[k] for k in found})
        variants.append(v.with_(variant_id=ids[mid], base_id=ids.get(str(base)) if base is not None else None,
                                root_id=ids.get(root)))
    return variants, doc, ids


class MonitorEngine(Engine):
    """The bench engine over a monitor directory's checkpoints (provenance from models.json)."""

    def __init__(self, config: BenchConfig, directory: str, factory: str | None, echo=None):
        super().__init__(config, echo)
        self.directory = directory
        self.factory = factory
        self.doc: cc.CCDocument | None = None
        self.ids: dict[str, str] = {}

    def _user_models(self) -> list:
        # the checkpoints are not model files given on the command line: _user_variants reads and checks them
        return []

    def _user_variants(self, models=None, artifacts=None, profile=None, run_id=None) -> list[Variant]:
        from harness.inputs import default_batch_size, read_input_specs, resolve_shapes

        artifacts = Path(self.config.artifacts_dir or Path(self.config.db).resolve().parent / "harness-artifacts")
        variants, self.doc, self.ids = monitor_variants(self.directory, artifacts / "monitor-exports",
                                                        self.factory, self.config.input_shapes, self.echo)
        for v in variants:
            specs = read_input_specs(v.path)
            for b in self.config.batch_sizes or (default_batch_size(specs),):
                resolve_shapes(specs, b, self.config.input_shapes)
        return variants


def run_monitor_bench(config: BenchConfig, directory: str, factory: str | None, echo=None) -> BenchResult:
    from harness.store import interop

    cc.read_document(directory)           # a bad models.json fails before anything is written
    engine = MonitorEngine(config, directory, factory, echo)
    # the engine takes user models from config.models; the monitor's variants replace them in _user_variants
    engine.config = _with_models(config, directory)
    result = engine.run()
    doc, ids = engine.doc, engine.ids
    if doc is not None and ids:
        run_id = result.run_id
        store = engine.store
        interop.add_user_data(
            store, run_id,
            metric_defs=[cc.metric_def_row(run_id, m) for m in doc.metrics],
            operation_defs=[cc.operation_def_row(run_id, o) for o in doc.operations],
            user_metrics=[cc.metric_value_row(run_id, ids[m["id"]], k, v, "monitor")
                          for m in doc.models if m["id"] in ids for k, v in m["metrics"].items()],
            tags={ids[m["id"]]: m["tag"] for m in doc.models if m["id"] in ids and m.get("tag")})
        store.update_run(run_id, model=Path(directory).resolve().name,
                         config=json.dumps({**config.as_dict(), "monitor": str(Path(directory).resolve())},
                                           sort_keys=True, default=str))
    return result


def _with_models(config: BenchConfig, directory: str) -> BenchConfig:
    from dataclasses import replace

    return replace(config, models=(str(Path(directory) / "models.json"),))
