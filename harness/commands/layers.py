"""`harness layers RUN [--variant V] [--json]`: per layer of each variant, what ran, in which precision, its time
against the FP32 root's and how far its output moved (the rows `harness bench --profile-layers` stored)."""
from __future__ import annotations

import sys
from typing import Any

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, add_run_argument,
                                     from_args, print_json, print_table, store_at)
from harness.core.errors import UsageError

COLUMNS = ["layer", "op_type", "ran_as", "precision", "time", "base", "added", "error", "error_added", "qdq"]
HEADERS = ["layer", "op", "ran as", "precision", "ms", "FP32 ms", "added ms", "rel err", "err added", "Q/DQ"]
JSON_KEYS = ("variant", "variant_id", "layer", "layer_order", "op_type", "ran_as", "provider", "precision",
             "base_precision", "time_ms", "base_time_ms", "time_added_ms", "qdq_ms", "unfused_qdq", "error",
             "cosine", "error_added", "error_n", "profiled_calls", "time_source", "error_source")
MAX_CELL = 38


def register(sub) -> None:
    p = sub.add_parser("layers", help="per-layer time, precision and error of a run's variants "
                                      "(from bench --profile-layers)")
    add_run_argument(p)
    p.add_argument("--variant", help="only this variant (name or id)")
    p.add_argument("--sort", choices=["time", "error", "order"], default="time",
                   help="time added over FP32 (default), error added, or graph order")
    p.add_argument("--top", type=int, default=0, metavar="N", help="only the first N layers of each variant")
    p.add_argument("--json", action="store_true", help="a list of objects, one per variant and layer")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def _short(text: Any) -> str:
    """Cut in the middle: exported names share long prefixes (`jax2tf_get_logits_/pjit_get_logits_/...`) and end
    in the part that tells layers apart."""
    text = "-" if text is None else str(text)
    return text if len(text) <= MAX_CELL else text[:10] + "…" + text[-(MAX_CELL - 11):]


def run(*, run, variant=None, sort="time", top=0, json=False, db=DEFAULT_DB,
        lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    from harness.core.layer_diagnosis import order_layers, time_added_ms
    from harness.store.queries import layer_profile_rows

    if top < 0:
        raise UsageError("--top must be >= 0")
    store = store_at(db, lock_timeout)
    run_id = store.resolve_run(run)
    rows = layer_profile_rows(store, run_id)
    if not rows:
        raise UsageError(f"run {run_id} has no per-layer profile; bench with --profile-layers, e.g. "
                         "harness bench model.onnx --recipe int8-static --profile-layers")
    if variant:
        names = sorted({r["variant"] for r in rows})
        rows = [r for r in rows if variant in (r["variant"], r["variant_id"])]
        if not rows:
            raise UsageError(f"no variant {variant!r} with a per-layer profile in run {run_id}; "
                             f"profiled: {', '.join(names)}")
    for r in rows:
        r["time_added_ms"] = time_added_ms(r) if r.get("base_time_ms") is not None else None
        r["error"] = r.get("rel_l2")
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_variant.setdefault(r["variant"], []).append(r)
    if json:
        out = []
        for v_rows in by_variant.values():
            out += [{k: r.get(k) for k in JSON_KEYS} for r in order_layers(v_rows, sort)[: top or None]]
        print_json(out)
        return 0
    for name, v_rows in by_variant.items():
        total = sum(r["time_ms"] or 0 for r in v_rows)
        base_total = sum(r["base_time_ms"] or 0 for r in v_rows)
        source = next((r["time_source"] for r in v_rows if r.get("time_source")), None)
        head = f"{name}: {len(v_rows)} layers, {total:.3f} ms per call in layers"
        if base_total:
            head += f" (FP32 root {base_total:.3f} ms)"
        print(head + (f"  [{source}]" if source else ""))
        table = []
        for r in order_layers(v_rows, sort)[: top or None]:
            table.append({
                "layer": _short(r["layer"]), "op_type": r.get("op_type") or "-", "ran_as": _short(r.get("ran_as")),
                "precision": r.get("precision") or "-",
                "time": "-" if r.get("time_ms") is None else f"{r['time_ms']:.4f}",
                "base": "-" if r.get("base_time_ms") is None else f"{r['base_time_ms']:.4f}",
                "added": "-" if r.get("time_added_ms") is None else f"{r['time_added_ms']:+.4f}",
                "error": "-" if r.get("rel_l2") is None else f"{r['rel_l2']:.4f}",
                "error_added": "-" if r.get("error_added") is None else f"{r['error_added']:+.4f}",
                "qdq": ("unfused" if r.get("unfused_qdq") else "") + (
                    f" {r['qdq_ms']:.4f} ms" if r.get("qdq_ms") else "") or "-",
            })
        print_table(table, COLUMNS, HEADERS)
        print()
    return 0


def print_layer_notes(db: str, run_id: str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S, out=None) -> None:
    """At the end of `bench --profile-layers`: two lines for each variant slower than its FP32 root or that lost
    accuracy, naming the layers that cost it. A display problem never fails the bench."""
    from harness.core.errors import HarnessError
    from harness.core.layer_diagnosis import explain_variants
    from harness.store.queries import comparison_rows, layer_profile_rows

    out = out or sys.stdout
    try:
        store = store_at(db, lock_timeout_s)
        rows = layer_profile_rows(store, run_id)
        variants, measurements, quality = comparison_rows(store, run_id)
    except HarnessError as exc:
        print(f"(no per-layer notes: {exc})", file=out)
        return
    lines = [line for figures in explain_variants(rows, variants, measurements, quality).values()
             for line in figures["lines"]]
    if lines:
        print("\nwhy (per-layer profile; details: harness layers " + run_id + "):", file=out)
        for line in lines:
            print(f"  {line}", file=out)
