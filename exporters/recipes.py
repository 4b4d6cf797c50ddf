"""Recipes: chains of exporters such as "prune-structured:0.5>int8-static".

Each step records base_id, operation and params, so the variants of a run form a provenance tree rooted at fp32.
A step that fails is recorded as a failed variant with its reason, and the rest of the run goes on.
"""
from __future__ import annotations

import logging
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.exporters import exporter_class
from harness.exporters.base import Artifact, ExportContext
from harness.core.errors import ExportError, ExportSkipped, UsageError, first_line
from harness.core.variant import Variant, recipe_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    exporter: str
    params: dict[str, Any]
    text: str


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_recipe(recipe: str) -> list[Step]:
    """`name[:value|:k=v,k=v][>name...]`; a bare value is the exporter's first config field."""
    steps = []
    for part in recipe.split(">"):
        part = part.strip()
        if not part:
            raise UsageError(f"bad recipe {recipe!r}: empty step")
        name, _, arg = part.partition(":")
        cls = exporter_class(name.strip())
        params: dict[str, Any] = {}
        if arg:
            fields = [f.name for f in dataclasses.fields(cls.config_class)]
            for item in arg.split(","):
                key, eq, val = item.partition("=")
                if eq:
                    params[key.strip()] = _value(val.strip())
                elif fields:
                    params[fields[0]] = _value(key.strip())
                else:
                    raise UsageError(f"bad recipe step {part!r}: {name} takes no parameters")
            unknown = set(params) - set(fields)
            if unknown:   # a typo fails the run up front, not after minutes of exporting
                raise UsageError(f"bad recipe step {part!r}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                                 f"{name} takes {', '.join(fields)}")
        steps.append(Step(name.strip(), params, part))
    return steps


def needs_torch_module(recipe: str) -> bool:
    """Whether a step of `recipe` works on the PyTorch module (structured pruning, TorchScript), which a user's
    ONNX file does not have: such a recipe is skipped for it."""
    return any(exporter_class(s.exporter).needs_torch for s in parse_recipe(recipe))


def build_variants(example, recipes: list[str], ctx: ExportContext, progress=None,
                   root: Artifact | None = None) -> list[Variant]:
    """Export every recipe and return the variants of the provenance tree: the FP32 root first, then each chain's
    steps in recipe order (intermediate steps too: they are the bases drift is measured against). Shared prefixes
    are exported once. A failed step is a "failed" variant with its reason; the steps after it are "skipped"
    variants naming the failed base; the other chains go on.

    `root`: the model as given (a user's ONNX file); chains start from it instead of an fp32 export, and a bare
    "fp32" recipe means the root itself."""
    parsed = [parse_recipe(r) for r in recipes]       # a typo fails the run before any export
    Path(ctx.out_dir).mkdir(parents=True, exist_ok=True)
    # every chain starts from one FP32 root, so its provenance is complete; a recipe may configure it ("fp32:...")
    root_step = next((steps[0] for steps in parsed if steps[0].exporter == "fp32"), Step("fp32", {}, "fp32"))
    done: dict[str, Artifact | Variant] = {}          # chain text (with the root) -> artifact or failed variant
    if root is not None:
        root_step = Step("fp32", {}, "fp32")
        done["fp32"] = root
        parsed = [steps[1:] if steps[0].text == "fp32" else steps for steps in parsed]
    out: list[Variant] = []
    for steps in parsed:
        named = bool(steps) and steps[0].exporter == "fp32"
        chain = steps if named else [root_step, *steps]
        key = name = ""
        source: Artifact | Variant | None = None
        for i, step in enumerate(chain):
            key = f"{key}>{step.text}" if key else step.text
            # the name is what the user wrote; the implicit root is not part of it
            name = step.text if i == 0 or (i == 1 and not named) else f"{name}>{step.text}"
            if key not in done:
                if isinstance(source, Variant):
                    done[key] = _skipped(step, name, key, source, ctx)
                else:
                    done[key] = _unique(_run_step(step, source, ctx, name, key), done, ctx, key, step)
                    if progress:
                        progress(name)
            source = done[key]
            variant = source if isinstance(source, Variant) else source.variant
            if all(o.variant_id != variant.variant_id for o in out):
                out.append(variant)
    return out


def _unique(result: Artifact | Variant, done: dict, ctx: ExportContext, key: str, step: Step
            ) -> Artifact | Variant:
    """Two recipes that wrote the same bytes (two quantizers that found nothing to quantize) are still two
    variants of the run: the later one gets the id of its recipe."""
    if not isinstance(result, Artifact):
        return result
    taken = {(d if isinstance(d, Variant) else d.variant).variant_id for d in done.values()}
    if result.variant.variant_id in taken:
        return Artifact(result.variant.with_(variant_id=recipe_hash(ctx.example.name, key, step.params)),
                        result.module)
    return result


def _run_step(step: Step, source: Artifact | None, ctx: ExportContext, name: str, key: str) -> Artifact | Variant:
    from harness.exporters.effect import no_effect_reason
    from harness.core.native_log import captured_stderr, with_log

    t0 = time.perf_counter()
    base = source.variant if source is not None else None
    cls = exporter_class(step.exporter)
    if cls.needs_torch and not getattr(ctx.example, "has_torch_module", True):
        return _failed(step, name, key, base, ctx, f"{step.text} needs the model's PyTorch module, which an ONNX "
                       "file does not have; to use it, give a model factory instead of the file "
                       "(--example mypkg.mymodel:make_example, see README \"Your own model\")", t0, status="skipped")
    # onnxruntime's C++ logger writes to fd 2 (calibration sessions, load checks): keep it for the error
    with captured_stderr() as native:
        try:
            exporter = cls.from_params(step.params)
            art = exporter.export(source, ctx)
        except ExportSkipped as exc:
            return _failed(step, name, key, base, ctx, str(exc), t0, status="skipped")
        except (ExportError, UsageError) as exc:
            return _failed(step, name, key, base, ctx, with_log(str(exc), native.take()), t0)
        except Exception as exc:  # one variant's failure must not end the run
            log.debug("export %s failed", name, exc_info=True)
            return _failed(step, name, key, base, ctx, with_log(first_line(exc, 300), native.take()), t0)
        runtime_log = native.take()
    v = art.variant.with_(
        name=name, model=ctx.example.name, operation=step.exporter,
        params=exporter.params(),
        base_id=base.variant_id if base else None,
        root_id=(base.root_id or base.variant_id) if base else art.variant.variant_id,
        export_s=art.variant.export_s if art.variant.export_s is not None else time.perf_counter() - t0)
    if runtime_log:
        v = v.with_(info={**v.info, "runtime_log": runtime_log})
    reason = no_effect_reason(v, base)
    if reason:
        v = v.with_(info={**v.info, "no_effect": reason,
                          "warnings": [*v.info.get("warnings", []), f"no effect: {reason}"]})
        if base is not None and v.variant_id == base.variant_id:   # same bytes, but a variant of its own
            v = v.with_(variant_id=recipe_hash(ctx.example.name, key, step.params))
    return Artifact(v, art.module)


def _failed(step: Step, name: str, key: str, base: Variant | None, ctx: ExportContext, error: str, t0: float,
            status: str = "failed") -> Variant:
    return Variant(
        name=name, variant_id=recipe_hash(ctx.example.name, key, step.params), path=None, format="onnx",
        precision="unknown", model=ctx.example.name, base_id=base.variant_id if base else None,
        root_id=(base.root_id or base.variant_id) if base else None, operation=step.exporter,
        params=step.params, status=status, error=error, export_s=time.perf_counter() - t0)


def _skipped(step: Step, name: str, key: str, failed_base: Variant, ctx: ExportContext) -> Variant:
    why = failed_base.error if failed_base.status == "failed" else "its base was not exported"
    return _failed(step, name, key, failed_base, ctx, f"not exported: base {failed_base.name!r} failed ({why})",
                   time.perf_counter(), status="skipped")
