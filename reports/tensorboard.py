"""TensorBoard export in Compression Board's own layout, so a Compression Board user's habits carry over.

`{model}` is the model's name (the example or model file; for an imported Compression Board file, each of its
models), never a variant's. Every variant of the model, its FP32 base included, is a series of the same group:
  {model}/accuracy/{variant}            task metric in % (accuracy, or cosine to FP32 for embedding models)
  {model}/latency/{variant}             p50 latency, ms (the mean where only a mean is known, e.g. CB imports)
  {model}/latency_p90/{variant}         p90 latency, ms
  {model}/model_size/{variant}          file size, MiB (2^20 bytes, as Compression Board's model_size_mb)
  {model}/memory/{variant}              peak memory, MiB
  {model}/energy/{variant}              energy per inference, mJ (avg power in mW under {model}/power/)
  {model}/compression/{figure}/{variant}   per compressed variant, against the base:
        size_ratio, size_reduction_pct, speedup, accuracy_drop (points), accuracy_retention_pct,
        memory_reduction_mb, energy_ratio
  {model}/latency_distribution/{variant}   histogram of the raw latency samples, ms
  {model}/training/{metric}/{variant}, {model}/validation/{metric}/{variant}   fine-tune / training curves
  {model}/drift/{output}/{metric}/{variant}   drift of every output against the original: cosine, mse,
        max_abs_diff, top1_agreement_pct, kl_divergence (only the metrics that fit the output)
Recipe parameters go to the HParams plugin (one session per variant, in `{logdir}/hparams/`). All figures come
from harness.core.comparison (size_ratio = base / variant size, speedup = base / variant latency). Every tag part goes
through the one sanitiser below. Scalars are written at step = batch size, so several batch sizes draw a curve.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.core.comparison import against_base as compare

MIB = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def sanitize_tag(part: Any) -> str:
    """One tag component: anything but letters, digits, '_', '.', '-' becomes '_' ('/' separates components,
    so a variant called `prune:0.3>int8` cannot add levels). `prune-unstructured:0.3` -> `prune-unstructured_0.3`."""
    text = _UNSAFE.sub("_", str(part)).strip("_")
    return text or "_"


def tag(*parts: Any) -> str:
    return "/".join(sanitize_tag(p) for p in parts)


def compression_figures(row: dict[str, Any]) -> dict[str, float | None]:
    """Compression Board's `{model}/compression/*` figures from one harness.core.comparison row."""
    speed = row.get("speedup_p50") if row.get("speedup_p50") is not None else row.get("speedup_mean")
    mem = row.get("memory_reduction_bytes")
    return {
        "size_ratio": row.get("size_ratio"),
        "size_reduction_pct": row.get("size_reduction_pct"),
        "speedup": speed,
        "accuracy_drop": row.get("quality_drop"),
        "accuracy_retention_pct": row.get("quality_retention_pct"),
        "memory_reduction_mb": None if mem is None else mem / MIB,
        "energy_ratio": row.get("energy_ratio"),
    }
from harness.store import queries


DRIFT_TAGS = (("cosine", "cosine"), ("MSE", "mse"), ("max |diff|", "max_abs_diff"),
              ("top-1 agree %", "top1_agreement_pct"), ("KL nats", "kl_divergence"))


def _walltime(run: dict[str, Any]) -> float | None:
    created = run.get("created_at")
    return created.timestamp() if hasattr(created, "timestamp") else None


def _groups(variants: list[dict[str, Any]], run_model: str | None) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for v in variants:
        groups.setdefault(str(v.get("model") or run_model or "model"), []).append(v)
    return groups


def _group_base(vs: list[dict[str, Any]], base: str) -> str | None:
    ok = [v for v in vs if v.get("status") == "ok"]
    for v in ok:
        if v["name"] == base or v["variant_id"] == base or str(v["name"]).endswith("/" + base):
            return v["variant_id"]
    roots = [v for v in ok if not v.get("base_id") or v["base_id"] not in {x["variant_id"] for x in ok}]
    return roots[0]["variant_id"] if roots else None


def _short(name: str, model: str) -> str:
    """The variant's label inside its model's group (`resnet/int8` -> `int8`)."""
    return name[len(model) + 1:] if name.startswith(model + "/") else name


def _hparam_value(v: Any):
    if isinstance(v, bool) or isinstance(v, (int, float)):
        return v
    return json.dumps(v) if not isinstance(v, str) else v


def export_tensorboard(store, run_id: str, logdir: str | Path, base: str = "fp32") -> list[str]:
    """Write the run's event files under `logdir`; returns the tags written (hparams sessions excluded).

    A fleet run writes each board as its own TensorBoard run (`logdir/<board>/`): the tags stay the same, so
    TensorBoard draws the boards side by side in each chart instead of one board's figures overwriting
    another's. A single-machine run writes into `logdir` itself."""
    from harness.core.comparison import split_by_board
    from harness.store import interop

    run = interop.run_row(store, run_id)
    quality = [q for q in interop.quality(store, run_id)
               if q["reference"] == "task" or q["metric"] == "top1_agreement"]
    drift = queries.drift_rows(store, run_id)
    groups = split_by_board(interop.variants(store, run_id), interop.measurements(store, run_id), quality)
    curves = interop.curves(store, run_id)
    tags: set[str] = set()
    for board, (variants, measurements, board_quality) in groups.items():
        board_drift = [q for q in drift if q.get("board") in (board, None)]
        out = Path(logdir) / sanitize_tag(board) if board else Path(logdir)
        tags.update(_write_run(store, run, out, base, variants, measurements, board_quality, board_drift, curves))
    return sorted(tags)


def _write_run(store, run: dict[str, Any], logdir: Path, base: str, variants: list[dict[str, Any]],
               measurements: list[dict[str, Any]], quality: list[dict[str, Any]],
               drift_quality: list[dict[str, Any]], curves: list[dict[str, Any]]) -> list[str]:
    """One TensorBoard run: the figures of one machine (a board of a fleet run, or the only host)."""
    from tensorboardX import SummaryWriter

    from harness.reports.data import ReportReader as Reader

    reader = Reader(store.path, lock_timeout_s=store.lock_timeout_s)
    wall = _walltime(run)
    tags: list[str] = []
    writer = SummaryWriter(logdir=str(logdir), comment=f"-{run['run_id']}")
    units = ("accuracy: % · latency, latency_p90: ms · model_size, memory: MiB · energy: mJ per inference · "
             "power: mW · compression: size_ratio and speedup ×, reductions %, accuracy_drop in points, "
             "memory_reduction_mb in MiB, energy_ratio × (base / variant energy per inference; average power "
             "where only that was recorded)")
    try:
        def scalar(t: str, value, step) -> None:
            if value is None or value != value:
                return
            writer.add_scalar(t, float(value), global_step=1 if step is None else int(step), walltime=wall)
            tags.append(t)

        for model, vs in _groups(variants, run.get("model")).items():
            base_id = _group_base(vs, base)
            if base_id is None:
                continue
            ids = {v["variant_id"] for v in vs}
            rows = compare(vs, [m for m in measurements if m["variant_id"] in ids],
                           [q for q in quality if q["variant_id"] in ids], base=base_id)
            names = {v["variant_id"]: _short(str(v["name"]), model) for v in vs}
            for r in rows:
                if r.get("status") != "ok":
                    continue
                name, step = names[r["variant_id"]], r.get("batch_size") or 1
                if r.get("quality") is not None:
                    scalar(tag(model, "accuracy", name), 100.0 * r["quality"], step)
                latency = r.get("p50_ms") if r.get("p50_ms") is not None else r.get("mean_ms")
                scalar(tag(model, "latency", name), latency, step)
                scalar(tag(model, "latency_p90", name), r.get("p90_ms"), step)
                size = r.get("size_bytes")
                scalar(tag(model, "model_size", name), None if size is None else size / MIB, step)
                mem = r.get("memory_bytes")
                scalar(tag(model, "memory", name), None if mem is None else mem / MIB, step)
                scalar(tag(model, "energy", name), r.get("energy_per_inference_mj"), step)
                if not r.get("is_base"):
                    for figure, value in compression_figures(r).items():
                        scalar(tag(model, "compression", figure, name), value, step)
            power = {m["variant_id"]: m for m in measurements if m.get("avg_power_mw") is not None}
            for vid, m in power.items():
                if vid in names:
                    scalar(tag(model, "power", names[vid]), m["avg_power_mw"], m.get("batch_size") or 1)
            for m in measurements:
                if m.get("status") != "ok" or m["variant_id"] not in names:
                    continue
                stats = reader.sample_stats(m["measurement_id"])
                if not stats:
                    continue
                t = tag(model, "latency_distribution", names[m["variant_id"]])
                writer.add_histogram_raw(t, global_step=int(m.get("batch_size") or 1), walltime=wall, **stats)
                tags.append(t)
            # curves logged through the monitor, and those an exporter recorded (structured pruning's fine-tune)
            exported = [dict(c, variant_id=v["variant_id"]) for v in vs
                        for c in (json.loads(v.get("info") or "{}").get("curves") or [])]
            for c in [*curves, *exported]:
                if c["variant_id"] in names:
                    scalar(tag(model, c["split"], c["metric"], names[c["variant_id"]]), c["value"], c["step"])
            from harness.core.output_drift import drift_table

            for d in drift_table([q for q in drift_quality if q["variant_id"] in names], names):
                for label, key in DRIFT_TAGS:
                    scalar(tag(model, "drift", d["output"], key, d["variant"]), d.get(label), 1)
            _hparams(logdir, model, vs, rows, names)
        writer.add_text("summary/units", units, global_step=0, walltime=wall)
    finally:
        writer.close()
    return tags


def _hparams(logdir: Path, model: str, vs: list[dict[str, Any]], rows: list[dict[str, Any]],
             names: dict[str, str]) -> None:
    """One HParams session per variant: its recipe (operation and parameters) against its figures."""
    from tensorboardX import SummaryWriter

    first = {}
    for r in rows:
        first.setdefault(r["variant_id"], r)
    root = logdir / "hparams"
    for v in vs:
        r = first.get(v["variant_id"])
        if r is None or v.get("status") != "ok":
            continue
        params = json.loads(v["params"]) if v.get("params") else {}
        hp = {"model": model, "variant": names[v["variant_id"]], "operation": v.get("operation") or "none",
              "precision": v.get("precision") or "unknown"}
        hp.update({f"param.{sanitize_tag(k)}": _hparam_value(val) for k, val in params.items()
                   if not str(k).startswith(("parity", "exporter"))})
        figures = {"accuracy": None if r.get("quality") is None else 100.0 * r["quality"],
                   "latency_ms": r.get("p50_ms") if r.get("p50_ms") is not None else r.get("mean_ms"),
                   "model_size_mb": None if r.get("size_bytes") is None else r["size_bytes"] / MIB,
                   **({} if r.get("is_base") else compression_figures(r))}
        metrics = {f"hparam/{k}": float(val) for k, val in figures.items() if val is not None}
        if not metrics:
            continue
        session = sanitize_tag(f"{model}.{names[v['variant_id']]}")
        with SummaryWriter(logdir=str(root / session)) as w:
            w.add_hparams(hp, metrics, name=".")
