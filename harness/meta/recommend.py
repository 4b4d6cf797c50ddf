"""Recommendation under constraints: measured and predicted candidates, ranked, with the Pareto front.

Candidates of a model on a device are every variant measured there (absolute values from the store) and every
recipe of the sweep grid not measured yet (predicted: the predictor's ratios times the FP32 root's measured
values, with an 80 % interval). A predicted candidate satisfies a constraint when its interval's pessimistic
end does (`bound="interval"`, the default: a recommendation should not rest on a lucky guess) or its point
estimate does (`bound="point"`); `bound="auto"` (the default) uses the interval and, only when nothing passes
that way, the estimate, noting it on each such candidate. Feasible candidates are ranked by quality (accuracy; for models without labels,
similarity to FP32), then by latency. A candidate whose energy is unknown never satisfies --max-energy-mj.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from harness.core.errors import HarnessError, UsageError
from harness.meta.probes import PROBES, probes_measured

MB = 1e6
BOUND = "auto"            # how predicted candidates are checked against limits (chosen with benchmarks/recommend.py)
RANK_BY = "estimate"      # how predicted candidates are ordered: estimate | pessimistic


class EmptyStore(HarnessError):
    """Nothing measured to recommend from (exit 1, like a recommendation that finds nothing)."""


@dataclass(frozen=True)
class Constraints:
    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    max_memory_mb: float | None = None
    max_energy_mj: float | None = None
    min_accuracy: float | None = None       # a fraction, e.g. 0.9
    max_drop_pts: float | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and value < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 0, got {value:g}")
        if self.min_accuracy is not None and self.min_accuracy > 1:
            raise UsageError(f"--min-accuracy is a fraction (e.g. 0.9 for 90 %), got {self.min_accuracy:g}")

    def given(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}


# constraint -> (candidate attribute, is an upper limit, unit shown)
CHECKS = {
    "max_latency_ms": ("latency_ms", True, "ms"),
    "max_size_mb": ("size_mb", True, "MB"),
    "max_memory_mb": ("memory_mb", True, "MB"),
    "max_energy_mj": ("energy_mj", True, "mJ"),
    "min_accuracy": ("accuracy", False, ""),
    "max_drop_pts": ("drop_pts", True, "pts"),
}


@dataclass
class Candidate:
    model: str
    recipe: str
    device: str
    source: str                                # measured | predicted
    accuracy: float | None                     # fraction; None for models without labels
    drop_pts: float | None                     # accuracy points (or drift points) lost against FP32
    latency_ms: float | None
    size_mb: float | None
    memory_mb: float | None
    energy_mj: float | None                    # per inference; None where not measured
    interval: dict[str, list[float | None]] = field(default_factory=dict)   # predicted: metric -> [low, high]
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None
    variant_id: str | None = None
    feasible: bool = True
    violations: list[str] = field(default_factory=list)
    pareto: bool = False
    rank: int | None = None
    # place in the ranking policy's whole order (the list benchmarks/recommend.py scores as its top 5): the
    # candidates that fit by the policy's check first (place == rank), then the predicted ones it left out, best
    # bets first (harness.meta.policy.bets_beyond; these stay infeasible, with a note); None without a policy
    place: int | None = None
    # the risk ranking (harness.meta.policy.risk_order): share of outcomes drawn from the intervals in which it fits
    # the latency/size limits, and its expected regret in accuracy points; None under other rankings
    p_fit: float | None = None
    expected_regret_pts: float | None = None
    # predicted: the predictor's ratio estimates (harness.meta.policy.estimate_of), what the ranking policy takes
    estimates: dict[str, float | None] = field(default_factory=dict, repr=False)
    # where size_mb comes from: measured | computed (a size-only export of a predicted candidate,
    # harness.meta.sizing: exact, no interval to speak of) | predicted
    size_source: str = "measured"
    # where latency_ms comes from: measured | timed (the size-only export timed against the FP32 root on a host
    # alike, harness.meta.timed_latency: a measurement of the same graph, with its own interval) | predicted
    latency_source: str = "measured"

    @property
    def quality(self) -> float | None:
        """Accuracy, else 1 - drift; None when neither is known (a model benched without labels or a drift
        reference, or a predictor with no estimate of either): never a made-up perfect score."""
        if self.accuracy is not None:
            return self.accuracy
        if self.drop_pts is None:
            return None
        return 1.0 - self.drop_pts / 100.0

    def quality_for_ranking(self, by: str) -> float | None:
        """The estimate, or (by="pessimistic") the low end of a predicted candidate's accuracy interval."""
        if by != "pessimistic" or self.source != "predicted" or "drop_pts" not in self.interval \
                or self.quality is None:
            return self.quality
        base = self.quality + (self.drop_pts or 0.0) / 100.0     # the FP32 root's quality
        return base - max(self.interval["drop_pts"][1], 0.0) / 100.0

    def quality_key(self, by: str = "estimate") -> tuple[bool, float]:
        """Sort key, best first: a known quality before an unknown one, then the higher."""
        q = self.quality_for_ranking(by)
        return (q is None, -round(q, 9) if q is not None else 0.0)

    def bound(self, attr: str, upper: bool, how: str) -> float | None:
        """The value a constraint is checked against: pessimistic end of the interval for predictions."""
        value = getattr(self, attr)
        if self.source != "predicted" or how == "point" or attr not in self.interval:
            return value
        low, high = self.interval[attr]
        return high if upper else low

    def source_of(self, attr: str) -> str:
        """Where one value comes from: measured, or for a predicted candidate predicted / computed (size) /
        timed (latency)."""
        if self.source != "predicted":
            return self.source
        return {"size_mb": self.size_source, "latency_ms": self.latency_source}.get(attr, self.source)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self) | {"quality": self.quality}
        out.pop("estimates")
        return out


def _unknown_last(v: float | None) -> float:
    """A lower-is-better value as a sort key: an unknown one after every known one."""
    return float("inf") if v is None else v


def _mb(x) -> float | None:
    return None if x is None else float(x) / MB


def build_candidates(store, predictor, device: str, model: str | None = None,
                     recipes: Sequence[str] | None = None, sizer=None, timed_latency: bool = True
                     ) -> list[Candidate]:
    """Measured variants of `model` (every model when None) on `device`, plus predictions for the grid's
    recipes not measured yet. Their sizes (and latency ratios) are computed (timed) ones where known:
    `sizer(model, root point, recipes)` gives a harness.meta.sizing.Sizes (`harness recommend` passes one that
    exports, and times, what the store lacks); without it, what the store holds for a host alike the root's (the
    dashboard exports nothing); the rest are predicted (every latency, without `timed_latency`). A recipe whose
    size-only export failed is no candidate: it cannot be made."""
    from harness.meta.dataset import latest_points, point_targets
    from harness.meta.features import features
    from harness.meta.grid import DEFAULT_GRID, MINILM_GRID
    from harness.meta.dataset import measured
    from harness.exporters.recipes import needs_torch_module
    from harness.meta.computed import stored_outcomes
    from harness.meta.timed_latency import timing_error
    from harness.store.meta import failed_recipes

    points = latest_points(measured(store, device=device, model=model))
    by_model: dict[str, list[dict]] = {}
    for p in points:
        by_model.setdefault(p["model"], []).append(p)
    out: list[Candidate] = []
    err = None       # how far this host's timings fell from measurements (TimingError), worked out when needed
    for name, pts in sorted(by_model.items()):
        seen = set()
        for p in pts:
            if p["name"] in seen:   # same recipe measured with other threads/batch: newest wins
                continue
            seen.add(p["name"])
            task, t = point_targets(p)
            out.append(Candidate(
                model=name, recipe=p["name"], device=device, source="measured", accuracy=p.get("accuracy"),
                drop_pts=t["drop_pts"], latency_ms=p["p50_ms"], size_mb=_mb(p["size_bytes"]),
                memory_mb=_mb(p["peak_rss_bytes"]), energy_mj=p["energy_per_inference_mj"],
                run_id=p["run_id"], variant_id=p["variant_id"]))
        if predictor is None:
            continue
        roots = [p for p in pts if p["variant_id"] == p["root_id"]]
        root = roots[-1] if roots else pts[-1]
        task, _ = point_targets(root)
        grid = list(recipes) if recipes else list(MINILM_GRID if task == "embedding" else DEFAULT_GRID)
        failed = failed_recipes(store, name, device)   # not applicable to this model: nothing to predict
        todo = [r for r in grid if r not in seen and r not in failed]
        if root.get("operation") == "user":
            # a user's ONNX file: recipes that work on the PyTorch module cannot be made from it (bench skips
            # them), so they are no candidates to predict or recommend
            todo = [r for r in todo if not needs_torch_module(r)]
        if not todo:
            continue
        sizes = (sizer(name, root, todo) if sizer is not None
                 else stored_outcomes(store, root, device, todo, timed=timed_latency)[0])
        # a recipe whose size-only export failed cannot be made from this model (the same exporters on its graph)
        todo = [r for r in todo if r not in sizes.failed]
        if not todo:
            continue
        if sizes.latency and err is None:
            # every model's timed-and-measured points on the device, not only this answer's model
            err = timing_error(store, device, points if model is None
                               else latest_points(measured(store, device=device)))
        chosen, extra = model_predictor(predictor, {p["name"]: point_targets(p)[1] for p in pts})
        feats = [features(root["root_path"], r, device, root["environment"], task, root["root_p50_ms"]) | extra
                 for r in todo]
        for recipe, pred in zip(todo, chosen.predict_many(feats)):
            cand = _predicted(name, recipe, device, root, pred, sizes.bytes.get(recipe), sizes.latency.get(recipe),
                              err)
            if chosen is not predictor:
                cand.notes.append(f"predicted by the probe-anchored predictor ({', '.join(PROBES)} measured)")
            out.append(cand)
    return out


def model_predictor(predictor, measured: dict[str, dict]):
    """(predictor, extra features) for one model, given its measured outcomes by recipe (MetaRow targets): the
    probe-anchored companion with the model's probe features when every probe is measured (the protocol that
    benchmarks/recommend.py --probe scores), else the zero-shot predictor."""
    from harness.meta.probes import probe_features

    probe = getattr(predictor, "probe", None)
    if probe is not None and probes_measured(measured):
        return probe, probe_features(measured)
    return predictor, {}


@dataclass
class ModelRanking:
    """How the candidates of one model are ordered (harness.meta.policy.Ranking), with its FP32 root's values to
    turn absolute limits into ratios."""
    ranking: Any
    root_latency_ms: float
    root_size_mb: float
    unseen: bool
    label: str


def rankings(store, predictor, device: str, cands: Sequence[Candidate]) -> dict[str, ModelRanking]:
    """Per model with predicted candidates, the ranking `benchmarks/recommend.py` measures: a model whose only
    measured point on `device` is its FP32 root is an unseen architecture (the predictor's stored
    `unseen_policy`, drawing on the other architectures' measured points); any other is known (KNOWN_POLICY)."""
    from harness.meta import policy as P
    from harness.meta.dataset import latest_points, measured, point_targets
    from harness.meta.features import features

    models = sorted({c.model for c in cands if c.source == "predicted"})
    if not models:
        return {}
    points = latest_points(measured(store, device=device))
    roots = {p["model"]: p for p in points if p["variant_id"] == p["root_id"]}
    out: dict[str, ModelRanking] = {}
    descriptors: dict[str, list[float]] = {}
    for name, r in roots.items():
        task, _ = point_targets(r)
        if task == "classification":
            descriptors[name] = P.arch_descriptor(features(r["root_path"], "fp32", device, r["environment"], task,
                                                           r["root_p50_ms"]))
    others = []
    for p in points:
        task, t = point_targets(p)
        if task == "classification":
            others.append({"model": p["model"], "recipe": p["name"], "drop": t["drop_pts"],
                           "lat": t["latency_ratio"], "size": t["size_ratio"]})
    for name in models:
        root = roots.get(name)
        if root is None or not root["root_p50_ms"] or not root["root_size_bytes"]:
            continue
        mine = [c for c in cands if c.model == name and c.source == "measured" and c.recipe != "fp32"]
        policy = getattr(predictor, "unseen_policy", None)
        probe = getattr(predictor, "probe", None)
        if probe is not None and probes_measured(c.recipe for c in mine) and probe.unseen_policy is not None \
                and name in descriptors:
            # probes measured: the probe-anchored protocol (root and probes measured, the rest predicted with
            # the probe features, ranked by the policy its inner CV chose with the probes measured)
            rest = {a: d for a, d in descriptors.items() if a != name}
            ranking = P.Ranking.unseen(probe.unseen_policy, descriptors[name],
                                       (o for o in others if o["model"] != name), rest)
            label = (f"probe-anchored ({', '.join(PROBES)} measured): {probe.unseen_policy.label()} (chosen by "
                     f"inner CV over {len(rest)} architectures)")
            out[name] = ModelRanking(ranking, float(root["root_p50_ms"]), float(root["root_size_bytes"]) / MB,
                                     unseen=True, label=label)
            continue
        if not mine and policy is not None and name in descriptors:
            rest = {a: d for a, d in descriptors.items() if a != name}
            ranking = P.Ranking.unseen(policy, descriptors[name], (o for o in others if o["model"] != name), rest)
            label = f"unseen architecture: {policy.label()} (chosen by inner CV over {len(rest)} architectures)"
        else:
            ranking = P.Ranking.known()
            label = ("known architecture: learnt estimates, top 5 by chance of being best" if mine else
                     "unseen architecture, but no stored policy: learnt estimates, top 5 by chance of being best")
        out[name] = ModelRanking(ranking, float(root["root_p50_ms"]), float(root["root_size_bytes"]) / MB,
                                 unseen=not mine, label=label)
    return out


def _predicted(model: str, recipe: str, device: str, root: dict, pred: dict,
               size_bytes: int | None = None, timed=None, timing_err=None) -> Candidate:
    """A predicted candidate: the predictor's ratios times the root's measured values; `size_bytes`, a size
    computed by a size-only export, replaces the predicted size, and `timed` (a TimedRatio of that export,
    harness.meta.timed_latency) the predicted latency ratio, with its own interval widened to `timing_err` (a
    TimingError: how far this host's timings fell from measurements)."""
    base = {"latency_ms": (root["root_p50_ms"], "latency_ratio"), "size_mb": (_mb(root["root_size_bytes"]), "size_ratio"),
            "memory_mb": (_mb(root["root_peak_rss_bytes"]), "memory_ratio"),
            "energy_mj": (root["root_energy_per_inference_mj"], "energy_ratio")}
    values: dict[str, float | None] = {}
    interval: dict[str, list[float | None]] = {}
    notes = []
    for attr, (b, target) in base.items():
        p = pred[target]
        if b is None or p.value is None:
            values[attr] = None
            if attr == "energy_mj":
                notes.append(f"energy: {p.reason or 'the FP32 root has no energy measurement on this device'}")
            continue
        values[attr] = b * p.value
        interval[attr] = [b * p.low, b * p.high]
    d = pred["drop_pts"]
    acc = None
    if d.value is None:
        notes.append(f"accuracy/drift not predicted: {d.reason or 'no estimate'}")
    else:
        # a predicted accuracy *gain* is not trusted for ranking: the estimate is floored at no loss
        d = type(d)(d.target, max(d.value, 0.0), min(d.low, 0.0), max(d.high, 0.0))
        interval["drop_pts"] = [d.low, d.high]
        if root.get("root_accuracy") is not None:
            acc = root["root_accuracy"] - d.value / 100.0
            interval["accuracy"] = [root["root_accuracy"] - d.high / 100.0, root["root_accuracy"] - d.low / 100.0]
    size_ratio = None
    if size_bytes is not None and root.get("root_size_bytes"):
        values["size_mb"] = _mb(size_bytes)
        interval["size_mb"] = [values["size_mb"], values["size_mb"]]
        size_ratio = size_bytes / root["root_size_bytes"]
    lat = None
    if timed is not None and root.get("root_p50_ms"):
        from harness.meta.timed_latency import NO_ERROR

        lat = (timed.ratio, *(timing_err or NO_ERROR).interval(recipe, timed))
        values["latency_ms"] = root["root_p50_ms"] * timed.ratio
        interval["latency_ms"] = [root["root_p50_ms"] * lat[1], root["root_p50_ms"] * lat[2]]
    from harness.meta.policy import estimate_of

    try:
        estimates = estimate_of(pred, size_ratio, lat)
    except (KeyError, AttributeError):
        estimates = {}
    if any(v is None for v in estimates.values()):
        estimates = {}
    return Candidate(model=model, recipe=recipe, device=device, source="predicted", accuracy=acc,
                     drop_pts=d.value, interval=interval, notes=notes, estimates=estimates,
                     size_source="computed" if size_ratio is not None else "predicted",
                     latency_source="timed" if lat is not None else "predicted", **values)


def check(cands: Sequence[Candidate], c: Constraints, bound: str = BOUND) -> None:
    """Mark each candidate feasible or not, with its violations."""
    limits = c.given()
    for cand in cands:
        cand.violations = []
        for key, limit in limits.items():
            attr, upper, unit = CHECKS[key]
            value = cand.bound(attr, upper, bound)
            flag = "--" + key.replace("_", "-")
            if value is None:
                cand.violations.append(f"{flag}: {attr} unknown" + (" (no energy measured)" if attr == "energy_mj"
                                                                    else ""))
            elif (value > limit) if upper else (value < limit):
                cand.violations.append(f"{flag} {limit:g}: {attr} {value:.4g}{unit and ' ' + unit}")
        cand.feasible = not cand.violations


def pareto(cands: Sequence[Candidate]) -> None:
    """Mark the candidates no other candidate beats on quality, latency and size at once."""
    def key(x: Candidate):
        # an unknown quality counts as the worst: nothing is dominated on a quality no one measured
        return (-x.quality if x.quality is not None else float("inf"),
                _unknown_last(x.latency_ms), _unknown_last(x.size_mb))

    keys = [key(x) for x in cands]
    for i, cand in enumerate(cands):
        cand.pareto = not any(all(a <= b for a, b in zip(keys[j], keys[i])) and keys[j] != keys[i]
                              for j in range(len(cands)))


BET_NOTE = "a bet beyond the ranking policy's check"
UNWEIGHED_NOTE = "accuracy unknown, not weighed by the ranking policy"
SHORTLIST = 5      # the places benchmarks/recommend.py scores (top5_hit)


def next_bets(ranked: Sequence[Candidate], places: int = SHORTLIST) -> list[Candidate]:
    """When fewer than `places` candidates fit, the ranking policy's next places: its bets predicted over a
    latency/size limit (`_policy_order`), as far as the first `places` of its whole order."""
    n_fit = sum(x.feasible for x in ranked)
    return [x for x in ranked if x.place is not None and not x.feasible][:max(places - n_fit, 0)]


def _policy_order(cands: Sequence[Candidate], c: Constraints, mr: ModelRanking
                  ) -> tuple[list[Candidate], list[Candidate]]:
    """The feasible candidates of one model in the order of its ranking policy (harness.meta.policy.rank, the
    code benchmarks/recommend.py scores), and the predicted ones its check left out, best bets first: latency
    and size limits become ratios of the FP32 root and are checked the policy's way; the other constraints
    (memory, energy, accuracy) keep the check above. Every candidate of the policy's order gets its `place`."""
    lat_l = None if c.max_latency_ms is None else c.max_latency_ms / mr.root_latency_ms
    size_l = None if c.max_size_mb is None else c.max_size_mb / mr.root_size_mb
    views = []
    for x in cands:
        if x.latency_ms is None or x.size_mb is None or x.drop_pts is None or (
                x.source == "predicted" and not x.estimates):
            continue
        point = {"model": x.model, "recipe": x.recipe, "drop": x.drop_pts,
                 "lat": x.latency_ms / mr.root_latency_ms, "size": x.size_mb / mr.root_size_mb, "cand": x}
        views.append(mr.ranking.view(point, x.estimates if x.source == "predicted" else None))
    ranked, beyond = mr.ranking.parts(views, (lat_l, size_l))
    ordered = [v["cand"] for v in ranked]
    # a candidate the policy cannot weigh (no accuracy or drift: a model benched without labels, or a predictor
    # with no estimate of it) still fits by the check above, on its measured, computed or timed values: it comes
    # after the policy's order, measured ones first, never dropped
    viewed = {id(v["cand"]) for v in views}
    unweighed = sorted((x for x in cands if id(x) not in viewed and x.feasible),
                       key=lambda x: (x.source != "measured", *x.quality_key(),
                                      _unknown_last(x.latency_ms)))
    ordered += unweighed
    chosen = {id(x) for x in ordered}
    others = ("--max-latency-ms", "--max-size-mb")
    risk = {id(v["cand"]): v for v in ranked + beyond if "p_fit" in v}
    for x in cands:
        rest = [v for v in x.violations if not v.startswith(others)]
        x.notes = [n for n in x.notes if not n.startswith(("fits by the ranking policy", "ranked by: ",
                                                           "fits the latency/size limits in", BET_NOTE,
                                                           UNWEIGHED_NOTE))]
        v = risk.get(id(x))
        x.p_fit, x.expected_regret_pts = (v["p_fit"], v["exp_regret"]) if v is not None else (None, None)
        if v is not None and x.source == "predicted" and (lat_l is not None or size_l is not None):
            # ranked by expected regret (a risk policy, or a bet beyond the check): say how sure the fit is, most
            # of all when it is unlikely
            x.notes.append(f"fits the latency/size limits in {100 * v['p_fit']:.0f} % of outcomes drawn from its "
                           f"intervals{' (likely breaks one: ranked as the best bet)' if v['p_fit'] < 0.5 else ''}")
        if id(x) in chosen:     # a measured one fits the limits (harness.meta.policy.rank): rest == violations
            if len(rest) != len(x.violations):
                x.notes.append("fits by the ranking policy's check only: "
                               + "; ".join(v for v in x.violations if v.startswith(others)))
            x.violations = rest
        elif not x.violations:
            x.violations = ["--max-latency-ms/--max-size-mb: outside the ranking policy's check"]
        x.feasible = not x.violations
        if x.source == "predicted" and id(x) in viewed:
            x.notes.append(f"ranked by: {mr.label}")
        elif x.source == "predicted" and x.feasible:
            x.notes.append(f"{UNWEIGHED_NOTE}: fits by its {x.latency_source} latency and {x.size_source} size; "
                           "listed after the candidates the policy weighs (measure it before shipping it)")
    feasible = [x for x in ordered if x.feasible]
    # a bet breaks the latency/size limits only: one that breaks a memory/energy/accuracy limit too is no bet
    bets = [x for x in (v["cand"] for v in beyond) if all(why.startswith(others) for why in x.violations)]
    for i, x in enumerate(feasible + bets, 1):
        x.place = i
    for x in bets:
        x.notes.append(f"{BET_NOTE}: expected to break a latency/size limit, listed after the candidates that fit "
                       "(measure it before shipping it)")
    return feasible, bets


def rank(cands: list[Candidate], c: Constraints, bound: str = BOUND, by: str = RANK_BY,
         policies: dict[str, ModelRanking] | None = None) -> list[Candidate]:
    """All candidates: feasible ones first, best quality first (ties: measured before predicted, then the
    fastest), each feasible one numbered. With `policies` (from `rankings`) and candidates of one model, that
    model's ranking policy orders them instead (and decides the latency/size check of predicted ones)."""
    if bound == "auto":
        check(cands, c, "interval")
        if not any(x.feasible for x in cands):
            # nothing fits with confidence: rank what fits by its estimate, and say so on each
            check(cands, c, "point")
            for x in cands:
                note = "fits by its estimate only: its 80 % interval crosses a limit"
                if x.feasible and x.source == "predicted" and note not in x.notes:
                    x.notes.append(note)
    else:
        check(cands, c, bound)
    feasible = sorted((x for x in cands if x.feasible),
                      key=lambda x: (*x.quality_key(by), x.source != "measured",
                                     _unknown_last(x.latency_ms)))
    for x in cands:
        x.place = None
    models = {x.model for x in cands}
    bets: list[Candidate] = []
    if policies and len(models) == 1 and next(iter(models)) in policies:
        feasible, bets = _policy_order(cands, c, policies[next(iter(models))])
    pareto(feasible)
    for i, x in enumerate(feasible, 1):
        x.rank = i
    # the policy's bets beyond its check first among those that do not fit, in its order
    first = {id(x): i for i, x in enumerate(bets)}
    rest = sorted((x for x in cands if not x.feasible),
                  key=lambda x: (first.get(id(x), len(first)), len(x.violations), *x.quality_key()))
    for x in rest:
        x.pareto = False
        x.rank = None
    return feasible + rest


def binding(cands: Sequence[Candidate], c: Constraints, bound: str = BOUND) -> str:
    """Why nothing fits: the constraint(s) that, relaxed alone, would let a candidate through, and the best
    value any candidate reaches on each."""
    limits = c.given()
    parts = []
    alone = []
    bound = "point" if bound == "auto" else bound
    for key in limits:
        others = Constraints(**{k: v for k, v in limits.items() if k != key})
        check(cands, others, bound)
        if any(x.feasible for x in cands):
            alone.append(key)
    check(cands, c, bound)
    for key, limit in limits.items():
        attr, upper, unit = CHECKS[key]
        known = [(x.bound(attr, upper, bound), x) for x in cands if x.bound(attr, upper, bound) is not None]
        flag = "--" + key.replace("_", "-")
        if not known:
            parts.append(f"{flag} {limit:g}: no candidate has a known {attr}"
                         + (" (this device measured no energy)" if attr == "energy_mj" else ""))
            continue
        best_value, best = (min if upper else max)(known, key=lambda t: t[0])
        parts.append(f"{flag} {limit:g}: best is {best_value:.4g}{unit and ' ' + unit} "
                     f"({best.model} {best.recipe}, {best.source_of(attr)})")
    if alone:
        head = "binding constraint: " + " or ".join("--" + k.replace("_", "-") for k in alone)
        if len(alone) > 1:
            head += " (relaxing any one of them lets a candidate through)"
    else:
        head = "no single constraint binds: relax more than one"
    return f"no candidate fits the constraints; {head}. " + "; ".join(parts)
