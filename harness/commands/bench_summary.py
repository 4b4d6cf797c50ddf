"""What `harness bench` prints at the end: every variant against its base in one compact table, the drift of
every output against the original, and the next two commands."""
from __future__ import annotations

import sys
from typing import Any

from harness.core.units import human_bytes, percent, print_table, times

COLUMNS = ["variant", "size", "smaller", "p50 ms", "p90 ms", "speedup", "peak mem", "quality", "status"]


def _quality_cell(r: dict[str, Any]) -> tuple[str, str]:
    """(header, cell): accuracy when the run has labels, else top-1 agreement, else cosine to the original."""
    if r.get("quality") is not None and r.get("quality_metric") == "accuracy":
        return "accuracy", percent(r["quality"])
    if r.get("is_base"):
        return "", "(reference)"
    if r.get("top1_agreement_root") is not None:
        return "agree", percent(r["top1_agreement_root"])
    if r.get("cosine_root") is not None:
        return "cosine", f"{r['cosine_root']:.4f}"
    if r.get("quality") is not None:
        return str(r.get("quality_metric")), f"{r['quality']:.4f}"
    return "", "-"


def summary_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, str]], str]:
    out, kinds = [], []
    for r in rows:
        kind, cell = _quality_cell(r)
        if kind:
            kinds.append(kind)
        status = r.get("status") or "-"
        if status == "ok" and r.get("no_effect"):
            status = "ok, no effect"
        elif status == "ok" and r.get("p50_ms") is None:
            status = "not measured"
        p50, p90 = r.get("p50_ms"), r.get("p90_ms")
        out.append({
            "variant": r["name"] + (f" bs{r['batch_size']}" if r.get("_multi_batch") else ""),
            "size": human_bytes(r.get("size_bytes")),
            "smaller": "-" if r.get("is_base") else times(r.get("size_ratio")),
            "p50 ms": "-" if p50 is None else f"{p50:.3g}", "p90 ms": "-" if p90 is None else f"{p90:.3g}",
            "speedup": "-" if r.get("is_base") else times(r.get("speedup_p50")),
            "peak mem": human_bytes(r.get("memory_bytes")),
            "quality": cell, "status": status,
        })
    header = "/".join(dict.fromkeys(kinds)) or "quality"
    return out, header


def print_summary(db: str, run_id: str, lock_timeout_s: float = 60.0, out=None) -> None:
    """The comparison a user ran the bench for; a display problem never fails the bench."""
    from harness.core.comparison import against_base as compare
    from harness.store.queries import comparison_rows as load_rows
    from harness.core.errors import HarnessError
    from harness.core.output_drift import drift_table, formatted, present_columns
    from harness.store import queries
    from harness.store import Store

    out = out or sys.stdout
    try:
        store = Store(db, lock_timeout_s=lock_timeout_s)
        variants, measurements, quality = load_rows(store, run_id)
        drift = queries.drift_rows(store, run_id)
    except HarnessError as exc:
        print(f"(no summary: {exc})", file=out)
        return
    roots = [v for v in variants if v.get("status") == "ok" and not v.get("base_id")]
    groups = roots or [None]
    for root in groups:
        if root is not None:
            members = [v for v in variants if (v.get("root_id") or v["variant_id"]) == root["variant_id"]
                       or v["variant_id"] == root["variant_id"]]
        else:
            members = variants
        try:
            rows = compare(members, measurements, quality, base=root["variant_id"] if root else "fp32")
        except HarnessError:
            rows = []
        if not rows:
            continue
        batches = {r.get("batch_size") for r in rows if r.get("batch_size") is not None}
        for r in rows:
            r["_multi_batch"] = len(batches) > 1 and r.get("batch_size") is not None
        rows.sort(key=lambda r: (not r["is_base"], r["name"].count(">"), r["name"], r.get("batch_size") or 0))
        table, quality_header = summary_rows(rows)
        print(f"\n{root['name'] if root else 'variants'}: every variant against {rows[0]['base_name']} "
              f"(size x = times smaller, speedup on p50)", file=out)
        headers = [quality_header if c == "quality" else c for c in COLUMNS]
        print_table(table, COLUMNS, headers, out=out)
        for r in rows:
            if r.get("no_effect"):
                print(f"  {r['name']}: no effect: {r['no_effect']}", file=out)
            elif r.get("status") not in ("ok", None) and r.get("error"):
                print(f"  {r['name']}: {r['status']}: {r['error']}", file=out)
        ids = {v["variant_id"] for v in members}
        names = {v["variant_id"]: v["name"] for v in members}
        per_output = drift_table([q for q in drift if q["variant_id"] in ids], names)
        outputs = {r["output"] for r in per_output}
        if per_output and len(outputs) > 1:
            cols = present_columns(per_output)
            print(f"drift against {rows[0]['base_name']}, every output:", file=out)
            print_table(formatted(per_output), ["variant", "output", *cols], out=out)
    print(f"\nnext: harness dashboard --db {db}\n      harness compare {run_id} --db {db}", file=out)
