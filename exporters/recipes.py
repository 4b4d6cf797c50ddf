"""Recipes: chains of exporters such as "prune-structured:0.5>int8-static".

Each step records base_id, operation and params, so the variants of a run form a provenance tree rooted at fp32.
A step that fails is recorded as a failed variant with its reason, and the rest of the run goes on.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from exporters import exporter_class
from exporters.base import Artifact, ExportContext
from harness.errors import ExportError, UsageError
from harness.variant import Variant, recipe_hash

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
            import dataclasses

            fields = [f.name for f in dataclasses.fields(cls.config_class)]
            for item in arg.split(","):
                key, eq, val = item.partition("=")
                if eq:
                    params[key.strip()] = _value(val.strip())
                elif fields:
                    params[fields[0]] = _value(key.strip())
                else:
                    raise UsageError(f"bad recipe step {part!r}: {name} takes no parameters")
        steps.append(Step(name.strip(), params, part))
    return steps


def build_variants(example, recipes: list[str], ctx: ExportContext, progress=None) -> list[Variant]:
    """Export every recipe; shared prefixes are exported once. Returns variants in recipe order, failed ones
    included (status "failed", error set)."""
    parsed = [(r, parse_recipe(r)) for r in recipes]
    done: dict[str, Artifact | Variant] = {}   # recipe prefix text -> artifact (ok) or failed Variant
    out: list[Variant] = []
    root: Artifact | None = None
    for recipe, steps in parsed:
        source: Artifact | None = None
        prefix = ""
        for i, step in enumerate(steps):
            prefix = f"{prefix}>{step.text}" if prefix else step.text
            if prefix in done:
                cached = done[prefix]
                if isinstance(cached, Variant):
                    source = None
                    break
                source = cached
                continue
            if source is None and step.exporter != "fp32":
                # every chain starts from the FP32 root so its provenance is complete
                if root is None:
                    root = _run_step(Step("fp32", {}, "fp32"), None, ctx, "fp32", None)
                    done["fp32"] = root
                if isinstance(root, Variant):
                    break
                source = root
            result = _run_step(step, source, ctx, prefix, root)
            done[prefix] = result
            if isinstance(result, Variant):
                break
            source = result
            if step.exporter == "fp32" and i == 0:
                root = result
            if progress:
                progress(prefix)
        final = done.get(prefix)
        if final is None:
            continue
        v = final if isinstance(final, Variant) else final.variant
        if all(v.variant_id != o.variant_id for o in out):
            out.append(v)
    # the root comes along even if no recipe named it alone: drift is measured against it
    if isinstance(root, Artifact) and all(o.variant_id != root.variant.variant_id for o in out):
        out.insert(0, root.variant)
    return out


def _run_step(step: Step, source: Artifact | None, ctx: ExportContext, name: str,
              root: Artifact | None) -> Artifact | Variant:
    t0 = time.perf_counter()
    base = source.variant if source is not None else None
    try:
        exporter = exporter_class(step.exporter).from_params(step.params)
        art = exporter.export(source, ctx)
    except (ExportError, UsageError) as exc:
        return _failed(step, name, base, ctx, str(exc), t0)
    except Exception as exc:  # one variant's failure must not end the run
        log.debug("export %s failed", name, exc_info=True)
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        return _failed(step, name, base, ctx, f"{type(exc).__name__}: {first}", t0)
    v = art.variant.with_(
        name=name, model=ctx.example.name, operation=step.exporter,
        params=exporter.params(),
        base_id=base.variant_id if base else None,
        root_id=(base.root_id or base.variant_id) if base else art.variant.variant_id,
        export_s=art.variant.export_s if art.variant.export_s is not None else time.perf_counter() - t0)
    return Artifact(v, art.module)


def _failed(step: Step, name: str, base: Variant | None, ctx: ExportContext, error: str, t0: float) -> Variant:
    return Variant(
        name=name, variant_id=recipe_hash(ctx.example.name, name, step.params), path=None, format="onnx",
        precision="unknown", model=ctx.example.name, base_id=base.variant_id if base else None,
        root_id=(base.root_id or base.variant_id) if base else None, operation=step.exporter,
        params=step.params, status="failed", error=error, export_s=time.perf_counter() - t0)
