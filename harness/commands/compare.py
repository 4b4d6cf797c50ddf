"""`harness compare RUN [--base fp32]`: size, speed, memory, quality and energy of every variant against a base."""
from __future__ import annotations

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, add_run_argument,
                                     from_args, print_json, print_table, store_at)

COLUMNS = ["name", "batch_size", "size_bytes", "size_ratio", "size_reduction_pct", "p50_ms", "speedup_p50",
           "speedup_p90", "memory_reduction_pct", "quality", "quality_drop", "quality_retention_pct",
           "energy_reduction_pct", "status"]
HEADERS = ["variant", "bs", "size B", "size x", "size -%", "p50 ms", "speedup p50", "speedup p90", "mem -%",
           "{metric}", "drop pts", "retained %", "energy -%", "status"]


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare a run's variants with its FP32 base (size, speedup, accuracy)")
    add_run_argument(p)
    p.add_argument("--base", default="fp32", help="variant name or id to compare against (default fp32)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def run(*, run, base='fp32', db=DEFAULT_DB, json=False, lock_timeout=DEFAULT_LOCK_TIMEOUT_S) -> int:
    from harness.core.comparison import against_base
    from harness.store.queries import comparison_rows

    from harness.core.comparison import split_by_board

    store = store_at(db, lock_timeout)
    run_id = store.resolve_run(run)
    # a fleet run is compared board by board (each board against its own base), printed side by side
    groups = split_by_board(*comparison_rows(store, run_id))
    all_rows = []
    for board, (variants, measurements, quality) in groups.items():
        rows = against_base(variants, measurements, quality, base=base)
        # the base first, then in provenance order (a chain after its base), then by name
        rows.sort(key=lambda r: (not r["is_base"], r["name"].count(">"), r["name"], r.get("batch_size") or 0))
        all_rows += [r | {"board": board} for r in rows] if board else rows
    user = _user_metrics(store, run_id)
    if json:
        print_json({"run_id": run_id, "base": base, "rows": all_rows, "user_metrics": user})
        return 0
    for board in groups:
        rows = [r for r in all_rows if r.get("board") == board]
        metric = next((r["quality_metric"] for r in rows if r.get("quality_metric")), None) or "quality"
        print(f"run {run_id}" + (f", board {board}" if board else "")
              + f": against {rows[0]['base_name'] if rows else base}")
        print_table(rows, COLUMNS, [h.format(metric=metric) for h in HEADERS])
        for r in rows:
            if r["status"] != "ok" and r.get("error"):
                print(f"  {r['name']}: {r['status']}: {r['error']}")
    if user:
        # metrics a training script logged (LocalModelMonitor) or an imported file carried, as they were given
        names = list(dict.fromkeys(m for values in user.values() for m in values))
        print("\nuser metrics (as logged or imported):")
        by_name = {r["name"]: r["variant_id"] for r in all_rows}
        order = dict.fromkeys(r["name"] for r in all_rows if r["variant_id"] in user)
        print_table([{"name": n, **user[by_name[n]]} for n in order], ["name", *names], ["variant", *names])
    return 0


def _user_metrics(store, run_id: str) -> dict[str, dict]:
    from harness.store import interop

    out: dict[str, dict] = {}
    for r in interop.user_metrics(store, run_id):
        out.setdefault(r["variant_id"], {})[r["name"]] = r["value"] if r["raw"] is None else r["raw"]
    return out
