"""Compression Board (CB): its benchmark JSON, read into and written from the store.

    {model: {"fp32": {...}, "int8": {...}, "model_info": {...}}}
with per-side keys such as accuracy, f1_score, latency_mean_ms, latency_std_ms, model_size_mb, memory_usage_mb,
gpu_memory_usage_mb, energy_consumption_mw and evaluated_on.

Units, kept honest:
  - `energy_consumption_mw` is a power despite its name: stored as the measurement's `avg_power_mw`, never as
    energy (energy per inference stays null, with the reason);
  - `*_mb` figures are taken as MiB (bytes / 2^20, what `os.path.getsize(p) / 1024 / 1024` gives) and stored in
    bytes; export divides by the same factor, so a round trip is exact;
  - `accuracy` is stored as a fraction (harness's task accuracy); a file whose accuracies exceed 1 is read as
    percent, and the scale is recorded so export writes it back the same way.
One import is one run: a model gives variants `{model}/fp32` and `{model}/int8` (`int8` has `fp32` as its base).
A model without an `int8` (or `fp32`) side is kept with a note.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.interop import ImportFormatError, read_json
from harness.interop.cc import ImportResult, clean_json, metric_value_row, new_import_run_id, run_row

MIB = 1024 * 1024
SIDES = ("fp32", "int8")
NUMBER_KEYS = ("accuracy", "f1_score", "latency_mean_ms", "latency_std_ms", "model_size_mb", "memory_usage_mb",
               "gpu_memory_usage_mb", "energy_consumption_mw")
# user metrics worth a definition when they appear (CB has no definitions of its own)
KNOWN_UNITS = {"f1_score": None, "sensitivity": None, "specificity": None, "loss": None}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def read_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ImportFormatError(f"no Compression Board file at {p}")
    data = read_json(p)
    check(data, p)
    return data


def check(data: Any, where: Path | str = "benchmark JSON") -> None:
    """Raise ImportFormatError naming the first key that is not in CB's format."""
    if not isinstance(data, dict) or not data:
        raise ImportFormatError(f"{where}: the top level must be an object of models "
                                '({"model": {"fp32": {...}, "int8": {...}}})')
    for model, entry in data.items():
        if not isinstance(entry, dict):
            raise ImportFormatError(f"{where}: key '{model}' must be an object with fp32 / int8 / model_info")
        if not any(s in entry for s in SIDES):
            raise ImportFormatError(f"{where}: key '{model}' has neither an 'fp32' nor an 'int8' side")
        for side in SIDES:
            if side not in entry or entry[side] is None:
                continue
            if not isinstance(entry[side], dict):
                raise ImportFormatError(f"{where}: key '{model}.{side}' must be an object")
            for k in NUMBER_KEYS:
                v = entry[side].get(k)
                if v is not None and not _number(v):
                    raise ImportFormatError(f"{where}: key '{model}.{side}.{k}' must be a number, not {v!r}")
        if entry.get("model_info") is not None and not isinstance(entry["model_info"], dict):
            raise ImportFormatError(f"{where}: key '{model}.model_info' must be an object")


def _accuracy_scale(data: dict[str, Any]) -> str:
    values = [e[s]["accuracy"] for e in data.values() for s in SIDES
              if isinstance(e.get(s), dict) and _number(e[s].get("accuracy"))]
    return "percent" if any(v > 1.0 for v in values) else "fraction"


def import_cb(store, path: str | Path, tag: str | None = None) -> ImportResult:
    from harness.store import interop
    from harness.store.store import to_json, utcnow

    p = Path(path)
    data = read_file(p)
    run_id = new_import_run_id("cb")
    scale = _accuracy_scale(data)
    notes: list[str] = []
    if scale == "percent":
        notes.append("accuracy values above 1 in this file: read as percent and stored as fractions")
    now = utcnow()
    variants, measurements, quality, values = [], [], [], []
    metric_names: list[str] = []
    devices = set()
    for model, entry in data.items():
        info = entry.get("model_info") or {}
        sides = [s for s in SIDES if isinstance(entry.get(s), dict) and entry[s]]
        missing = [s for s in SIDES if s not in sides]
        model_notes = [f"no {s} side in the file" for s in missing]
        notes += [f"model {model!r}: {n}" for n in model_notes]
        ids = {s: f"{model}/{s}" for s in sides}
        for side in sides:
            m = entry[side]
            vid = ids[side]
            base = ids.get("fp32") if side == "int8" else None
            extra = {k: v for k, v in m.items() if k not in NUMBER_KEYS and k != "evaluated_on" and not _number(v)}
            vinfo: dict[str, Any] = {"source": "cb", "model_info": info, "accuracy_scale": scale}
            if model_notes:
                vinfo["notes"] = model_notes
            if extra:
                vinfo["cb_extra"] = extra
            variants.append({
                "run_id": run_id, "variant_id": vid, "name": vid, "model": model, "format": None,
                "precision": side, "path": None, "base_id": base, "root_id": ids.get("fp32", vid),
                "operation": "int8" if side == "int8" else None, "params": "{}",
                "size_bytes": None if m.get("model_size_mb") is None else int(round(m["model_size_mb"] * MIB)),
                "gzip_bytes": None, "param_count": None, "sparsity": None, "status": "ok", "error": None,
                "export_s": None, "info": json.dumps(clean_json(vinfo), sort_keys=True, default=str),
                "created_at": now, "tag": None})
            device = m.get("evaluated_on")
            if device is not None:
                devices.add(str(device))
            if any(m.get(k) is not None for k in ("latency_mean_ms", "memory_usage_mb", "gpu_memory_usage_mb",
                                                  "energy_consumption_mw")):
                measurements.append(_measurement(run_id, vid, m, now))
            if _number(m.get("accuracy")):
                acc = float(m["accuracy"]) / (100.0 if scale == "percent" else 1.0)
                quality.append({"run_id": run_id, "variant_id": vid, "reference": "task", "reference_id": None,
                                "metric": "accuracy", "value": acc,
                                "detail": json.dumps({"source": "cb", "as_written": m["accuracy"]})})
            for k, v in m.items():
                # CB writes gpu_memory_usage_mb 0 when no GPU was used: kept as written, not as a measured peak
                gpu_unused = k == "gpu_memory_usage_mb" and v == 0
                if k in NUMBER_KEYS and k != "f1_score" and not gpu_unused:
                    continue
                if k == "evaluated_on" or (not _number(v) and v is not None):
                    continue
                values.append(metric_value_row(run_id, vid, k, v, "cb"))
                if k not in metric_names:
                    metric_names.append(k)
    defs = [{"run_id": run_id, "name": k, "is_primary": k == "f1_score", "format": None, "unit": None,
             "min": None, "max": None, "extra": None} for k in metric_names]
    run = run_row(run_id, model=", ".join(data) if len(data) <= 3 else f"{len(data)} models", source="cb",
                  notes=notes, tag=tag, device=devices.pop() if len(devices) == 1 else "imported",
                  config={"source": "cb", "path": str(p.resolve()), "accuracy_scale": scale, "size_unit": "MiB"})
    run["config"] = to_json(json.loads(run["config"]))
    interop.write_run(store, run, variants, measurements=measurements, quality=quality, user_metrics=values,
                      metric_defs=defs)
    return ImportResult(run_id, len(variants), notes)


def _measurement(run_id: str, vid: str, m: dict[str, Any], now) -> dict[str, Any]:
    import secrets

    def mib(k):
        return None if m.get(k) is None else int(round(float(m[k]) * MIB))

    power = m.get("energy_consumption_mw")
    return {
        "measurement_id": secrets.token_hex(8), "run_id": run_id, "variant_id": vid, "runtime": None,
        "provider": m.get("evaluated_on"), "status": "ok", "error": None, "batch_size": None, "threads": None,
        "inputs_source": "imported from Compression Board", "mean_ms": m.get("latency_mean_ms"),
        "std_ms": m.get("latency_std_ms"),
        "cv": (m["latency_std_ms"] / m["latency_mean_ms"]) if _number(m.get("latency_std_ms"))
        and _number(m.get("latency_mean_ms")) and m["latency_mean_ms"] else None,
        "peak_rss_bytes": mib("memory_usage_mb"),
        "device_memory_peak_bytes": mib("gpu_memory_usage_mb") if m.get("gpu_memory_usage_mb") else None,
        "avg_power_mw": power, "energy_mj": None, "energy_per_inference_mj": None,
        "energy_source": "imported" if power is not None else None,
        "energy_reason": "Compression Board records only an average power (energy_consumption_mw is in mW); "
                         "energy per inference was not measured",
        "warnings": json.dumps(["imported from Compression Board: no raw samples, percentiles or count"]),
        "created_at": now,
    }


# -- export ------------------------------------------------------------------------------------------------------
def _side(variant: dict[str, Any], ms: list[dict[str, Any]], q: list[dict[str, Any]], um: list[dict[str, Any]],
          scale: str) -> dict[str, Any]:
    ok = sorted((m for m in ms if m.get("status") == "ok"), key=lambda m: (m.get("batch_size") or 0,
                                                                            m.get("threads") or 0))
    m = ok[0] if ok else {}
    out: dict[str, Any] = {}
    acc = next((r["value"] for r in q if r["reference"] == "task" and r["metric"] == "accuracy"), None)
    if acc is not None:
        out["accuracy"] = acc * (100.0 if scale == "percent" else 1.0)
    for r in um:
        out[r["name"]] = r["value"] if r["raw"] is None else json.loads(r["raw"])

    def put(key, value, factor=1.0):
        if value is not None:
            out[key] = float(value) / factor

    put("latency_mean_ms", m.get("mean_ms"))
    put("latency_std_ms", m.get("std_ms"))
    put("model_size_mb", variant.get("size_bytes"), MIB)
    put("memory_usage_mb", m.get("peak_rss_bytes"), MIB)
    put("gpu_memory_usage_mb", m.get("device_memory_peak_bytes"), MIB)
    # a power, as CB's key means it; harness's own energy per inference goes beside it under its real name
    put("energy_consumption_mw", m.get("avg_power_mw"))
    put("energy_per_inference_mj", m.get("energy_per_inference_mj"))
    put("latency_p50_ms", m.get("p50_ms"))
    put("latency_p90_ms", m.get("p90_ms"))
    if m.get("provider"):
        out["evaluated_on"] = m["provider"] if m.get("inputs_source", "").startswith("imported") else (
            "gpu" if "CUDA" in str(m["provider"]) or "Tensorrt" in str(m["provider"]) else "cpu")
    info = json.loads(variant.get("info") or "{}")
    out.update(info.get("cb_extra") or {})
    return out


def build_document(store, run_id: str) -> tuple[dict[str, Any], list[str]]:
    """CB's benchmark JSON for a run with an fp32 base and int8 variants: one entry per int8 variant (keyed by
    the model, or `model/variant` when a model has several int8 variants)."""
    from harness.store import interop

    run = interop.run_row(store, run_id)
    config = json.loads(run.get("config") or "{}")
    scale = config.get("accuracy_scale", "fraction")
    variants = [v for v in interop.variants(store, run_id) if v.get("status") == "ok"]
    ms, q, um = interop.measurements(store, run_id), interop.quality(store, run_id), interop.user_metrics(store, run_id)
    by_id = {v["variant_id"]: v for v in variants}
    notes: list[str] = []
    groups: dict[str, list[dict]] = {}
    for v in variants:
        groups.setdefault(v.get("model") or run.get("model") or "model", []).append(v)
    out: dict[str, Any] = {}

    def side(v):
        vid = v["variant_id"]
        return _side(v, [m for m in ms if m["variant_id"] == vid], [r for r in q if r["variant_id"] == vid],
                     [r for r in um if r["variant_id"] == vid], scale)

    for model, vs in groups.items():
        int8 = [v for v in vs if str(v.get("precision") or "").lower() == "int8"]
        roots = [v for v in vs if not v.get("base_id") and str(v.get("precision") or "fp32").lower() == "fp32"]
        fp32 = roots[0] if roots else None
        if fp32 is None and int8:
            # follow the provenance up from an int8 variant to its fp32 ancestor
            cur = by_id.get(int8[0].get("base_id"))
            while cur is not None and str(cur.get("precision")).lower() != "fp32":
                cur = by_id.get(cur.get("base_id"))
            fp32 = cur
        info = next((json.loads(v.get("info") or "{}").get("model_info") for v in vs
                     if json.loads(v.get("info") or "{}").get("model_info")), None) or {}
        if not int8:
            if fp32 is not None and json.loads(fp32.get("info") or "{}").get("source") == "cb":
                out[model] = {"fp32": side(fp32), "model_info": info}   # it came without an int8 side: keep it so
                notes.append(f"{model}: no int8 variant; written with its fp32 side only")
            continue
        for v in int8:
            key = model if len(int8) == 1 else f"{model}/{v['name']}"
            from_cb = json.loads(v.get("info") or "{}").get("source") == "cb"
            entry: dict[str, Any] = {"int8": side(v), "model_info": info if (info or from_cb) else
                                     {"harness_run": run_id, "harness_variant": v["name"]}}
            if fp32 is not None:
                entry = {"fp32": side(fp32), **entry}
            else:
                notes.append(f"{key}: no fp32 base in the run; written with its int8 side only")
            out[key] = entry
    if not out:
        raise ImportFormatError(f"run {run_id} has no int8 variant: --format cb needs an fp32 base and int8 "
                                "variants (e.g. `harness bench --recipe int8-static`)")
    return clean_json(out), notes


def export_cb(store, run_id: str, out_path: str | Path) -> tuple[Path, list[str]]:
    doc, notes = build_document(store, run_id)
    p = Path(out_path)
    if p.is_dir() or str(out_path).endswith("/"):
        p.mkdir(parents=True, exist_ok=True)
        p = p / f"{run_id}-benchmark.json"
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc, indent=2))
    return p, notes
