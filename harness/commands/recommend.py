"""`harness recommend`: which compression to ship under latency/size/memory/energy/accuracy constraints."""
from __future__ import annotations

from harness.commands.common import add_db_argument


def register(sub) -> None:
    p = sub.add_parser(
        "recommend", help="rank measured and predicted variants under constraints; show the Pareto front",
        description="Rank every measured variant and every predicted (not yet measured) recipe of the sweep grid "
                    "under the constraints, best accuracy first; each is marked measured or predicted (with an 80-percent "
                    "interval). Exit 1 when nothing fits, naming the binding constraint.")
    p.add_argument("--max-latency-ms", type=float, help="p50 latency per call, at most (ms)")
    p.add_argument("--max-size-mb", type=float, help="model file size, at most (MB = 1e6 bytes)")
    p.add_argument("--max-memory-mb", type=float, help="peak RSS of the runtime process, at most (MB)")
    p.add_argument("--max-energy-mj", type=float, help="energy per inference, at most (mJ)")
    acc = p.add_mutually_exclusive_group()
    acc.add_argument("--min-accuracy", type=float, help="accuracy, at least (a fraction, e.g. 0.9)")
    acc.add_argument("--max-drop-pts", type=float, help="accuracy (or drift) points lost against FP32, at most")
    p.add_argument("--device", default="cpu", help="device profile (default cpu)")
    p.add_argument("--model", help="only this model (default: every model measured on the device)")
    p.add_argument("--bound", choices=["interval", "point", "auto"], default=None,
                   help="predicted candidates: check the limits against the interval's pessimistic end, the "
                        "estimate, or (auto) the interval and, when nothing passes, the estimate "
                        "(default: harness.meta.recommend.BOUND)")
    p.add_argument("--rank", choices=["estimate", "pessimistic"], default=None, dest="rank_by",
                   help="order predicted candidates by their estimated accuracy or the low end of its interval "
                        "(default: harness.meta.recommend.RANK_BY)")
    p.add_argument("--no-predict", action="store_true", help="measured candidates only")
    p.add_argument("--no-policy", action="store_true",
                   help="with one model: order by the learnt estimates (--bound/--rank) instead of the ranking "
                        "policy that benchmarks/recommend.py measures (harness.meta.policy)")
    p.add_argument("--top", type=int, default=10, help="rows shown (default 10; --json lists all)")
    p.add_argument("--json", action="store_true", help="print the candidates as a JSON list")
    add_db_argument(p)
    p.set_defaults(func=run)


def recommend(store, constraints, device: str, model: str | None = None, bound: str | None = None,
              predict: bool = True, echo=None, rank_by: str | None = None, use_policy: bool = True):
    """(ranked candidates, message or None when nothing fits). Raises UsageError on an empty store."""
    from harness.core.errors import UsageError
    from harness.meta.predictor import load_or_train
    from harness.meta.recommend import BOUND, RANK_BY, EmptyStore, binding, build_candidates, rank, rankings
    from harness.store.meta import devices, models_on_device

    if not store.path.exists():
        raise EmptyStore(f"no result database at {store.path}; run `harness sweep` (or `harness bench`) first")
    store.migrate()
    known = models_on_device(store, device)
    if not known:
        where = devices(store)
        raise EmptyStore(f"nothing measured on {device} in {store.path}"
                         + (f" (it has runs on {', '.join(where)}; pass --device)" if where else "")
                         + "; run `harness sweep` first")
    if model is not None and model not in known:
        raise UsageError(f"model {model!r} has no measurements on {device} in {store.path}; "
                         f"measured there: {', '.join(known)}")
    predictor = load_or_train(store, device, echo) if predict else None
    cands = build_candidates(store, predictor, device, model)
    bound = bound or BOUND
    # one model: its candidates are ordered by the ranking policy benchmarks/recommend.py measures (unless the
    # user asked for the plain --bound/--rank ordering)
    policies = (rankings(store, predictor, device, cands)
                if predictor is not None and use_policy and len({c.model for c in cands}) == 1 else None)
    ranked = rank(cands, constraints, bound, rank_by or RANK_BY, policies)
    if not any(c.feasible for c in ranked):
        return ranked, binding(ranked, constraints, bound)
    return ranked, None


def run(args) -> int:
    import sys

    from harness.commands.common import open_store
    from harness.core.units import fmt, print_json, print_table
    from harness.meta.recommend import Constraints

    constraints = Constraints(
        max_latency_ms=args.max_latency_ms, max_size_mb=args.max_size_mb, max_memory_mb=args.max_memory_mb,
        max_energy_mj=args.max_energy_mj, min_accuracy=args.min_accuracy, max_drop_pts=args.max_drop_pts)
    store = open_store(args)
    ranked, why = recommend(store, constraints, args.device, args.model, args.bound, not args.no_predict,
                            echo=lambda m: print(m, file=sys.stderr), rank_by=args.rank_by,
                            use_policy=not args.no_policy and args.bound is None and args.rank_by is None)
    if args.json:
        print_json([c.as_dict() for c in ranked])
    if why:
        print(f"harness: error: {why}", file=sys.stderr)
        return 1
    if args.json:
        return 0
    feasible = [c for c in ranked if c.feasible]

    def rows(cands):
        out = []
        for c in cands:
            iv = c.interval.get("latency_ms")
            out.append({"rank": c.rank, "model": c.model, "recipe": c.recipe,
                        "source": c.source + ("*" if c.pareto else ""),
                        "accuracy": c.accuracy, "drop_pts": c.drop_pts, "latency_ms": c.latency_ms,
                        "latency_80": f"[{fmt(iv[0])}, {fmt(iv[1])}]" if iv else "",
                        "size_mb": c.size_mb, "memory_mb": c.memory_mb, "energy_mj": c.energy_mj})
        return out

    cols = ["rank", "model", "recipe", "source", "accuracy", "drop_pts", "latency_ms", "latency_80", "size_mb",
            "memory_mb", "energy_mj"]
    n_pred = sum(c.source == "predicted" for c in feasible)
    print(f"{len(feasible)} of {len(ranked)} candidates fit on {args.device} ({n_pred} predicted, "
          f"{len(feasible) - n_pred} measured); best accuracy first, * = on the Pareto front "
          "(accuracy, latency, size)")
    print_table(rows(feasible[:args.top]), cols)
    front = [c for c in feasible if c.pareto]
    print(f"\nPareto front ({len(front)}):")
    print_table(rows(front), cols)
    best = feasible[0]
    print(f"\nrecommended: {best.model} {best.recipe} ({best.source}"
          + (", measure it to confirm: harness sweep --model {0} --recipe '{1}'".format(best.model, best.recipe)
             if best.source == "predicted" else "") + ")")
    for note in best.notes:
        print(f"  note: {note}")
    return 0
