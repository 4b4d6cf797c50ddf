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
    p.add_argument("--predict-latency", action="store_true",
                   help="predict the latency of candidates not measured yet instead of timing their size-only "
                        "exports against the FP32 root on this host (the default where this host is alike the "
                        "one the root was measured on)")
    p.add_argument("--no-policy", action="store_true",
                   help="with one model: order by the learnt estimates (--bound/--rank) instead of the ranking "
                        "policy that benchmarks/recommend.py measures (harness.meta.policy)")
    p.add_argument("--verify", type=int, default=0, metavar="K",
                   help="measure up to K predicted top picks on this machine before answering (a `harness sweep` of "
                        "that recipe, stored like any sweep point): a pick that breaks a limit when measured drops "
                        "out and the next one is measured; stops as soon as the top pick is a measured one. The "
                        "ranking keeps the policy it started with (benchmarks/recommend.py: verify_* figures)")
    p.add_argument("--top", type=int, default=10, help="rows shown (default 10; --json lists all)")
    p.add_argument("--json", action="store_true", help="print the candidates as a JSON list")
    add_db_argument(p)
    p.set_defaults(func=run)


def recommend(store, constraints, device: str, model: str | None = None, bound: str | None = None,
              predict: bool = True, echo=None, rank_by: str | None = None, use_policy: bool = True,
              verify: int = 0, time_latency: bool = True):
    """(ranked candidates, message or None when nothing fits). Raises UsageError on an empty store. With
    `verify`, up to that many predicted top picks are measured first (`verify_top_picks`)."""
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
    # the sizes of predicted candidates are computed by size-only exports (harness.meta.sizing) when the answer
    # is about one model; across many models, only those already computed (the rest stay predicted)
    sizer = _sizer(store, device, echo, time_latency) if model is not None or len(known) == 1 else None
    cands = build_candidates(store, predictor, device, model, sizer=sizer, timed_latency=time_latency)
    bound = bound or BOUND
    # one model: its candidates are ordered by the ranking policy benchmarks/recommend.py measures (unless the
    # user asked for the plain --bound/--rank ordering)
    policies = (rankings(store, predictor, device, cands)
                if predictor is not None and use_policy and len({c.model for c in cands}) == 1 else None)
    ranked = rank(cands, constraints, bound, rank_by or RANK_BY, policies)
    if verify > 0 and predictor is not None:
        def again():
            return rank(build_candidates(store, predictor, device, model, sizer=sizer, timed_latency=time_latency),
                        constraints, bound, rank_by or RANK_BY, policies)
        ranked = verify_top_picks(store, ranked, again, device, verify, echo)
    if not any(c.feasible for c in ranked):
        return ranked, binding(ranked, constraints, bound)
    return ranked, None


def _sizer(store, device: str, echo, time_latency: bool = True):
    """What build_candidates calls for the sizes of a model's predicted candidates: stored ones, the rest
    computed by size-only exports and stored (harness.meta.sizing); with `time_latency`, their latency ratios
    timed from the same exports on this host too, where it is alike the root's (harness.meta.timed_latency)."""
    from harness.meta.sizing import sizes_for
    from harness.meta.timed_latency import TrialTiming

    def sizer(name, root, recipes):
        sizes = sizes_for(store, name, root, recipes, device, echo=echo,
                          timing=TrialTiming() if time_latency else None)
        if time_latency and echo and sizes.latency_reasons:
            why = sorted(set(sizes.latency_reasons.values()))
            echo(f"latency of {len(sizes.latency_reasons)} candidate(s) of {name} stays predicted: {why[0]}"
                 + (f" (and {len(why) - 1} other reason(s))" if len(why) > 1 else ""))
        return sizes
    return sizer


def verify_top_picks(store, ranked, again, device: str, k: int, echo=None):
    """Measure the top pick while it is a predicted one, at most `k` times, re-ranking after each measurement
    (`again`) with the same predictor and ranking policies: the model counts as it did when the ranking started
    (an unseen architecture stays one), only the measured recipe changes from predicted to measured, as in the
    verify_* simulation of benchmarks/recommend.py. Each measurement is a `harness sweep` of that recipe (root
    interleaved, stored in the same database); a failed one stops the loop with a one-line error."""
    import contextlib
    import sys

    from harness.core.errors import UsageError
    from harness.meta.sweep import SweepConfig, run_sweep

    echo = echo or (lambda m: None)
    for i in range(k):
        top = next((c for c in ranked if c.feasible), None)
        if top is None:
            echo("verify: no candidate fits, so there is no top pick to measure")
            break
        if top.source != "predicted":
            break
        echo(f"verify {i + 1}/{k}: measuring {top.model} {top.recipe} (predicted {_brief(top)})")
        # stdout stays the answer's (--json): onnxruntime's calibrators print their progress there
        try:
            with contextlib.redirect_stdout(sys.stderr):
                res = run_sweep(SweepConfig(examples=(top.model,), recipes=(top.recipe,), device=device,
                                            db=str(store.path), lock_timeout_s=store.lock_timeout_s,
                                            progress=False), echo=lambda m: None)
        except UsageError as exc:       # e.g. a plain ONNX file's model: no example `harness sweep` can export
            raise UsageError(f"--verify: cannot measure {top.model} {top.recipe}: {exc}") from None
        if res.failed or (top.model, top.recipe) not in res.measured:
            why = "; ".join(res.failed) or "not measured"
            raise UsageError(f"--verify: measuring {top.model} {top.recipe} failed ({why}); the measurements "
                             "stored so far are kept")
        ranked = again()
        now = next((c for c in ranked if c.model == top.model and c.recipe == top.recipe and c.source == "measured"),
                   None)
        if now is not None:
            now.notes.append(f"measured by --verify (predicted {_brief(top)})")
            echo(f"  measured {_brief(now)}: {'fits' if now.feasible else 'breaks ' + '; '.join(now.violations)}")
    top = next((c for c in ranked if c.feasible), None)
    if k and top is not None and top.source == "predicted":
        echo(f"verify: {k} measurement(s) spent and the top pick is still a predicted one (--verify more to go on)")
    return ranked


def measure_command(store, model: str, recipe: str, device: str) -> str:
    """The command that measures a predicted candidate into the same store on the same device: `harness sweep`
    for an example it can export, `harness bench <the model's FP32 file>` for a user's ONNX file (sweep knows no
    example by that name)."""
    import shlex

    from harness.examples import EXAMPLES

    tail = f" --recipe {shlex.quote(recipe)} --db {shlex.quote(str(store.path))}" + (
        "" if device == "cpu" else f" --device {shlex.quote(device)}")
    if model in EXAMPLES:
        return f"harness sweep --model {shlex.quote(model)}{tail}"
    roots = store.query("SELECT path FROM variants WHERE model = ? AND variant_id = root_id AND path IS NOT NULL "
                        "ORDER BY created_at DESC LIMIT 1", [model])
    return f"harness bench {shlex.quote(roots[0]['path']) if roots else '<its ONNX file>'}{tail}"


def _brief(c) -> str:
    from harness.core.units import fmt

    return f"{fmt(c.latency_ms)} ms, {fmt(c.size_mb)} MB, drop {fmt(c.drop_pts)} pts"


def run(args) -> int:
    import sys

    from harness.commands.common import open_store
    from harness.core.errors import UsageError
    from harness.core.units import fmt, print_json, print_table
    from harness.meta.recommend import Constraints, next_bets

    if args.verify < 0:
        raise UsageError(f"--verify must be 0 or more, got {args.verify}")
    if args.verify and args.no_predict:
        raise UsageError("--verify measures predicted top picks: it cannot go with --no-predict")
    if args.predict_latency and args.no_predict:
        raise UsageError("--predict-latency is about candidates not measured yet: it cannot go with --no-predict")

    constraints = Constraints(
        max_latency_ms=args.max_latency_ms, max_size_mb=args.max_size_mb, max_memory_mb=args.max_memory_mb,
        max_energy_mj=args.max_energy_mj, min_accuracy=args.min_accuracy, max_drop_pts=args.max_drop_pts)
    store = open_store(args)
    ranked, why = recommend(store, constraints, args.device, args.model, args.bound, not args.no_predict,
                            echo=lambda m: print(m, file=sys.stderr), rank_by=args.rank_by,
                            use_policy=not args.no_policy and args.bound is None and args.rank_by is None,
                            verify=args.verify, time_latency=not args.predict_latency)
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
    unknown = sum(c.quality is None for c in feasible)
    print(f"{len(feasible)} of {len(ranked)} candidates fit on {args.device} ({n_pred} predicted, "
          f"{len(feasible) - n_pred} measured); best accuracy first"
          + (f" ({unknown} with accuracy unknown: no labels, drift reference or estimate; listed last)"
             if unknown else "") + ", * = on the Pareto front (accuracy, latency, size)")
    if any(c.size_source == "computed" for c in ranked):
        timed = any(c.latency_source == "timed" for c in ranked)
        print("predicted candidates: accuracy (where the predictor has an estimate)" + ("" if timed else ", latency")
              + " and memory predicted; size "
              "computed by exporting them (size-only export: exact)"
              + ("; latency timed from that export against the FP32 root on this host" if timed else ""))
    print_table(rows(feasible[:args.top]), cols)
    # fewer than five fit by the ranking policy's check: its next places are bets expected to break a limit (the
    # ranking benchmarks/recommend.py scores as a top 5 goes on with them)
    bets = next_bets(ranked)
    if bets:
        print("\nnext places of the ranking policy (predicted over a latency/size limit: measure before shipping):")
        print_table([r | {"place": c.place} for r, c in zip(rows(bets), bets)], ["place"] + cols[1:])
    front = [c for c in feasible if c.pareto]
    print(f"\nPareto front ({len(front)}):")
    print_table(rows(front), cols)
    best = feasible[0]
    print(f"\nrecommended: {best.model} {best.recipe} ({best.source}"
          + (f", measure it to confirm: {measure_command(store, best.model, best.recipe, args.device)}"
             if best.source == "predicted" else "") + ")")
    for note in best.notes:
        print(f"  note: {note}")
    return 0
