"""The meta-dataset: one row per measured (model, recipe, device) with its features and outcomes.

Outcomes are relative to the FP32 root measured in the same run (same batch size and threads), so a row does not
depend on how busy the machine was that hour as much as an absolute latency would:
  drop_pts       accuracy points lost against FP32 (models with labels), else drift: 100 x (1 - cosine to FP32)
  latency_ratio  latency / FP32 latency on the machine's fast level: the ratio of the 1st percentiles of every
                 timed call (harness.store.meta: fast_latency_ratio) when both timed FAST_MIN_CALLS calls or
                 more; else the median over timed rounds of the round-paired p50 ratio when at least
                 PAIRED_MIN_ROUNDS rounds were timed; else p50 / FP32 p50
  size_ratio     file size / FP32 file size
  memory_ratio   peak RSS of the worker / FP32's
  energy_ratio   energy per inference / FP32's; None where the device measured no energy (never invented)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TARGETS = ("drop_pts", "latency_ratio", "size_ratio", "memory_ratio", "energy_ratio")
# below this many paired rounds the median of the round ratios is little more than their mean: the pooled p50
# ratio is used instead (e.g. sweeps stored before the sweep timed 10 rounds)
PAIRED_MIN_ROUNDS = 3
# the 1st percentile of fewer calls is one of the two fastest: still the fast level when a sweep times >= 60 calls
# per point (harness.meta.sweep), not with a handful
FAST_MIN_CALLS = 50


@dataclass
class MetaRow:
    run_id: str
    variant_id: str
    model: str
    recipe: str
    device: str
    operation: str | None
    task: str                       # classification | embedding
    features: dict[str, float]
    targets: dict[str, float | None]
    base: dict[str, Any]            # the FP32 root's absolute values (p50_ms, size_bytes, ...)
    measured: dict[str, Any]        # this point's absolute values

    def as_row(self, predictor_id: str, seq: int) -> dict[str, Any]:
        return {"predictor_id": predictor_id, "seq": seq, "run_id": self.run_id, "variant_id": self.variant_id,
                "model": self.model, "recipe": self.recipe, "device": self.device,
                "features": json.dumps(self.features, sort_keys=True),
                "targets": json.dumps(self.targets, sort_keys=True)}


def _ratio(a, b) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


def method_of(recipe: str) -> str:
    """The method family of a recipe, for leave-one-method-out: its steps' names, e.g. prune-structured>int8-static."""
    steps = [s.split(":")[0].strip() for s in recipe.split(">")]
    return ">".join(s for s in steps if s != "fp32") or "fp32"


def latency_ratio(p: dict[str, Any]) -> float | None:
    """A measured point's latency against its FP32 root: on the fast level when enough calls were timed, else
    round-paired when enough rounds were, else the pooled p50s' ratio."""
    if (p.get("fast_calls") or 0) >= FAST_MIN_CALLS and p.get("fast_latency_ratio"):
        return float(p["fast_latency_ratio"])
    if (p.get("paired_rounds") or 0) >= PAIRED_MIN_ROUNDS and p.get("paired_latency_ratio"):
        return float(p["paired_latency_ratio"])
    return _ratio(p["p50_ms"], p["root_p50_ms"])


def point_targets(p: dict[str, Any]) -> tuple[str, dict[str, float | None]]:
    if p.get("root_accuracy") is not None and p.get("accuracy") is not None:
        task, drop = "classification", 100.0 * (p["root_accuracy"] - p["accuracy"])
    elif p.get("cosine") is not None:
        task, drop = "embedding", 100.0 * ((p.get("root_cosine") or 1.0) - p["cosine"])
    else:
        task, drop = "none", None
    return task, {
        "drop_pts": drop,
        "latency_ratio": latency_ratio(p),
        "size_ratio": _ratio(p["size_bytes"], p["root_size_bytes"]),
        "memory_ratio": _ratio(p["peak_rss_bytes"], p["root_peak_rss_bytes"]),
        "energy_ratio": _ratio(p["energy_per_inference_mj"], p["root_energy_per_inference_mj"]),
    }


def latest_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest measurement of each (model, recipe, device, batch size, threads)."""
    latest: dict[tuple, dict[str, Any]] = {}
    for p in points:   # ordered oldest first
        latest[(p["model"], p["name"], p["device"], p["batch_size"], p["threads"])] = p
    return list(latest.values())


def build_rows(points: list[dict[str, Any]]) -> list[MetaRow]:
    """Meta-dataset rows from `harness.store.meta.measured_points` (FP32 files must still exist for features)."""
    from harness.meta.features import features

    rows = []
    for p in latest_points(points):
        if not p.get("root_path"):
            continue
        task, targets = point_targets(p)
        feats = features(p["root_path"], p["name"], p["device"], p["environment"], task, p["root_p50_ms"])
        rows.append(MetaRow(
            run_id=p["run_id"], variant_id=p["variant_id"], model=p["model"], recipe=p["name"], device=p["device"],
            operation=p["operation"], task=task, features=feats, targets=targets,
            base={"p50_ms": p["root_p50_ms"], "size_bytes": p["root_size_bytes"],
                  "peak_rss_bytes": p["root_peak_rss_bytes"],
                  "energy_per_inference_mj": p["root_energy_per_inference_mj"],
                  "accuracy": p["root_accuracy"], "cosine": p["root_cosine"], "path": p["root_path"]},
            measured={"p50_ms": p["p50_ms"], "size_bytes": p["size_bytes"], "peak_rss_bytes": p["peak_rss_bytes"],
                      "energy_per_inference_mj": p["energy_per_inference_mj"], "accuracy": p["accuracy"],
                      "cosine": p["cosine"]}))
    return rows


def relocate(points: list[dict[str, Any]], store_path) -> list[dict[str, Any]]:
    """Points whose FP32 file is gone from its recorded path but sits at `<store dir>/<run id>/<file name>` (a
    store moved or copied together with its run directories, the layout `harness sweep` writes) get that path;
    the others are returned as they are (features then says the file is gone)."""
    from pathlib import Path

    base = Path(store_path).resolve().parent
    out = []
    for p in points:
        path = p.get("root_path")
        if path and not Path(path).is_file():
            moved = base / str(p["run_id"]) / Path(path).name
            if moved.is_file():
                p = p | {"root_path": str(moved)}
        out.append(p)
    return out


def measured(store, device: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
    """`harness.store.meta.measured_points` with FP32 paths relocated next to the store when moved."""
    from harness.store.meta import measured_points

    return relocate(measured_points(store, device=device, model=model), store.path)


def load_rows(store, device: str | None = None, model: str | None = None) -> list[MetaRow]:
    return build_rows(measured(store, device=device, model=model))
