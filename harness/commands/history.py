"""`harness history`: one variant's metric across runs, with the runs where it stepped up or down."""
from __future__ import annotations

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, fmt, from_args, print_json,
                                     print_table, store_at)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "history", help="a variant's metric across runs, with step changes (asv-style step detection)",
        description="Show a metric of one variant across complete runs (oldest first) and name the runs where "
                    "its level changed: an L1 piecewise-constant fit with a Schwarz-criterion penalty, ignoring "
                    "changes smaller than --min-change.")
    p.add_argument("--model", help="model name (default: any model with that variant)")
    p.add_argument("--variant", required=True, help="variant name, e.g. fp32 or int8-static")
    p.add_argument("--metric", default="p50", help="p50 (default), p90, p99, mean, throughput, rss, energy, size, "
                   "a measurement column, or a quality metric such as task.accuracy or root.kl_divergence")
    p.add_argument("--tag", help="only runs with this tag (e.g. nightly)")
    p.add_argument("--device", help="only runs on this device profile")
    p.add_argument("--batch-size", type=int, help="only this batch size")
    p.add_argument("--threads", type=int, help="only this thread count")
    p.add_argument("--min-change", type=float, default=0.05, metavar="FRACTION",
                   help="smallest relative level change reported as a step (default 0.05)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def run(
        *, variant, batch_size=None, db=DEFAULT_DB, device=None, json=False, lock_timeout=DEFAULT_LOCK_TIMEOUT_S, metric='p50',
        min_change=0.05, model=None, tag=None, threads=None) -> int:
    from harness.core.errors import UsageError
    from harness.regress.history import load_history

    if min_change < 0:
        raise UsageError("--min-change must be >= 0")
    store = store_at(db, lock_timeout)
    column, series = load_history(store, model, variant, metric, tag=tag, device=device,
                                  batch_size=batch_size, threads=threads, min_change=min_change)
    if not series:
        what = f"variant {variant!r}" + (f" of model {model!r}" if model else "")
        raise UsageError(f"no complete runs with {what} and a value for {column}"
                         + (f" tagged {tag!r}" if tag else "") + f" in {db}")
    if json:
        print_json({"metric": column, "variant": variant, "series": [s.as_dict() for s in series]})
        return 0
    for i, s in enumerate(series):
        if i:
            print()
        scen = ", ".join(f"{k} {v}" for k, v in s.scenario.items() if v is not None)
        print(f"{variant} {column} ({scen}): {len(s.points)} run(s)")
        step_at = {st.index: st for st in s.steps}
        level = {}
        for seg in s.segments:
            for j in range(seg.start, seg.stop):
                level[j] = seg.median
        rows = []
        for j, p in enumerate(s.points):
            st = step_at.get(j)
            rows.append({"run_id": p["run_id"], "created_at": str(p["created_at"])[:19], "tag": p["tag"],
                         "value": p["value"], "level": level.get(j),
                         "step": f"<- step {st.change:+.1%}" if st else ""})
        print_table(rows, ["run_id", "created_at", "tag", "value", "level", "step"])
        for st in s.steps:
            print(f"step at run {s.points[st.index]['run_id']}: {fmt(st.before)} -> {fmt(st.after)} "
                  f"({st.change:+.1%})")
        if not s.steps:
            print("no step changes")
    return 0
