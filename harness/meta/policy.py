"""How the candidates of an architecture the predictor has not seen are ranked, chosen by inner
cross-validation over the training architectures only.

With ten small architectures the trees extrapolate badly to a new one (a latency ratio at a scale they have not
seen, an accuracy collapse after pruning that only some families show). What architectures share is how each
*recipe* tends to behave on architectures alike. A policy (`Policy`) combines:

- the **prior** of each recipe: mean accuracy drop and geometric-mean latency / size ratio over the training
  architectures (``neighbours``: only the k most alike by `arch_descriptor` — FP32 latency, MACs, parameters,
  share of convolutions, depthwise share, residual adds; None: all of them);
- **shrinkage** of each learnt estimate towards that prior, ``w * learnt + (1 - w) * prior`` (drop in points,
  ratios in log space; the interval keeps the learnt interval's width around the blended estimate);
- the **check** of limits: ``auto`` (the interval's pessimistic end, then the estimate when nothing passes, as
  `harness recommend` does), ``point``, ``interval``, or ``none``;
- the **primary order**: ``model`` (blended estimate, best first) or ``static`` (the static-best order: the
  recipe with the lowest mean regret under the same limits on the alike training architectures first);
- **top-5 mixing**: places 2.. of the top 5 go to up to ``mix_slots`` first picks of the other order.

The static-best baseline and the learnt model alone are both points of `POLICY_GRID`, so the choice can fall
back on either. `choose_policy` scores every policy on the training rows alone: each training architecture
in turn plays the unseen one, its candidates get the predictor's out-of-fold estimates (`Predictor.oof`, folds
by architecture), and the prior and static order come from the other training architectures; the lowest mean
top-1 regret wins (then the highest top-5 hit, then the simpler policy). Nothing of the held-out architecture
enters the choice except its FP32 root's own features (it is measured before anything is predicted).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

Limit = tuple  # (latency limit, size limit) as ratios of the FP32 root; None = no limit


@dataclass(frozen=True)
class Policy:
    w_drop: float = 1.0        # weight of the learnt accuracy-drop estimate (1 - w: the recipe's prior)
    w_ratio: float = 1.0       # the same for latency and size ratios (in log space)
    bound: str = "auto"        # point | interval | auto | none (no check: the static-best baseline's way)
    source: str = "model"      # primary order: model (the blended estimate) | static (static-best of alike archs)
    neighbours: int | None = None   # static-best over the k training architectures most alike (None: all)
    mix_slots: int = 0         # top-5 places (after the first) given to the other order's first picks
    fill: str = "order"        # places 2..5: order (the orders above) | cover (see `rank`)
    spread: float = 1.0        # source "risk": the intervals widened by this factor before drawing outcomes

    def label(self) -> str:
        return (f"source={self.source},w_drop={self.w_drop:g},w_ratio={self.w_ratio:g},bound={self.bound},"
                f"neighbours={self.neighbours or 'all'},mix_slots={self.mix_slots},fill={self.fill}"
                + (f",spread={self.spread:g}" if "risk" in self.source else ""))


# places 2..5 of the top 5: the primary order, 2 or 3 places mixed from the other order, "cover" or "sample"
_FILLS = ((0, "order"), (2, "order"), (3, "order"), (0, "cover"), (0, "sample"))
# 720 policies; "none" with source "static" and every architecture is the static-best baseline itself, and
# w 1 / auto / model / mix 0 / order is the learnt model alone (DEFAULT_POLICY), so inner CV can fall back on
# either; "cover" replaces mixing (it decides places 2..5 itself)
POLICY_GRID: tuple[Policy, ...] = tuple(
    Policy(wd, wr, b, src, k, s, f) for src, wd, wr, b, k, (s, f) in itertools.product(
        ("model", "static"), (0.0, 0.5, 1.0), (0.0, 0.5, 1.0), ("auto", "none"), (2, 3, 4, None), _FILLS))
# 32 "risk": every candidate ordered by its expected regret under the limits (`risk_order`), whatever its chance of
# fitting; the blend with the prior, the alike architectures and the widening of the intervals are chosen too
POLICY_GRID += tuple(
    Policy(wd, wr, "none", "risk", k, 0, f, sp) for wd, wr, k, f, sp in itertools.product(
        (0.5, 1.0), (0.5, 1.0), (4, None), ("order", "sample"), (1.0, 2.0)))
DEFAULT_POLICY = Policy()    # the learnt model alone: what `harness recommend` does


# What "unseen architecture" means to `harness recommend`: a model whose only measured point on the device is its
# FP32 root (the leave-one-architecture-out case of benchmarks/recommend.py); a model with other measured points
# is known, and its predicted candidates are ranked by the learnt estimates (the leave-one-method-out case): the
# estimate's first pick on top, the rest by expected regret with the intervals widened 2x (`risk_order`), and the
# top 5 filled by the chance of holding the best. Caveat: this was compared with the estimate order alone on
# benchmarks/recommend.py's own LOMO data (top 5 0.93 -> 0.98 there) before it was made the default.
KNOWN_POLICY = Policy(source="model+risk", fill="sample", spread=2.0)
# the constraint settings of the inner cross-validation (and of benchmarks/recommend.py): latency and size limits
# as ratios of the FP32 root
LAT_LIMITS = (None, 1.0, 0.9, 0.75, 0.5)
SIZE_LIMITS = (None, 0.6, 0.4, 0.3, 0.2, 0.1)
SETTINGS: tuple[Limit, ...] = tuple((lat, size) for lat in LAT_LIMITS for size in SIZE_LIMITS)
MIN_ARCHITECTURES = 3      # fewer: no inner cross-validation is possible; the learnt model alone is used


def policy_from_dict(d: dict | None) -> Policy | None:
    if not d:
        return None
    return Policy(**{k: d[k] for k in ("w_drop", "w_ratio", "bound", "source", "neighbours", "mix_slots", "fill",
                                       "spread") if k in d})


def estimate_of(pred: dict, size: float | None = None, lat: tuple | None = None) -> dict:
    """A predictor's estimates of one point (harness.meta.predictor.Prediction per target), as `blend` takes
    them; `size`, the size ratio computed by a size-only export (harness.meta.sizing), replaces the predicted
    one, and `lat` = (ratio, low, high), the latency ratio timed from that export with its 80 % interval
    (harness.meta.timed_latency), the predicted latency."""
    lat_p, d = pred["latency_ratio"], pred["drop_pts"]
    out = {"drop": d.value, "drop_low": d.low, "drop_high": d.high, "lat": lat_p.value,
           "size": pred["size_ratio"].value, "lat_high": lat_p.high, "size_high": pred["size_ratio"].high}
    if size is not None:
        out.update(size=size, size_high=size, size_exact=True)
    if lat is not None:
        out.update(timed(*lat))
    return out


def timed(ratio: float, low: float, high: float) -> dict:
    """The latency part of an estimate whose ratio was timed (harness.meta.timed_latency), not predicted."""
    return {"lat": ratio, "lat_low": low, "lat_high": high, "lat_timed": True}


def truth(row) -> dict:
    """A meta-dataset row (harness.meta.dataset.MetaRow) as a measured point: model, recipe, drop, lat, size."""
    t = row.targets
    return {"model": row.model, "recipe": row.recipe, "drop": t["drop_pts"], "lat": t["latency_ratio"],
            "size": t["size_ratio"]}


def oof_views(rows, predictor, exact_sizes: bool = True, timed_latency: dict | None = None) -> list[dict]:
    """The training points with the predictor's out-of-fold estimates (folds by architecture): what the inner
    cross-validation sees. Interval widths come from the predictor's error quantiles (themselves fitted on
    out-of-fold residuals). With `exact_sizes` a point's size is its own (what `harness recommend` computes by a
    size-only export, harness.meta.sizing), not the predictor's estimate. With `timed_latency` ({(model, recipe):
    (ratio, low, high)}, possibly empty) the latency is timed, as `harness recommend` times it on a host alike
    the root's (harness.meta.timed_latency): the point's stored timing, or else its own measured ratio with the
    narrowest interval a timing gets (SESSION_NOISE either side)."""
    import numpy as np

    widths = predictor.predict_many([r.features for r in rows])
    out = []
    for i, (r, w) in enumerate(zip(rows, widths)):
        oof = {t: float(predictor.oof[t][i]) for t in ("drop_pts", "latency_ratio", "size_ratio")}
        if any(np.isnan(v) for v in oof.values()) or any(v is None for v in truth(r).values()):
            continue
        lat, size, d = w["latency_ratio"], w["size_ratio"], w["drop_pts"]
        out.append(truth(r) | {"est": {
            "drop": oof["drop_pts"], "drop_low": oof["drop_pts"] - (d.value - d.low),
            "drop_high": oof["drop_pts"] + (d.high - d.value),
            "lat": oof["latency_ratio"], "size": oof["size_ratio"],
            "lat_high": oof["latency_ratio"] * lat.high / lat.value,
            "size_high": oof["size_ratio"] * size.high / size.value}})
        if exact_sizes:
            out[-1]["est"].update(size=out[-1]["size"], size_high=out[-1]["size"], size_exact=True)
        if timed_latency is not None:
            got = timed_latency.get((r.model, r.recipe))
            if got is None:
                from harness.meta.timed_latency import TimedRatio

                m = out[-1]["lat"]
                got = (m, *TimedRatio(m, m, m, 0).interval())    # the narrowest interval a timing gets
            out[-1]["est"].update(timed(*got))
    return out


def choose_for_rows(rows, predictor, grid: Sequence[Policy] = POLICY_GRID,
                    measured_recipes: Sequence[str] = ("fp32",), exact_sizes: bool = True,
                    timed_latency: dict | None = None) -> Policy | None:
    """The policy for an unseen architecture, by inner cross-validation over the labelled architectures of
    `rows` (the rows `predictor` was trained on, with its out-of-fold estimates); None when there are fewer
    than MIN_ARCHITECTURES of them or the predictor has no out-of-fold estimates (one loaded from the store).
    measured_recipes: what the unseen architecture has measured (its FP32 root; with probes, those too).
    exact_sizes: the sizes of the unseen architecture's candidates are computed (`harness recommend` exports
    them, harness.meta.sizing), so the inner folds see exact sizes too; False: predicted, as they were before.
    timed_latency: the unseen architecture's latencies are timed (`oof_views`); None: predicted."""
    if not predictor.oof or any(t not in predictor.oof for t in ("drop_pts", "latency_ratio", "size_ratio")):
        return None
    idx = [i for i, r in enumerate(rows) if r.task == "classification"]
    archs = {rows[i].model for i in idx}
    roots = {r.model: r for r in rows if r.recipe == "fp32"}
    if len(archs) < MIN_ARCHITECTURES or not archs <= set(roots):
        return None
    views = [v for v in oof_views(rows, predictor, exact_sizes, timed_latency) if v["model"] in archs]
    descriptors = {a: arch_descriptor(roots[a].features) for a in archs}
    policy, _ = choose_policy(views, SETTINGS, descriptors, grid, measured_recipes)
    return policy


# -- the strict scoring (benchmarks/recommend.py uses these definitions) ------------------------------------------
def feasible(lat: float, size: float, limit: Limit) -> bool:
    lat_l, size_l = limit
    return (lat_l is None or lat <= lat_l) and (size_l is None or size <= size_l)


def score(cands: Sequence[dict], ranked: Sequence[dict], limit: Limit, tie_pts: float = 0.0):
    """(regret_pts, top5_hit, top1_infeasible) of a ranking, or None when nothing is truly feasible. A top pick
    that is not truly feasible, or none when something is, counts as the worst feasible choice. The top 5 hits
    when it holds a feasible candidate whose drop is at most `tie_pts` above the best (0: the best itself;
    benchmarks/recommend.py also scores one test image, the accuracy measurement's resolution)."""
    truly = [c for c in cands if feasible(c["lat"], c["size"], limit)]
    if not truly:
        return None
    best = min(c["drop"] for c in truly)
    worst = max(c["drop"] for c in truly)
    if not ranked:
        return worst - best, False, True
    top = ranked[0]
    ok = feasible(top["lat"], top["size"], limit)
    regret = (top["drop"] - best) if ok else (worst - best)
    hit = any(feasible(c["lat"], c["size"], limit) and c["drop"] <= best + tie_pts + 1e-9 for c in ranked[:5])
    return regret, hit, not ok


# -- the per-recipe prior -----------------------------------------------------------------------------------------
@dataclass
class RecipePrior:
    drop: dict[str, float]
    log_lat: dict[str, float]
    log_size: dict[str, float]

    @classmethod
    def from_points(cls, points: Iterable[dict], weights: dict[str, float] | None = None) -> "RecipePrior":
        """points: dicts with model, recipe and the measured drop, lat, size (ratios to FP32) of other
        architectures; `weights` (model -> 0/1) keeps the architectures alike only."""
        acc: dict[str, list[tuple[float, float, float]]] = {}
        for p in points:
            if weights is not None and not weights.get(p["model"], 0.0):
                continue
            if p["lat"] > 0 and p["size"] > 0:
                acc.setdefault(p["recipe"], []).append((p["drop"], math.log(p["lat"]), math.log(p["size"])))
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        return cls(drop={r: mean([v[0] for v in vs]) for r, vs in acc.items()},
                   log_lat={r: mean([v[1] for v in vs]) for r, vs in acc.items()},
                   log_size={r: mean([v[2] for v in vs]) for r, vs in acc.items()})


def blend(est: dict, prior: RecipePrior, policy: Policy) -> dict:
    """A predicted candidate's view under `policy`. est: recipe, drop/lat/size estimates and lat_high/size_high
    (the interval's pessimistic ends). Returns est_drop, est_lat, point_lat/size, high_lat/size. A recipe the
    prior has never seen keeps the learnt estimate."""
    r = est["recipe"]
    wd = policy.w_drop if r in prior.drop else 1.0
    wr = policy.w_ratio if r in prior.log_lat else 1.0
    drop = wd * est["drop"] + (1 - wd) * prior.drop.get(r, 0.0)
    out = {"est_drop": max(drop, 0.0)}     # a predicted gain is floored at no loss, as recommend does
    # the learnt interval's spread around the blended estimate (for fill "sample")
    out["low_drop"] = drop - max(est["drop"] - est.get("drop_low", est["drop"]), 0.0)
    out["high_drop"] = drop + max(est.get("drop_high", est["drop"]) - est["drop"], 0.0)
    for q, pq in (("lat", prior.log_lat), ("size", prior.log_size)):
        if q == "size" and est.get("size_exact"):
            # a computed size (harness.meta.sizing) is the variant's own: nothing to blend or to widen
            out["point_size"] = out["high_size"] = est["size"]
            out["size_exact"] = True
            continue
        if q == "lat" and est.get("lat_timed"):
            # a timed latency (harness.meta.timed_latency) is a measurement of the variant's graph: its interval
            # is the timing's, and no prior of other architectures is blended in
            out.update(point_lat=est["lat"], high_lat=est["lat_high"], low_lat=est["lat_low"], lat_timed=True)
            continue
        log_v = math.log(max(est[q], 1e-12))
        blended = math.exp(wr * log_v + (1 - wr) * pq.get(r, log_v))
        out[f"point_{q}"] = blended
        out[f"high_{q}"] = blended * max(est[f"{q}_high"], est[q]) / max(est[q], 1e-12)
    out["est_lat"] = out["point_lat"]
    out["raw_drop"] = drop
    return out


def static_order(train_by_arch: dict[str, Sequence[dict]], limit: Limit,
                 weights: dict[str, float] | None = None) -> list[str]:
    """Recipes ordered by mean regret on the training architectures under `limit` (measured truths): the
    static-best baseline's choice first. `weights` (architecture -> 0/1) restricts it to architectures alike."""
    regs: dict[str, list[float]] = {}
    recipes = sorted({c["recipe"] for cs in train_by_arch.values() for c in cs})
    for arch, cs in train_by_arch.items():
        if weights is not None and not weights.get(arch, 0.0):
            continue
        truly = [c for c in cs if feasible(c["lat"], c["size"], limit)]
        if not truly:
            continue
        best = min(c["drop"] for c in truly)
        worst = max(c["drop"] for c in truly)
        by_recipe = {c["recipe"]: c for c in cs}
        for r in recipes:
            c = by_recipe.get(r)
            regs.setdefault(r, []).append(worst - best if c is None or not feasible(c["lat"], c["size"], limit)
                                          else c["drop"] - best)
    return sorted(regs, key=lambda r: (sum(regs[r]) / len(regs[r]), r))


def best_sets(train_by_arch: dict[str, Sequence[dict]], limit: Limit,
              weights: dict[str, float] | None = None) -> list[frozenset[str]]:
    """Per training architecture (alike ones when `weights` is given), the recipes that were a best-accuracy
    truly feasible configuration under `limit` (measured; equal accuracy counts as equally best)."""
    out = []
    for arch, cs in sorted(train_by_arch.items()):
        if weights is not None and not weights.get(arch, 0.0):
            continue
        truly = [c for c in cs if feasible(c["lat"], c["size"], limit)]
        if truly:
            best = min(c["drop"] for c in truly)
            out.append(frozenset(c["recipe"] for c in truly if c["drop"] <= best + 1e-9))
    return out


def cover(primary: Sequence[dict], sets: Sequence[frozenset[str]], slots: int = 5) -> list[dict]:
    """Places 2..`slots` chosen greedily so that the list holds a best configuration of as many of the
    (alike) training architectures as possible: the next place goes to the candidate whose recipe was best on
    the most architectures not yet covered by the places above (ties and no gain: the primary order). It
    spends the places on different guesses of which recipe wins, instead of five near-copies of one guess."""
    if not primary:
        return []
    from collections import Counter

    head = [primary[0]]
    # identical sets (most draws agree) weigh by their count: the same greedy choice, far fewer checks
    left = Counter(s for s in sets if primary[0]["recipe"] not in s)
    rest = list(primary[1:])
    while len(head) < slots and rest:
        gains = [sum(n for s, n in left.items() if c["recipe"] in s) for c in rest]
        i = max(range(len(rest)), key=lambda j: (gains[j], -j))
        pick = rest.pop(i)
        head.append(pick)
        left = Counter({s: n for s, n in left.items() if pick["recipe"] not in s})
    return head + rest


Z80 = 1.2815515655446004    # the 0.9 quantile of a standard normal: an 80 % interval spans +-Z80 sigma


def draw_outcomes(views: Sequence[dict], n: int = 200, seed: int = 0, spread: float = 1.0):
    """`n` plausible outcomes of the candidates, drawn from their 80 % intervals widened by `spread` (a split
    normal on the accuracy drop, log-normal on the latency and size ratios; measured candidates stay as
    measured): arrays (drop, lat, size), each n x len(views)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    m = len(views)
    z = rng.standard_normal((3, n, m))

    def draw(k, mid, low, high, log):
        mid, low, high = (np.log(np.maximum(v, 1e-12)) if log else np.asarray(v, float) for v in (mid, low, high))
        width = spread * np.where(z[k] < 0, (mid - low) / Z80, (high - mid) / Z80)
        out = mid + z[k] * np.maximum(width, 0.0)
        return np.exp(out) if log else out

    pred = np.array([bool(c.get("predicted")) for c in views])
    d_mid = np.array([c.get("raw_drop", c["est_drop"]) for c in views], float)
    d_lo = np.array([c.get("low_drop", c["est_drop"]) for c in views], float)
    d_hi = np.array([c.get("high_drop", c["est_drop"]) for c in views], float)
    drop = np.where(pred, draw(0, d_mid, d_lo, d_hi, False), d_mid)
    ratios = []
    for k, q in ((1, "lat"), (2, "size")):
        mid = np.array([c[f"point_{q}"] for c in views], float)
        high = np.array([c[f"high_{q}"] for c in views], float)
        low = mid * mid / np.maximum(high, 1e-12)       # symmetric in log space: the interval's high end mirrored
        ratios.append(np.where(pred, draw(k, mid, low, high, True), mid))
    return drop, ratios[0], ratios[1]


def _fits(lat, size, limit: Limit):
    import numpy as np

    lat_l, size_l = limit
    ok = np.ones(lat.shape, bool)
    if lat_l is not None:
        ok &= lat <= lat_l
    if size_l is not None:
        ok &= size <= size_l
    return ok


def sample_sets(views: Sequence[dict], limit: Limit, n: int = 200, seed: int = 0) -> list[frozenset[str]]:
    """`n` plausible outcomes of the candidates (`draw_outcomes`), each reduced to the recipes that would be a
    best-accuracy feasible configuration in it. `cover` over these sets fills the top 5 by the chance of holding
    the best, not by the point estimate alone."""
    if not views:
        return []
    return winner_sets(views, limit, draw_outcomes(views, n, seed))


def winner_sets(views: Sequence[dict], limit: Limit, draws: tuple) -> list[frozenset[str]]:
    """For each drawn outcome (`draw_outcomes`), the recipes that are a best-accuracy feasible configuration in
    it (outcomes where nothing fits give none)."""
    import numpy as np
    from collections import Counter

    drop, lat, size = draws
    m = len(views)
    if m == 0:
        return []
    ok = _fits(lat, size, limit)
    masked = np.where(ok, drop, np.inf)
    best = masked.min(axis=1, keepdims=True)
    winners = ok & (masked <= best + 1e-9)
    recipes = [c["recipe"] for c in views]
    out: list[frozenset[str]] = []
    # few distinct outcomes: build each set once (rows packed to bytes are cheap to count)
    counts = Counter(map(bytes, np.packbits(winners, axis=1)))
    for key, k in sorted(counts.items()):
        row = np.unpackbits(np.frombuffer(key, dtype=np.uint8))[:m].astype(bool)
        if row.any():
            out.extend([frozenset(recipes[j] for j in np.flatnonzero(row))] * k)
    return out


RISK_DRAWS = 400


def risk_order(views: Sequence[dict], limit: Limit, spread: float = 1.0, n: int = RISK_DRAWS,
               break_cost: str = "spread", draws: tuple | None = None) -> list[dict]:
    """Every candidate, lowest expected regret first. In each outcome drawn from the intervals (`draw_outcomes`),
    a candidate that fits costs its accuracy drop above the best that fits, and one that does not fit costs the
    whole spread between the best and the worst that fit: the cost a recommendation that breaks a limit has to
    its user, so a safe candidate can beat a better one that likely breaks a limit, and a likely break can still be
    the best bet when nothing is sure to fit. Sets `p_fit` (share of outcomes where it fits) and `exp_regret` on
    each view; ties: more likely to fit, then measured, then faster. A candidate that fits in none of the outcomes
    (a measured one over a limit, or a prediction far over it) is left out: it cannot be the answer."""
    import numpy as np

    if not views:
        return []
    # the draws do not depend on the limits: a caller ranking under many limits draws once (`draws`)
    drop, lat, size = draws if draws is not None else draw_outcomes(views, n, 0, spread)
    ok = _fits(lat, size, limit)
    some = ok.any(axis=1)
    best = np.where(ok, drop, np.inf).min(axis=1, keepdims=True)
    worst = np.where(ok, drop, -np.inf).max(axis=1, keepdims=True)
    spread_w = (worst - best)[some]
    # breaking a limit costs the world's spread (the scoring rule of benchmarks/recommend.py), or with "max" the
    # largest spread of any drawn world: a break is then never cheap just because one other candidate fits
    broken = spread_w if break_cost == "spread" else np.full_like(spread_w, spread_w.max() if len(spread_w) else 0)
    cost = np.where(ok[some], (drop - best)[some], broken)
    exp = cost.mean(axis=0) if len(cost) else np.full(len(views), np.nan)
    p_fit = ok.mean(axis=0)
    for v, e, p in zip(views, exp, p_fit):
        v["exp_regret"], v["p_fit"] = float(e), float(p)
    return sorted((v for v in views if v["p_fit"] > 0),
                  key=lambda c: (c["exp_regret"] if c["exp_regret"] == c["exp_regret"] else math.inf,
                                 -c["p_fit"], c["predicted"], c["est_lat"]))


def rank(views: Sequence[dict], limit: Limit, policy: Policy, static: Sequence[str] = (),
         sets: Sequence[frozenset[str]] = (), samples: Sequence[frozenset[str]] | None = None,
         draws: tuple | None = None, memo: dict | None = None, beyond: bool = True) -> list[dict]:
    """The recommendation list under `limit`: the candidates that fit by the policy's check, ordered by the
    policy's primary order — the (blended) estimate, best first (ties: measured first, then faster), or the
    static-best order of alike architectures — with places 2.. of the top 5 opened to up to `mix_slots` of the
    other order's first picks, or (fill "cover") chosen to cover the best recipes `sets` of the alike training
    architectures, or (fill "sample") to cover the winners of outcomes drawn from the intervals (`samples`:
    precomputed `sample_sets(views, limit)`); "risk" policies order by expected regret (`risk_order`; `draws`:
    precomputed `draw_outcomes(views, RISK_DRAWS, 0, policy.spread)`, one column per view). views: dicts with
    est_drop, est_lat, predicted, recipe, point_/high_lat, _size.

    A measured candidate that breaks a limit never ranks, whatever the policy checks: its break is known (the
    static-best order, which checks nothing, put the FP32 root at 10x a size limit on top). `harness recommend`
    and benchmarks/recommend.py both rank through here, so the rule has this one home.

    `beyond` (the default): the list goes on past the policy's check with every other predicted candidate, the
    best bets first (`bets_beyond`), so that it ranks everything that could be the answer, as a ranking of
    methods does; the top pick never changes (an empty list stays empty: nothing is expected to fit), only
    the places after the last candidate the check passed. False: the checked candidates alone (`harness
    recommend` numbers those as fitting and lists the others after them as bets).

    `memo`: a cache for one list of views and its draws, which the inner cross-validation ranks under hundreds
    of policies and every limit: the expected-regret order, the draws' winners and the covers depend on fewer
    things than the policy, and are worked out once."""
    checked, bets = rank_parts(views, limit, policy, static, sets, samples, draws, memo, beyond)
    return checked + bets


def known_break(c: dict, limit: Limit) -> bool:
    """Whether a candidate's break of a limit is known, not predicted: a measured one over a limit, a predicted
    one whose size, computed by a size-only export (harness.meta.sizing), is over the size limit, or one whose
    latency, timed from that export (harness.meta.timed_latency), is over the latency limit. Such a candidate
    never ranks, whatever the policy checks: it cannot be the answer. A timed latency is a measurement of the
    variant's graph and counts as one, as a measured candidate's does, whatever its noise: its interval's low end
    let a timing 6 % over a 1.0x limit through to the top of policies that check nothing else (store J:
    `zoo-bn-mlp` fp16 timed at 1.06x, measured at 1.07x, a 68-point regret)."""
    if not c["predicted"]:
        return not feasible(c["point_lat"], c["point_size"], limit)
    if c.get("lat_timed") and limit[0] is not None and c["point_lat"] > limit[0]:
        return True
    return bool(c.get("size_exact")) and limit[1] is not None and c["point_size"] > limit[1]


def rank_parts(views: Sequence[dict], limit: Limit, policy: Policy, static: Sequence[str] = (),
               sets: Sequence[frozenset[str]] = (), samples: Sequence[frozenset[str]] | None = None,
               draws: tuple | None = None, memo: dict | None = None, beyond: bool = True
               ) -> tuple[list[dict], list[dict]]:
    """`rank` in its two parts: the candidates the policy's check passed, in its order, and the bets after them
    (`bets_beyond`; empty when not `beyond` or when nothing passed)."""
    memo = {} if memo is None else memo

    def once(key, make):
        if key not in memo:
            memo[key] = make()
        return memo[key]

    keep = [i for i, c in enumerate(views) if not known_break(c, limit)]
    if draws is not None and len(keep) < len(views):
        # the drawn outcomes of the candidates kept, column for column (they were drawn for every view)
        every = draws
        draws = once(("draws", limit), lambda: tuple(a[:, keep] for a in every))
    views = [views[i] for i in keep]

    def by_risk(drawn=draws):
        return once(("risk", limit), lambda: risk_order(views, limit, policy.spread, draws=drawn))

    checked = _checked_order(views, limit, policy, static, sets, samples, draws, once, by_risk)
    if not beyond or not checked or len(checked) >= len(views):
        return checked, []
    return checked, bets_beyond(checked, by_risk(), views)


def bets_beyond(checked: Sequence[dict], by_risk: Sequence[dict], views: Sequence[dict]) -> list[dict]:
    """The predicted candidates a policy's check left out, as the places after the checked ones: lowest expected
    regret under the limits first (`risk_order`: a bet likely to break a limit costs the whole spread, so the
    likelier fits come first), then those that fit in no drawn outcome, by their estimate. A list that stopped
    at the check gave one or two places where five were scored (2026-12-06, store K23: 46 of the 74 LOAO
    top-5 misses had fewer than five candidates listed)."""
    taken = {id(c) for c in checked}
    risky = [c for c in by_risk if id(c) not in taken]
    taken |= {id(c) for c in risky}
    rest = sorted((c for c in views if c["predicted"] and id(c) not in taken),
                  key=lambda c: (c["est_drop"], c["est_lat"]))
    return risky + rest


def _checked_order(views, limit, policy, static, sets, samples, draws, once, by_risk) -> list[dict]:
    """`rank` up to the policy's check (see there), over the candidates it keeps; `once` is rank's memo,
    `by_risk(draws)` its expected-regret order (memoised per limit)."""

    def covered(primary, sets_):
        return once(("cover", tuple(map(id, primary)), id(sets_)), lambda: cover(primary, sets_))

    def fits(how):
        return [c for c in views if feasible(c[f"{how}_lat"], c[f"{how}_size"], limit)]

    if policy.source in ("risk", "model+risk"):
        primary = by_risk()
        if policy.source == "model+risk":
            # the learnt estimate's first pick on top (as source "model"), the rest by expected regret; when
            # nothing is expected to fit, the expected-regret order alone
            head = rank(views, limit, replace(policy, source="model", fill="order"), beyond=False)[:1]
            primary = head + [c for c in primary if head and c is not head[0]] if head else primary
        if policy.fill == "sample":
            return covered(primary, sample_sets(views, limit) if samples is None else samples)
        return primary
    if policy.bound == "none":      # the static-best baseline: every candidate, whatever it is expected to do
        pool = list(views)
    elif policy.bound == "size":    # the size estimate only (its error is a few %), latency left unchecked
        pool = [c for c in views if feasible(0.0, c["point_size"], (None, limit[1]))]
    elif policy.bound == "point":
        pool = fits("point")
    else:
        pool = fits("high")
        if not pool and policy.bound == "auto":
            pool = fits("point")
        if not pool and policy.bound == "auto":
            # nothing is expected to fit: the best bets by expected regret (`risk_order`, which labels each with
            # its chance of fitting) instead of an empty answer. An estimate just over a limit is often inside
            # it when measured (sweep H: an unseen zoo-wide-mobilenet, every INT8 recipe predicted over 0.9x
            # FP32 and measured at 0.69x, got no pick in 8 settings where 8 candidates fit). Places 2..5 go to
            # the bets most likely to hold the best in the same drawn outcomes (`cover`): by expected regret alone
            # the top 5 were near-copies of the first bet (sweep H: LOAO top 5 0.79 -> 0.71)
            if not views:
                return []
            if draws is None:
                draws = draw_outcomes(views, RISK_DRAWS, 0, policy.spread)
            bets = by_risk(draws)
            return covered(bets, once(("winners", limit), lambda: winner_sets(views, limit, draws)))
    by_model = sorted(pool, key=lambda c: (c["est_drop"], c["predicted"], c["est_lat"]))
    pos = {r: i for i, r in enumerate(static)}
    by_static = sorted(by_model, key=lambda c: pos.get(c["recipe"], len(pos)))   # stable: ties by the model
    primary, other = (by_static, by_model) if policy.source == "static" else (by_model, by_static)
    if policy.fill == "cover":
        return covered(primary, sets)
    if policy.fill == "sample":
        return covered(primary, sample_sets(views, limit) if samples is None else samples)
    if policy.mix_slots <= 0 or len(primary) <= 1:
        return primary
    head = primary[:1]
    extra = [c for c in other if c is not head[0]][:policy.mix_slots]
    chosen = {id(c) for c in head + extra}
    return head + extra + [c for c in primary if id(c) not in chosen]


def measured_view(c: dict) -> dict:
    """A measured candidate (its truths are its estimates)."""
    return c | {"est_drop": c["drop"], "est_lat": c["lat"], "point_lat": c["lat"], "point_size": c["size"],
                "high_lat": c["lat"], "high_size": c["size"], "predicted": False}


def predicted_view(c: dict, est: dict, prior: RecipePrior, policy: Policy) -> dict:
    return c | blend(est | {"recipe": c["recipe"]}, prior, policy) | {"predicted": True}


def choose_policy(train: Sequence[dict], settings: Sequence[Limit], descriptors: dict[str, Sequence[float]],
                  grid: Sequence[Policy] = POLICY_GRID, measured_recipes: Sequence[str] = ("fp32",)
                  ) -> tuple[Policy, dict[Policy, tuple[float, float]]]:
    """Inner cross-validation on the training architectures only. train: dicts with model, recipe, drop, lat,
    size (measured) and est = {drop, lat, size, lat_high, size_high} (out-of-fold estimates). Each training
    architecture plays the unseen one in turn: its `measured_recipes` are measured, the rest predicted, the
    prior and the static-best order come from the other training architectures. Returns the best policy and
    every policy's (mean regret, mean top-5 hit)."""
    by_arch: dict[str, list[dict]] = {}
    for c in train:
        by_arch.setdefault(c["model"], []).append(c)
    folds = []
    for arch, cs in sorted(by_arch.items()):
        others = {a: [measured_view(c) for c in v] for a, v in by_arch.items() if a != arch}
        priors, statics, sets = {}, {}, {}
        for k in {p.neighbours for p in grid}:
            w = neighbour_weights(descriptors[arch], {a: descriptors[a] for a in others}, k)
            priors[k] = RecipePrior.from_points((c for v in others.values() for c in v), w)
            statics.update({(k, limit): static_order(others, limit, w) for limit in settings})
            sets.update({(k, limit): best_sets(others, limit, w) for limit in settings})
        folds.append((cs, priors, statics, sets))
    results: dict[Policy, tuple[float, float]] = {}
    per_arch: dict[Policy, list[float]] = {}
    views_of: dict[tuple, list[dict]] = {}     # the views depend on the weights and neighbours only
    samples_of: dict[tuple, list[frozenset[str]]] = {}
    draws_of: dict[tuple, tuple] = {}          # risk policies: outcomes drawn once per views and spread
    memo_of: dict[tuple, dict] = {}            # what rank works out once per views and draws (see `rank`)
    for policy in grid:
        regs, hits, arch_means = [], [], []
        for i, (cs, priors, statics, sets) in enumerate(folds):
            key = (i, policy.w_drop, policy.w_ratio, policy.neighbours)
            if key not in views_of:
                views_of[key] = [measured_view(c) if c["recipe"] in measured_recipes
                                 else predicted_view(c, c["est"], priors[policy.neighbours], policy) for c in cs]
            views = views_of[key]
            mine = []
            for limit in settings:
                drawn = None
                if policy.fill == "sample":
                    if key + (limit,) not in samples_of:
                        samples_of[key + (limit,)] = sample_sets(views, limit)
                    drawn = samples_of[key + (limit,)]
                draws = None
                # risk policies rank by drawn outcomes, and so does the "auto" check when nothing is expected to
                # fit (its best bets): drawn once per views and spread, not once per policy and limit
                if "risk" in policy.source or policy.bound == "auto":
                    if key + (policy.spread,) not in draws_of:
                        draws_of[key + (policy.spread,)] = draw_outcomes(views, RISK_DRAWS, 0, policy.spread)
                    draws = draws_of[key + (policy.spread,)]
                memo = memo_of.setdefault(key + (policy.spread if draws is not None else None,), {})
                out = score(views, rank(views, limit, policy, statics[(policy.neighbours, limit)],
                                        sets[(policy.neighbours, limit)], drawn, draws, memo), limit)
                if out is not None:
                    regs.append(out[0])
                    mine.append(out[0])
                    hits.append(float(out[1]))
            if mine:
                arch_means.append(sum(mine) / len(mine))
        results[policy] = (sum(regs) / max(len(regs), 1), sum(hits) / max(len(hits), 1))
        per_arch[policy] = arch_means
    return select(grid, results, per_arch), results


def is_static_best(p: Policy) -> bool:
    return p.source == "static" and p.bound == "none" and p.neighbours is None


def select(grid: Sequence[Policy], results: dict[Policy, tuple[float, float]],
           per_arch: dict[Policy, list[float]]) -> Policy:
    """The one-standard-error rule: with nine or so training architectures the inner regret of a policy is noisy
    (one collapse decides it), so a policy replaces the static-best baseline only when its inner regret is lower
    by more than one standard error (of the per-architecture means of the best policy). Among the policies kept
    (the static-best ones when they are within one SE of the best, else all within one SE), the highest top-5
    hit wins, then the lowest regret, then the fewest mixed places."""
    best = min(grid, key=lambda p: results[p][0])
    xs = per_arch.get(best) or [results[best][0]]
    mean = sum(xs) / len(xs)
    se = (sum((x - mean) ** 2 for x in xs) / max(len(xs) - 1, 1)) ** 0.5 / len(xs) ** 0.5
    close = [p for p in grid if results[p][0] <= results[best][0] + se]
    pool = [p for p in close if is_static_best(p)] or close
    return min(pool, key=lambda p: (-round(results[p][1], 6), round(results[p][0], 6), p.fill != "order", p.mix_slots,
                                    p.source != "model", -p.w_drop, -p.w_ratio, -(p.neighbours or 99)))


# -- architectures alike ------------------------------------------------------------------------------------------
def arch_descriptor(f: dict[str, float]) -> list[float]:
    """What places an architecture among others for compression: its scale on the device (FP32 latency, MACs,
    parameters), how much of its compute is convolution, how much of that is depthwise, residual additions."""
    convs = f.get("op_Conv", 0.0)
    dense = f.get("op_Gemm", 0.0) + f.get("op_MatMul", 0.0)
    return [f.get("log_fp32_latency_ms", 0.0), f.get("log_macs", 0.0), f.get("log_params", 0.0),
            convs / max(convs + dense, 1.0), f.get("depthwise_convs", 0.0) / max(convs, 1.0),
            float(f.get("op_Add", 0.0) > 0)]


def neighbour_weights(target: Sequence[float], others: dict[str, Sequence[float]], k: int | None) -> dict[str, float]:
    """Weight 1 for the k architectures nearest to `target` (descriptors standardised over `others`), 0 for the
    rest; k None or >= len(others): every architecture weighs the same (the static-best baseline)."""
    names = sorted(others)
    if k is None or k >= len(names):
        return {n: 1.0 for n in names}
    cols = list(zip(*(others[n] for n in names)))
    mu = [sum(c) / len(c) for c in cols]
    sd = [max((sum((v - m) ** 2 for v in c) / len(c)) ** 0.5, 1e-9) for c, m in zip(cols, mu)]

    def dist(d):
        return sum(((a - m) / s - (b - m) / s) ** 2 for a, b, m, s in zip(d, target, mu, sd))

    near = sorted(names, key=lambda n: (dist(others[n]), n))[:k]
    return {n: float(n in near) for n in names}


# -- one ranking, for benchmarks/recommend.py and `harness recommend` alike ---------------------------------------
@dataclass
class Ranking:
    """How the candidates of one model are ranked: the policy, and what it draws on from the other
    architectures (their measured points, the alike ones by `weights`, and the per-recipe prior)."""
    policy: Policy
    prior: RecipePrior
    others: dict[str, list[dict]]
    weights: dict[str, float] | None = None

    @classmethod
    def known(cls, policy: Policy = KNOWN_POLICY) -> "Ranking":
        """A model the predictor has seen: the learnt estimates alone (no prior, no static order)."""
        return cls(policy, RecipePrior({}, {}, {}), {})

    @classmethod
    def unseen(cls, policy: Policy, descriptor: Sequence[float], others: Iterable[dict],
               descriptors: dict[str, Sequence[float]]) -> "Ranking":
        """An architecture the predictor has not seen. others: measured points (model, recipe, drop, lat, size)
        of the other architectures; descriptors: `arch_descriptor` of each of them."""
        by_arch: dict[str, list[dict]] = {}
        for c in others:
            if c["model"] in descriptors and None not in (c["drop"], c["lat"], c["size"]):
                by_arch.setdefault(c["model"], []).append(measured_view(c))
        weights = neighbour_weights(descriptor, {a: descriptors[a] for a in by_arch}, policy.neighbours)
        prior = RecipePrior.from_points((c for v in by_arch.values() for c in v), weights)
        return cls(policy, prior, by_arch, weights)

    def view(self, point: dict, est: dict | None) -> dict:
        """A candidate: measured (est None: its drop/lat/size are measured) or predicted (est: `estimate_of`)."""
        return measured_view(point) if est is None else predicted_view(point, est, self.prior, self.policy)

    def rank(self, views: Sequence[dict], limit: Limit) -> list[dict]:
        checked, bets = self.parts(views, limit)
        return checked + bets

    def parts(self, views: Sequence[dict], limit: Limit) -> tuple[list[dict], list[dict]]:
        """`rank_parts`: what the policy's check passed, and the bets after it."""
        static = static_order(self.others, limit, self.weights) if self.others else ()
        sets = best_sets(self.others, limit, self.weights) if self.others else ()
        return rank_parts(views, limit, self.policy, static, sets)
