"""Compress and Compare (C&C): its `models.json` directory format, read into and written from the store.

A C&C directory (as its LocalModelMonitor writes it):
    models.json               {"operations": [{"name", "parameters": {p: {type, min, max, options, format}}}],
                               "metrics": [{"name", "primary", "format", "unit", "min", "max"}],
                               "models": [{"id", "base", "operation": {"name", "parameters"}, "metrics", "tag"}]}
    models/<id>.pth|.pkl      checkpoints (torch state dicts or pickles); harness adds <id>.onnx
    models/outputs/<id>.pkl   per-instance outputs (pickle, json or npy)
Parameter types are continuous, ordinal or nominal; metric values may be null; `base`, `operation` and `tag` are
optional (a hand-written file may carry them as null).

In the store a C&C model is a variant whose variant_id and name are the C&C id (so an export writes the same
ids back); its metrics go to `user_metrics`, the definitions to `metric_defs` and `operation_defs`.
"""
from __future__ import annotations

import json
import math
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.interop import ImportFormatError, read_json

METRIC_KEYS = ("name", "primary", "format", "unit", "min", "max")
PARAM_SPEC_KEYS = ("min", "max", "format", "options", "type")
MODEL_KEYS = ("id", "base", "operation", "metrics", "tag")
CHECKPOINT_SUFFIXES = {".onnx": "onnx", ".pth": "torch", ".pkl": "pickle"}


@dataclass
class CCDocument:
    operations: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    models: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    model_notes: dict[str, list[str]] = field(default_factory=dict)


def _where(path: Path | str, key: str) -> str:
    return f"{path}: {key}"


def models_json_path(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "models.json"
    if not p.exists():
        raise ImportFormatError(f"no models.json at {p}; give a C&C models.json file or the directory holding it")
    return p


def read_document(path: str | Path) -> CCDocument:
    """Parse and check a models.json; raises ImportFormatError naming the first offending key."""
    p = models_json_path(path)
    data = read_json(p)
    return parse_document(data, p)


def parse_document(data: Any, where: Path | str = "models.json") -> CCDocument:
    if not isinstance(data, dict):
        raise ImportFormatError(f"{where}: the top level must be an object with operations, metrics and models")
    if "models" not in data:
        raise ImportFormatError(_where(where, "missing key 'models'"))
    ops, mets, models = data.get("operations") or [], data.get("metrics") or [], data["models"]
    for key, value in (("operations", ops), ("metrics", mets), ("models", models)):
        if not isinstance(value, list):
            raise ImportFormatError(_where(where, f"'{key}' must be a list, not {type(value).__name__}"))
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("name"), str):
            raise ImportFormatError(_where(where, f"operations[{i}].name missing or not a string"))
        params = op.get("parameters", {}) or {}
        if not isinstance(params, dict):
            raise ImportFormatError(_where(where, f"operations[{i}].parameters must be an object"))
        for pname, spec in params.items():
            if not isinstance(spec, dict):
                raise ImportFormatError(_where(where, f"operations[{i}].parameters.{pname} must be an object"))
    for i, m in enumerate(mets):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            raise ImportFormatError(_where(where, f"metrics[{i}].name missing or not a string"))
        for k in ("min", "max"):
            if m.get(k) is not None and not _is_number(m[k]):
                raise ImportFormatError(_where(where, f"metrics[{i}].{k} must be a number or null"))
    doc = CCDocument(list(ops), list(mets), [], [])
    declared_metrics = {m["name"] for m in mets}
    declared_ops = {o["name"] for o in ops}
    seen: set[str] = set()
    for i, m in enumerate(models):
        if not isinstance(m, dict):
            raise ImportFormatError(_where(where, f"models[{i}] must be an object"))
        if m.get("id") is None or not isinstance(m["id"], (str, int)):
            raise ImportFormatError(_where(where, f"models[{i}].id missing or not a string"))
        mid = str(m["id"])
        if mid in seen:
            raise ImportFormatError(_where(where, f"models[{i}].id {mid!r} appears twice"))
        seen.add(mid)
        op = m.get("operation")
        if op is not None and (not isinstance(op, dict) or not isinstance(op.get("name"), str)
                               or not isinstance(op.get("parameters", {}) or {}, dict)):
            raise ImportFormatError(_where(where, f"models[{i}].operation must be an object with a name and "
                                                  "parameters"))
        metrics = m.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise ImportFormatError(_where(where, f"models[{i}].metrics must be an object"))
        doc.models.append(dict(m, id=mid, metrics=metrics))
        undeclared = sorted(k for k in metrics if k not in declared_metrics)
        if undeclared:
            doc.model_notes.setdefault(mid, []).append("metrics not declared in 'metrics': " + ", ".join(undeclared))
        if op is not None and ops and op["name"] not in declared_ops:
            doc.model_notes.setdefault(mid, []).append(f"operation {op['name']!r} not declared in 'operations'")
    for m in doc.models:
        base = m.get("base")
        if base is not None and str(base) not in seen:
            doc.model_notes.setdefault(m["id"], []).append(
                f"base {base!r} is not in this file; kept as a root of its own tree")
    for mid, notes in doc.model_notes.items():
        doc.notes += [f"model {mid!r}: {n}" for n in notes]
    return doc


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def clean_json(o: Any, round_digits: int = 8) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, floats rounded as C&C does. NaN and infinity become null
    (C&C writes 0 for them, which would read as a measured zero)."""
    try:
        import numpy as np
    except ImportError:   # pragma: no cover - numpy is a dependency
        np = None
    if np is not None:
        if isinstance(o, np.ndarray):
            return clean_json(o.tolist(), round_digits)
        if isinstance(o, np.generic):
            o = o.item()
    if isinstance(o, float):
        return None if math.isnan(o) or math.isinf(o) else round(o, round_digits)
    if isinstance(o, dict):
        return {str(k): clean_json(v, round_digits) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [clean_json(v, round_digits) for v in o]
    return o


# -- rows --------------------------------------------------------------------------------------------------------
def root_of(model_id: str, by_id: dict[str, dict[str, Any]]) -> str | None:
    """The end of the chain of bases inside `by_id` (a model without a base there is its own root, as the FP32
    export is in a bench run)."""
    seen, cur = set(), model_id
    while True:
        base = by_id.get(cur, {}).get("base")
        if base is None or str(base) not in by_id or str(base) in seen:
            return cur
        seen.add(cur)
        cur = str(base)


def find_checkpoint(directory: Path | None, model_dirname: str, model_id: str) -> Path | None:
    if directory is None:
        return None
    for suffix in CHECKPOINT_SUFFIXES:
        p = directory / model_dirname / f"{model_id}{suffix}"
        if p.is_file():
            return p
    return None


def variant_row(run_id: str, model: dict[str, Any], by_id: dict[str, dict[str, Any]], created_at, *,
                model_name: str | None, source: str, checkpoint: Path | None = None,
                notes: list[str] | None = None, operation_specs: dict[str, Any] | None = None) -> dict[str, Any]:
    mid = str(model["id"])
    op = model.get("operation") or None
    info: dict[str, Any] = {"source": source}
    if notes:
        info["notes"] = list(notes)
    if op and operation_specs and op.get("name") in operation_specs:
        info["operation_spec"] = operation_specs[op["name"]]
    extra = {k: v for k, v in model.items() if k not in MODEL_KEYS}
    if extra:
        info["cc_extra"] = clean_json(extra)     # written back by export: nothing a file carried is lost
    fmt, size = None, None
    if checkpoint is not None:
        fmt = CHECKPOINT_SUFFIXES.get(checkpoint.suffix)
        size = checkpoint.stat().st_size
    base = model.get("base")
    return {
        "run_id": run_id, "variant_id": mid, "name": mid, "model": model_name, "format": fmt, "precision": None,
        "path": str(checkpoint.resolve()) if checkpoint is not None else None,
        "base_id": None if base is None else str(base), "root_id": root_of(mid, by_id),
        "operation": op.get("name") if op else None,
        "params": json.dumps(clean_json((op or {}).get("parameters") or {}), sort_keys=True),
        "size_bytes": size, "gzip_bytes": None, "param_count": None, "sparsity": None, "status": "ok",
        "error": None, "export_s": None, "info": json.dumps(info, sort_keys=True, default=str),
        "created_at": created_at, "tag": model.get("tag"),
    }


def metric_value_row(run_id: str, variant_id: str, name: str, value: Any, source: str) -> dict[str, Any]:
    number = float(value) if _is_number(value) and math.isfinite(float(value)) else None
    raw = None if value is None or number is not None else json.dumps(clean_json(value))
    return {"run_id": run_id, "variant_id": variant_id, "name": str(name), "value": number, "raw": raw,
            "source": source}


def metric_def_row(run_id: str, m: dict[str, Any]) -> dict[str, Any]:
    extra = {k: v for k, v in m.items() if k not in METRIC_KEYS}
    return {"run_id": run_id, "name": m["name"], "is_primary": None if m.get("primary") is None
            else bool(m["primary"]), "format": m.get("format"), "unit": m.get("unit"),
            "min": None if m.get("min") is None else float(m["min"]),
            "max": None if m.get("max") is None else float(m["max"]),
            "extra": json.dumps(clean_json(extra), sort_keys=True) if extra else None}


def operation_def_row(run_id: str, op: dict[str, Any]) -> dict[str, Any]:
    extra = {k: v for k, v in op.items() if k not in ("name", "parameters")}
    return {"run_id": run_id, "name": op["name"],
            "parameters": json.dumps(clean_json(op.get("parameters") or {}), sort_keys=True),
            "extra": json.dumps(clean_json(extra), sort_keys=True) if extra else None}


def run_row(run_id: str, *, model: str, source: str, config: dict[str, Any], notes: list[str],
            device: str = "unmeasured", tag: str | None = None) -> dict[str, Any]:
    from harness import __version__
    from harness.store.store import to_json, utcnow

    now = utcnow()
    return {"run_id": run_id, "created_at": now, "finished_at": now, "status": "complete", "tag": tag,
            "model": model, "device": device, "host": socket.gethostname(), "git_sha": None,
            "harness_version": __version__, "fingerprint": None,
            "environment": to_json({"source": source, "import_notes": notes}), "config": to_json(config),
            "hdf5_path": None}


def new_import_run_id(prefix: str) -> str:
    """Like a bench's run id, marked with where it came from; random, so importing a file twice gives two runs."""
    import secrets
    from datetime import datetime

    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{prefix}-{secrets.token_hex(2)}"


# -- import ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportResult:
    run_id: str
    models: int
    notes: list[str]


def import_cc(store, path: str | Path, tag: str | None = None) -> ImportResult:
    """One run from a C&C models.json (file or directory), written in one transaction."""
    from harness.store import interop
    from harness.store.store import utcnow

    p = models_json_path(path)
    doc = read_document(p)
    directory = p.parent
    run_id = new_import_run_id("cc")
    by_id = {m["id"]: m for m in doc.models}
    specs = {o["name"]: o.get("parameters") or {} for o in doc.operations}
    now = utcnow()
    name = directory.name or "models"
    variants, values = [], []
    for m in doc.models:
        ckpt = find_checkpoint(directory, "models", m["id"])
        variants.append(variant_row(run_id, m, by_id, now, model_name=name, source="cc", checkpoint=ckpt,
                                    notes=doc.model_notes.get(m["id"]), operation_specs=specs))
        values += [metric_value_row(run_id, m["id"], k, v, "cc") for k, v in m["metrics"].items()]
    run = run_row(run_id, model=name, source="cc", tag=tag, notes=doc.notes,
                  config={"source": "cc", "path": str(p.resolve()),
                          "top_level_extra": clean_json({k: v for k, v in _top_extra(p).items()})})
    interop.write_run(store, run, variants, user_metrics=values,
                      metric_defs=[metric_def_row(run_id, m) for m in doc.metrics],
                      operation_defs=[operation_def_row(run_id, o) for o in doc.operations])
    return ImportResult(run_id, len(variants), doc.notes)


def _top_extra(p: Path) -> dict[str, Any]:
    data = json.loads(p.read_text())
    return {k: v for k, v in data.items() if k not in ("operations", "metrics", "models")}


# -- export ------------------------------------------------------------------------------------------------------
# harness's measured figures, declared as C&C metrics: (name, format, unit, min, max, primary)
HARNESS_METRICS = {
    "Latency p50": (".3~s", "ms", 0.0, None, True),
    "Latency p90": (".3~s", "ms", 0.0, None, False),
    "Model Size": (".3~s", "B", 0.0, None, True),
    "Peak Memory": (".3~s", "B", 0.0, None, False),
    "Energy per Inference": (".3~s", "mJ", 0.0, None, False),
    "Accuracy": (".2~%", None, 0.0, 1.0, True),
    "Top-1 Agreement with Base": (".2~%", None, 0.0, 1.0, False),
    "KL Divergence from Base": (".3~", "nats", 0.0, None, False),
    "Cosine to FP32": (".4~", None, -1.0, 1.0, False),
}


def _first_scenario(ms: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [m for m in ms if m.get("status") == "ok"]
    ok.sort(key=lambda m: (m.get("batch_size") or 0, m.get("threads") or 0, str(m.get("provider"))))
    return ok[0] if ok else None


def harness_figures(variant: dict[str, Any], ms: list[dict[str, Any]], q: list[dict[str, Any]]
                    ) -> dict[str, float | None]:
    """A variant's measured figures under their C&C metric names (smallest batch size's scenario)."""
    m = _first_scenario(ms) or {}
    memory = next((m.get(c) for c in ("device_memory_peak_bytes", "peak_rss_bytes", "maxrss_bytes")
                   if m.get(c) is not None), None)

    def qv(reference: str, metric: str):
        return next((r["value"] for r in q if r["reference"] == reference and r["metric"] == metric), None)

    return {"Latency p50": m.get("p50_ms"), "Latency p90": m.get("p90_ms"), "Model Size": variant.get("size_bytes"),
            "Peak Memory": memory, "Energy per Inference": m.get("energy_per_inference_mj"),
            "Accuracy": qv("task", "accuracy"), "Top-1 Agreement with Base": qv("base", "top1_agreement"),
            "KL Divergence from Base": qv("base", "kl_divergence"), "Cosine to FP32": qv("task", "cosine_similarity")}


def _param_spec(values: list[Any]) -> dict[str, Any]:
    nums = [v for v in values if _is_number(v)]
    if nums and len(nums) == len(values):
        return {"type": "continuous", "min": min(nums), "max": max(nums)}
    options = sorted({json.dumps(v) if not isinstance(v, str) else v for v in values})
    return {"type": "nominal", "options": options}


def build_document(store, run_id: str) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(models.json content, {variant_id: C&C id}, notes) of one run."""
    from harness.store import interop

    variants = interop.variants(store, run_id)
    if not variants:
        raise ImportFormatError(f"run {run_id} has no variants to export")
    ms = interop.measurements(store, run_id)
    q = interop.quality(store, run_id)
    um = interop.user_metrics(store, run_id)
    mdefs = interop.metric_defs(store, run_id)
    odefs = interop.operation_defs(store, run_id)
    notes: list[str] = []
    ids: dict[str, str] = {}
    used: set[str] = set()
    for v in variants:
        # an imported or monitor-logged model's id is its variant id; a benched variant is known by its name
        cid = str(v["name"])
        k = 2
        while cid in used:
            cid, k = f"{v['name']}-{k}", k + 1
        used.add(cid)
        ids[v["variant_id"]] = cid
    metrics: list[dict[str, Any]] = []
    for d in mdefs:
        entry = {"name": d["name"]}
        for key in ("is_primary", "format", "unit", "min", "max"):
            if d[key] is not None:
                entry["primary" if key == "is_primary" else key] = d[key]
        if d.get("extra"):
            entry.update(json.loads(d["extra"]))
        metrics.append(entry)
    models: list[dict[str, Any]] = []
    figures = {v["variant_id"]: harness_figures(v, [m for m in ms if m["variant_id"] == v["variant_id"]],
                                                [r for r in q if r["variant_id"] == v["variant_id"]])
               for v in variants}
    present = [name for name in HARNESS_METRICS if any(f[name] is not None for f in figures.values())]
    if any(m.get("status") == "ok" for m in ms) and "Energy per Inference" not in present:
        # measured without an energy sensor: declared with nulls, so the reader sees it was not measured
        present.insert(present.index("Peak Memory") + 1 if "Peak Memory" in present else len(present),
                       "Energy per Inference")
        notes.append("no energy reading in this run: 'Energy per Inference' is null for every model")
    declared = {m["name"] for m in metrics}
    for name in present:
        if name in declared:
            notes.append(f"metric {name!r} exists in the run's own metrics; harness's figure not added")
            continue
        fmt, unit, lo, hi, primary = HARNESS_METRICS[name]
        entry = {"name": name, "primary": primary, "format": fmt, "min": lo}
        if unit:
            entry["unit"] = unit
        if hi is not None:
            entry["max"] = hi
        metrics.append(entry)
    declared_user = {m["name"] for m in metrics}
    by_variant: dict[str, dict[str, Any]] = {}
    for r in um:
        value = r["value"] if r["raw"] is None else json.loads(r["raw"])
        by_variant.setdefault(r["variant_id"], {})[r["name"]] = value
    undeclared = sorted({r["name"] for r in um} - declared_user)
    for name in undeclared:   # a metric without a definition still needs one for C&C's checks
        metrics.append({"name": name})
    op_params: dict[str, dict[str, list]] = {}
    for v in variants:
        vid = v["variant_id"]
        entry: dict[str, Any] = {"id": ids[vid]}
        if v.get("base_id") is not None:
            entry["base"] = ids.get(v["base_id"], v["base_id"])
        if v.get("operation") and v["operation"] != "user":
            params = json.loads(v["params"]) if v.get("params") else {}
            entry["operation"] = {"name": v["operation"], "parameters": params}
            for k, val in params.items():
                op_params.setdefault(v["operation"], {}).setdefault(k, []).append(val)
        values = dict(by_variant.get(vid, {}))
        for name in present:
            if name not in values and name not in declared:
                values[name] = figures[vid][name]
        entry["metrics"] = values
        if v.get("tag"):
            entry["tag"] = v["tag"]
        entry.update(json.loads(v.get("info") or "{}").get("cc_extra") or {})
        models.append(entry)
    operations = [{"name": d["name"], "parameters": json.loads(d["parameters"] or "{}"),
                   **(json.loads(d["extra"]) if d.get("extra") else {})} for d in odefs]
    have = {o["name"] for o in operations}
    for name, params in op_params.items():
        if name not in have:
            operations.append({"name": name, "parameters": {k: _param_spec(vals) for k, vals in params.items()}})
    return clean_json({"operations": operations, "metrics": metrics, "models": models}), ids, notes


def export_cc(store, run_id: str, out_dir: str | Path, outputs_type: str = "pickle") -> list[str]:
    """Write models.json, checkpoints (ONNX files of the variants) and per-instance outputs to `out_dir` in the
    layout C&C's LocalModelMonitor reads. Returns notes."""
    from harness.store import interop

    out = Path(out_dir)
    (out / "models" / "outputs").mkdir(parents=True, exist_ok=True)
    doc, ids, notes = build_document(store, run_id)
    (out / "models.json").write_text(json.dumps(doc, indent=2))
    for v in interop.variants(store, run_id):
        path = v.get("path")
        if path and Path(path).is_file() and Path(path).suffix in CHECKPOINT_SUFFIXES:
            dest = out / "models" / f"{ids[v['variant_id']]}{Path(path).suffix}"
            if Path(path).resolve() != dest.resolve():
                shutil.copyfile(path, dest)
    run = interop.run_row(store, run_id)
    hdf5 = run.get("hdf5_path")
    if hdf5 and Path(hdf5).exists():
        notes += _write_outputs(hdf5, ids, out / "models" / "outputs", outputs_type)
    else:
        notes.append("no per-instance outputs in this run (no HDF5 file): models/outputs left empty")
    return notes


def _write_outputs(hdf5: str, ids: dict[str, str], out: Path, outputs_type: str) -> list[str]:
    """One file per model with its per-instance outputs: {"outputs": [arrays], "predictions", "labels"} as
    pickle (C&C's default), or the first output alone as .npy / .json."""
    import pickle

    import numpy as np

    from harness.store.outputs_file import OutputsFile

    of = OutputsFile(hdf5)
    stored = of.variants()
    labels = of.labels()
    for vid, cid in ids.items():
        if vid not in stored:
            continue
        outs = [of.outputs(vid, k) for k in range(max(1, len(stored[vid]["output_names"])))]
        preds = of.predictions(vid)
        if outputs_type == "numpy":
            np.save(out / f"{cid}.npy", outs[0])
        elif outputs_type == "json":
            (out / f"{cid}.json").write_text(json.dumps(clean_json({"outputs": outs, "predictions": preds})))
        else:
            with open(out / f"{cid}.pkl", "wb") as f:
                pickle.dump({"outputs": outs, "output_names": stored[vid]["output_names"], "predictions": preds,
                             "labels": labels}, f)
    return []

