"""Probe features: a few cheap recipes measured on a model first, their outcomes used as features of its other
recipes (the issue's "optional data-dependent features").

A new architecture's accuracy drop under a recipe is hard to guess from its graph alone (some families collapse
under pruning or static INT8, alike-looking ones do not). Measuring a few probe recipes first costs
``len(PROBES)`` = 3 extra measurements per new model (a quantize-and-evaluate or prune-and-evaluate each; on the
digits zoo a few seconds apiece) and tells how sensitive this model is.

The probes are fixed by a rule stated before any evaluation: one recipe per base method family of the default
grid (harness.meta.grid.DEFAULT_GRID), at its default settings, pruning at the middle level of the grid (50 %):
``int8-dynamic``, ``int8-static`` and ``prune-unstructured:0.5``. Each gives two features to every point of the
same model: ``probe_drop_<name>`` (accuracy points lost, measured) and ``probe_log_lat_<name>`` (log of the
measured latency ratio to FP32). A probe that is not measured for the model is NaN (LightGBM's missing value),
never zero: a zero drop is a measurement.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

PROBES: tuple[str, ...] = ("int8-dynamic", "int8-static", "prune-unstructured:0.5")


def probes_measured(recipes: Iterable[str], probes: Iterable[str] = PROBES) -> bool:
    """Whether every probe is among a model's measured `recipes` (then the probe-anchored predictor applies)."""
    return set(probes) <= set(recipes)


def probe_key(recipe: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in recipe)


def probe_feature_names(probes: Iterable[str] = PROBES) -> list[str]:
    return [f"{kind}_{probe_key(p)}" for p in probes for kind in ("probe_drop", "probe_log_lat")]


def probe_features(points: Mapping[str, Mapping[str, float | None]], probes: Iterable[str] = PROBES
                   ) -> dict[str, float]:
    """points: recipe -> measured outcomes of one model ({"drop_pts": .., "latency_ratio": ..}, as a
    harness.meta.dataset.MetaRow's targets). Returns the probe features; NaN where a probe (or one of its
    outcomes) is not measured."""
    out: dict[str, float] = {}
    for p in probes:
        t = points.get(p) or {}
        drop, lat = t.get("drop_pts"), t.get("latency_ratio")
        k = probe_key(p)
        out[f"probe_drop_{k}"] = float(drop) if drop is not None and math.isfinite(drop) else math.nan
        out[f"probe_log_lat_{k}"] = math.log(lat) if lat is not None and lat > 0 else math.nan
    return out


def with_probes(rows, known: Mapping[str, set[str]] | None = None, probes: Iterable[str] = PROBES) -> list:
    """Copies of meta-dataset rows with their model's probe features added. known: model -> the recipes whose
    measurement may be used (None: every measured row); a probe outside it is NaN (e.g. in leave-one-method-out,
    a probe of the held-out family is not measured)."""
    from dataclasses import replace

    probes = tuple(probes)
    by_model: dict[str, dict[str, dict]] = {}
    for r in rows:
        if r.recipe in probes and (known is None or r.recipe in known.get(r.model, set())):
            by_model.setdefault(r.model, {})[r.recipe] = r.targets
    feats = {m: probe_features(by_model.get(m, {}), probes) for m in {r.model for r in rows}}
    return [replace(r, features={**r.features, **feats[r.model]}) for r in rows]
