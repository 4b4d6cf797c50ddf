"""The size of a variant not measured yet, computed by exporting it instead of predicted.

A variant's file size follows from its graph alone: how many channels prune-structured leaves in each layer, which
weights are stored in FP16 or INT8 with their scales. Predicted from other architectures it errs by 5-40 % (on the
benchmark's store K: `zoo-deep-mlp` at prune-structured:0.25 predicted 0.70 of FP32, 0.59 exported; `zoo-lenet` at
0.5 predicted 0.56, 0.39 exported), and a size limit then shuts out the best candidate or lets through one that
breaks it. So `harness recommend` exports each candidate it would otherwise predict, in a size-only form that makes
the same graph faster:

- prune-structured without fine-tuning or BatchNorm re-estimation: both change weight values, not shapes (the
  number of channels a layer keeps is ceil((1 - amount) n), whichever channels they are);
- int8-static calibrated min-max on a few calls: calibration sets scale values, not which nodes are quantized.

tests/test_meta_sizing.py checks that the size-only export has the size of the real one for every recipe of the
sweep grid. The same exports are what harness.meta.timed_latency times for the latency ratio (the graph is the real
variant's); accuracy and memory are still predicted: only running the real variant tells those.

It exports, and rebuilds a model's example from the store (a user's ONNX file as the engine loads one), so it sits
with the engine, like the sweep: `harness recommend` hands it to harness.meta.recommend as a `sizer`.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

from harness.meta.computed import Sizes  # noqa: F401  (what compute_sizes and sizes_for return)

# what a size-only export changes in each step (values that alter weights or scales, never the graph's shapes)
SIZE_ONLY = {
    "prune-structured": {"fine_tune": False, "recalibrate_bn": False},
    "int8-static": {"calibration_method": "minmax", "calibration_count": 4},
}


def size_only_recipe(recipe: str) -> str:
    """`recipe` with every step set to its size-only form (SIZE_ONLY), as recipe text."""
    from harness.exporters.recipes import parse_recipe

    parts = []
    for step in parse_recipe(recipe):
        params = dict(step.params) | SIZE_ONLY.get(step.exporter, {})
        if not params:
            parts.append(step.exporter)
            continue
        args = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(params.items()))
        parts.append(f"{step.exporter}:{args}")
    return ">".join(parts)


def compute_sizes(example, root_path: str, recipes: Sequence[str], device: str = "cpu",
                  out_dir: str | Path | None = None, module: Callable[[], object] | None = None,
                  timing=None, batch_size: int = 1, threads: int | None = 1) -> Sizes:
    """Size-only exports of `recipes` from the FP32 ONNX root at `root_path`. `example` provides calibration
    calls (a user's ONNX model: random ones, which set scales only); `module`, when given, builds the FP32 torch
    module for the steps that need one (prune-structured). A recipe whose export fails gets its reason instead
    of a size. With `timing` (harness.meta.timed_latency.TrialTiming) the exports are also timed against the
    root on this host, at `batch_size` with `threads` intra-op threads (the root measurement's own settings)."""
    from harness.core.errors import first_line
    from harness.core.variant import variant_from_file
    from harness.exporters.base import Artifact, ExportContext
    from harness.exporters.recipes import build_variants, needs_torch_module

    out = Sizes()
    todo = []
    for r in recipes:
        if needs_torch_module(r) and module is None:
            out.reasons[r] = "needs the model's PyTorch module, which this model does not have"
        else:
            todo.append(r)
    if not todo:
        return out
    root = variant_from_file(root_path, name="fp32", model=example.name, operation="fp32")
    root = root.with_(root_id=root.variant_id)
    torch_module = None
    if module is not None and any(needs_torch_module(r) for r in todo):
        torch_module = module()
    paths: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        ctx = ExportContext(example=example, out_dir=Path(tmp), target_device=device)
        for recipe in todo:
            # one chain at a time: the last variant of its provenance tree is the recipe's own
            try:
                variants = build_variants(example, [size_only_recipe(recipe)], ctx,
                                          root=Artifact(root, torch_module))
            except Exception as exc:    # an exporter's own failure is a variant; this is anything else
                out.reasons[recipe] = first_line(exc)
                continue
            last = variants[-1]
            if last.ok and last.size_bytes:
                out.bytes[recipe] = int(last.size_bytes)
                paths[recipe] = last.path
            else:
                out.failed[recipe] = (last.error or f"export {last.status}").splitlines()[0]
        if timing is not None and paths:
            _time_exports(out, root_path, paths, timing, batch_size, threads)
    return out


def _time_exports(out: Sizes, root_path: str, paths: dict[str, str], timing, batch_size: int,
                  threads: int | None) -> None:
    """Time the ONNX size-only exports against the root (harness.meta.timed_latency); a format onnxruntime does
    not run here, or a graph it fails on, keeps its latency predicted, with the reason."""
    from harness.core.errors import HarnessError, first_line
    from harness.inputs import random_inputs, read_input_specs, resolve_shapes

    onnx = {r: p for r, p in paths.items() if str(p).endswith(".onnx")}
    out.latency_reasons.update({r: "not an ONNX file: timed only when measured" for r in paths if r not in onnx})
    try:
        specs = read_input_specs(root_path)
        feeds = random_inputs(specs, resolve_shapes(specs, batch_size, {}), 0)
        out.latency.update(time_against_root(root_path, onnx, feeds, threads, timing))
    except (HarnessError, ValueError, RuntimeError) as exc:
        out.latency_reasons.update({r: f"timing failed: {first_line(exc)}" for r in onnx})


def export_source(model: str, root: dict):
    """(example, torch module factory or None) to size-export `model`'s recipes from, or (None, reason). A user's
    ONNX file (operation "user") gets random calibration calls of its own input shapes (they set scales only);
    a shipped or zoo example is loaded by its name; any other model (a `module:function` example) has no
    example harness can rebuild from the store."""
    from harness.examples import EXAMPLES, load_example

    if root.get("operation") == "user":
        from harness.inputs import default_batch_size, read_input_specs, resolve_shapes
        from harness.onnx_model import OnnxFileModel, read_outputs

        path = root["root_path"]
        try:
            specs = read_input_specs(path)
            batch = default_batch_size(specs)
            resolve_shapes(specs, batch, {})
        except Exception as exc:
            return None, f"its inputs have no fixed shape to calibrate with ({exc})"
        return OnnxFileModel(name=model, path=path, specs=specs, outputs=read_outputs(path),
                             shapes_for=lambda b: resolve_shapes(specs, b, {}), batch_size=batch), None
    if model in EXAMPLES:
        example = load_example(model)
        return example, _module_factory(example, root["root_path"])
    return None, ("no example to export it from (a model benched with --example module:function is not "
                  "rebuilt from the store)")


def _module_factory(example, root_path: str) -> Callable[[], object]:
    """example.build_model, finding a zoo member's cached weights where `harness sweep` put them: the artifacts
    directory above the run directory that holds the root (<artifacts>/<run>/<root>.onnx, weights in
    <artifacts>/zoo-weights), unless HARNESS_ZOO_CACHE says otherwise; without them the member is trained
    again (deterministic, seconds)."""
    import os

    from harness.examples.zoo.models import CACHE_ENV

    weights = Path(root_path).resolve().parent.parent / "zoo-weights"

    def build():
        if os.environ.get(CACHE_ENV) or not weights.is_dir():
            return example.build_model()
        os.environ[CACHE_ENV] = str(weights)
        try:
            return example.build_model()
        finally:
            os.environ.pop(CACHE_ENV, None)
    return build


def sizes_for(store, model: str, root: dict, recipes: Sequence[str], device: str, compute: bool = True,
              echo: Callable[[str], None] | None = None, timing=None) -> Sizes:
    """Sizes of `recipes` of `model` (its FP32 root point `root`): those the store holds for this root, the rest
    computed by size-only exports and stored (with `compute`). With `timing` (a TrialTiming) their latency ratios
    too, timed from the same exports when this host can (harness.meta.timed_latency.timing_refusal): a recipe
    whose size is stored but not its latency is exported again to time it."""
    from harness.meta.computed import stored_outcomes
    from harness.store.meta import save_sizes

    root_id = root["root_id"]
    out, host = stored_outcomes(store, root, device, recipes, timed=timing is not None)
    if host is None:
        timing = None           # nothing to time here (the refusal is each recipe's latency reason)
    todo = [r for r in recipes if (r not in out.bytes and r not in out.failed and r not in out.reasons)
            or (timing is not None and r in out.bytes and r not in out.latency and r not in out.latency_reasons)]
    if todo and not compute:
        out.reasons.update({r: "not computed yet (harness recommend computes it)" for r in todo if r not in out.bytes})
    elif todo:
        example, module = export_source(model, root)
        if example is None:
            new = Sizes(reasons={r: module for r in todo if r not in out.bytes})
        else:
            if echo:
                echo(f"computing the size of {len(todo)} recipe(s) of {model} by exporting them (size-only)"
                     + (", and timing them against its FP32 root on this host" if timing is not None else ""))
            new = compute_sizes(example, root["root_path"], todo, device, module=module, timing=timing,
                                batch_size=int(root.get("batch_size") or 1), threads=root.get("threads"))
        save_sizes(store, root_id, model, device, new, host)
        for mine, theirs in ((out.bytes, new.bytes), (out.failed, new.failed), (out.reasons, new.reasons),
                             (out.latency, new.latency), (out.latency_reasons, new.latency_reasons)):
            mine.update(theirs)
    if out.failed and echo:
        first = next(iter(out.failed.items()))
        echo(f"{len(out.failed)} recipe(s) cannot be made from {model}: their export fails, so they are no "
             f"candidates ({first[0]}: {first[1]}" + (", ..." if len(out.failed) > 1 else "") + ")")
    return out


def time_against_root(root_path: str, paths: Mapping[str, str], feeds: dict, threads: int | None = 1,
                      timing=None) -> dict:
    """The latency ratios of size-only exports against their root, timed on this host (harness.meta.timed_latency
    has the rules): load the root and every graph of `paths` (name -> ONNX file) in onnxruntime sessions with
    `threads` intra-op threads, time them in `timing.rounds` (a TrialTiming) interleaved rounds and return each
    one's TimedRatio. A graph onnxruntime cannot load or run raises harness.core.errors.ModelError (the caller
    records why)."""
    from harness.meta.timed_latency import TrialTiming, ratios
    from harness.runtimes.base import RuntimeConfig
    from harness.runtimes.onnxruntime_runtime import OnnxRuntime
    from harness.timing import timed_loop, warmup

    timing = timing or TrialTiming()
    root = "\0root"       # no recipe is called that
    graphs = {root: root_path, **paths}
    steps = {}
    for name, path in graphs.items():
        rt = OnnxRuntime(RuntimeConfig(threads=threads))
        rt.load(path)
        rt.infer(feeds)           # the first call allocates: never timed
        steps[name] = rt.make_step(feeds)
    names = list(graphs)
    samples: dict[str, list] = {n: [] for n in names}
    for k in range(timing.rounds):
        # a rotating order: no graph always runs right after the same neighbour
        for name in names[k % len(names):] + names[:k % len(names)]:
            warmup(steps[name], 1, timing.warmup_s)
            samples[name].append(timed_loop(steps[name], timing.min_iterations, timing.min_duration_s))
    return ratios(samples, root, timing)
