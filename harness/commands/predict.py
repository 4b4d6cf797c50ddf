"""`harness predict`: the predicted outcome of a recipe on a model and device (never measured by this command)."""
from __future__ import annotations

from harness.commands.common import add_db_argument


def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict accuracy drop, latency, size, memory and energy of a recipe (with intervals)",
        description="Predict what a recipe would do to a model on a device, from the predictor trained on the "
                    "store's measured points (trained now if none is stored or newer points exist). The model "
                    "must have a measured FP32 root on the device: its features and absolute values come from it.")
    p.add_argument("--model", required=True, help="model name as stored (e.g. zoo-resnet)")
    p.add_argument("--recipe", required=True, help='recipe, e.g. "prune-structured:0.5>int8-static"')
    p.add_argument("--device", default="cpu", help="device profile the prediction is for (default cpu)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_db_argument(p)
    p.set_defaults(func=run)


def predict(store, model: str, recipe: str, device: str, echo=None) -> dict:
    from harness.core.errors import UsageError
    from harness.meta.dataset import latest_points, point_targets
    from harness.meta.features import features
    from harness.meta.predictor import check_recipe, load_or_train
    from harness.meta.dataset import measured as measured_points
    from harness.meta.recommend import _predicted, model_predictor

    check_recipe(recipe)
    points = latest_points(measured_points(store, device=device, model=model))
    roots = [p for p in points if p["variant_id"] == p["root_id"]]
    if not roots:
        raise UsageError(f"no measured FP32 root of model {model!r} on {device} in {store.path}; run "
                         f"`harness sweep --model {model} --device {device}` first")
    root = roots[-1]
    predictor = load_or_train(store, device, echo)
    task, _ = point_targets(root)
    feats = features(root["root_path"], recipe, device, root["environment"], task, root["root_p50_ms"])
    # every probe measured on this model: the probe-anchored companion, with the probes' outcomes as features
    chosen, extra = model_predictor(predictor, {p["name"]: point_targets(p)[1] for p in points})
    pred = chosen.predict(feats | extra)
    cand = _predicted(model, recipe, device, root, pred)
    measured = next((p for p in points if p["name"] == recipe), None)
    # recommend ranks by the size a size-only export computed and the latency ratio timed from it, when they are
    # stored (this command exports and times nothing)
    from harness.meta.computed import stored_outcomes
    from harness.meta.timed_latency import NO_ERROR, timing_error

    stored, _ = stored_outcomes(store, root, device, [recipe], timed=True)
    computed, timed = stored.bytes.get(recipe), stored.latency.get(recipe)
    timing_err = timing_error(store, device, latest_points(measured_points(store, device=device))) if timed \
        else NO_ERROR
    if recipe in stored.failed:
        cand.notes.append(f"its size-only export failed on this model, so it cannot be made from it: "
                          f"{stored.failed[recipe]}")
    ranking = _as_ranked(store, predictor, device, model, recipe,
                         _predicted(model, recipe, device, root, pred, computed, timed, timing_err)
                         if computed or timed
                         else cand)
    out = {
        "model": model, "recipe": recipe, "device": device, "source": "predicted",
        "predictor_id": chosen.predictor_id, "trained_on_points": chosen.n_rows, "predictor_kind": chosen.kind,
        "targets": {t: p.as_dict() for t, p in pred.items()},
        "absolute": {"accuracy": cand.accuracy, "drop_pts": cand.drop_pts, "latency_ms": cand.latency_ms,
                     "size_mb": cand.size_mb, "memory_mb": cand.memory_mb, "energy_mj": cand.energy_mj},
        "interval": cand.interval, "notes": cand.notes,
        "fp32": {"latency_ms": root["root_p50_ms"], "size_bytes": root["root_size_bytes"],
                 "peak_rss_bytes": root["root_peak_rss_bytes"], "accuracy": root["root_accuracy"],
                 "energy_per_inference_mj": root["root_energy_per_inference_mj"]},
        "measured": None,
        "computed_size_bytes": computed,
        "timed_latency_ratio": None if timed is None else {"value": timed.ratio,
                                                           "interval": list(timing_err.interval(recipe, timed))},
        "ranking": ranking,
    }
    if measured is not None:
        _, t = point_targets(measured)
        out["measured"] = {"run_id": measured["run_id"], "variant_id": measured["variant_id"], **t}
    return out


def _as_ranked(store, predictor, device, model, recipe, cand) -> dict | None:
    """How `harness recommend --model` would weigh this prediction: the ranking policy it uses for this model
    (unseen architecture: the stored inner-CV policy, which may shrink the estimate towards what the recipe did
    on alike architectures) and the estimate it ranks by. Still a prediction."""
    from harness.meta.recommend import build_candidates, rankings

    measured = [c for c in build_candidates(store, None, device, model) if c.recipe != recipe]
    mr = rankings(store, predictor, device, [cand, *measured]).get(model)
    if mr is None or not cand.estimates:
        return None
    point = {"model": model, "recipe": recipe, "drop": None, "lat": None, "size": None}
    view = mr.ranking.view(point, cand.estimates)
    return {"policy": mr.label, "unseen_architecture": mr.unseen, "source": "predicted",
            "ranked_by": {"drop_pts": view["est_drop"], "latency_ratio": view["point_lat"],
                          "size_ratio": view["point_size"]}}


def run(args) -> int:
    import sys

    from harness.commands.common import open_store
    from harness.core.units import fmt, print_json

    store = open_store(args)
    out = predict(store, args.model, args.recipe, args.device,
                  echo=lambda m: print(m, file=sys.stderr))
    if args.json:
        print_json(out)
        return 0
    kind = " (probe-anchored)" if out["predictor_kind"] == "probe" else ""
    print(f"{args.model} {args.recipe} on {args.device}: PREDICTED by {out['predictor_id']}{kind} "
          f"({out['trained_on_points']} measured points), 80 % interval in brackets")
    for t, p in out["targets"].items():
        if p["value"] is None:
            print(f"  {t:<14} -  ({p['reason']})")
        else:
            print(f"  {t:<14} {fmt(p['value'])}  [{fmt(p['low'])}, {fmt(p['high'])}]")
    a = out["absolute"]
    print(f"  => latency {fmt(a['latency_ms'])} ms, size {fmt(a['size_mb'])} MB, memory {fmt(a['memory_mb'])} MB, "
          f"accuracy {fmt(a['accuracy'])}, energy {fmt(a['energy_mj'])} mJ")
    if out["ranking"]:
        r = out["ranking"]["ranked_by"]
        print(f"  recommend ranks it by: drop {fmt(r['drop_pts'])} pts, latency ratio {fmt(r['latency_ratio'])}, "
              f"size ratio {fmt(r['size_ratio'])} ({out['ranking']['policy']})")
    if out["measured"]:
        m = out["measured"]
        print(f"  measured too (run {m['run_id']}): drop {fmt(m['drop_pts'])} pts, latency ratio "
              f"{fmt(m['latency_ratio'])}, size ratio {fmt(m['size_ratio'])}")
    return 0
