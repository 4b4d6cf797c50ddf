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


def build_variants(example, recipes: list[str], ctx: ExportContext, progress=None) -> list[Variant]:
    """Export every recipe and return the variants of the provenance tree: the FP32 root first, then each chain's
    steps in recipe order (intermediate steps too: they are the bases drift is measured against). Shared prefixes
    are exported once. A failed step is a "failed" variant with its reason; the steps after it are "skipped"
    variants naming the failed base; the other chains go on."""
    parsed = [parse_recipe(r) for r in recipes]       # a typo fails the run before any export
    Path(ctx.out_dir).mkdir(parents=True, exist_ok=True)
    # every chain starts from one FP32 root, so its provenance is complete; a recipe may configure it ("fp32:...")
    root_step = next((steps[0] for steps in parsed if steps[0].exporter == "fp32"), Step("fp32", {}, "fp32"))
    done: dict[str, Artifact | Variant] = {}          # chain text (with the root) -> artifact or failed variant
    out: list[Variant] = []
    for steps in parsed:
        named = steps[0].exporter == "fp32"
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
                    done[key] = _run_step(step, source, ctx, name, key)
                    if progress:
                        progress(name)
            source = done[key]
            variant = source if isinstance(source, Variant) else source.variant
            if all(o.variant_id != variant.variant_id for o in out):
                out.append(variant)
    return out


def _run_step(step: Step, source: Artifact | None, ctx: ExportContext, name: str, key: str) -> Artifact | Variant:
    t0 = time.perf_counter()
    base = source.variant if source is not None else None
    try:
        exporter = exporter_class(step.exporter).from_params(step.params)
        art = exporter.export(source, ctx)
    except ExportSkipped as exc:
        return _failed(step, name, key, base, ctx, str(exc), t0, status="skipped")
    except (ExportError, UsageError) as exc:
        return _failed(step, name, key, base, ctx, str(exc), t0)
    except Exception as exc:  # one variant's failure must not end the run
        log.debug("export %s failed", name, exc_info=True)
        return _failed(step, name, key, base, ctx, first_line(exc, 300), t0)
    v = art.variant.with_(
        name=name, model=ctx.example.name, operation=step.exporter,
        params=exporter.params(),
        base_id=base.variant_id if base else None,
        root_id=(base.root_id or base.variant_id) if base else art.variant.variant_id,
        export_s=art.variant.export_s if art.variant.export_s is not None else time.perf_counter() - t0)
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
