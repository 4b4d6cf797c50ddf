"""The outcome predictor: gradient-boosted trees (LightGBM) per target, with an 80 % prediction interval.

For each target (harness.meta.dataset.TARGETS) three boosters: a least-squares one for the point estimate, and
quantile ones at 0.1 and 0.9 of its error, fitted to its out-of-fold residuals (folds by architecture): the
interval is the estimate plus those quantiles, so it reflects the error on a model the predictor has not seen. Ratio targets are learnt on a log scale (a 2x speedup and a 2x
slowdown are symmetric there). A target with no measured value in the training rows (energy on a host without a
power sensor) is not trained, and its predictions are None with that reason. Boosters are stored as LightGBM
model text in the store (`predictor_models`), next to the rows they were trained on (`predictor_data`).
"""
from __future__ import annotations

import json
import math
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from harness.core.errors import HarnessError, UsageError
from harness.meta.dataset import TARGETS, MetaRow
from harness.meta.sensitivity import DATA_PREFIX

QUANTILES = (0.1, 0.9)
POINT = 0.5          # the key of the point (least-squares) booster
LOG_TARGETS = {"latency_ratio", "size_ratio", "memory_ratio", "energy_ratio"}
PARAMS = {"learning_rate": 0.05, "num_leaves": 8, "min_data_in_leaf": 3, "min_data_in_bin": 1, "max_bin": 63,
          "feature_fraction": 0.9, "lambda_l2": 1.0, "verbose": -1, "deterministic": True, "num_threads": 1,
          "seed": 0}
ROUNDS = 300
# the error quantiles: few, well-populated leaves and fewer rounds, so the interval follows broad groups
# (method, scale) instead of memorising individual residuals (which made 80 % intervals cover ~40 %)
QUANTILE_PARAMS = {"num_leaves": 4, "min_data_in_leaf": 12, "learning_rate": 0.05}
QUANTILE_ROUNDS = 100


def _value(feats: dict[str, float], name: str) -> float:
    """A feature's value; an absent one is 0 (a one-hot or a step the recipe lacks) except the data-dependent
    ones, which are unknown (NaN: LightGBM's missing value) when the model has no probe inputs."""
    return feats.get(name, math.nan if name.startswith(DATA_PREFIX) else 0.0)


class PredictorError(HarnessError):
    """No data to train on, or no stored predictor."""


def _fit(lgb, x, y, names, objective: str, alpha: float | None, rounds: int):
    params = dict(PARAMS, objective=objective)
    if alpha is not None:
        params.update(QUANTILE_PARAMS, alpha=alpha)
    data = lgb.Dataset(x, label=y, feature_name=names, params={"min_data_in_bin": 1, "max_bin": 63, "verbose": -1})
    return lgb.train(params, data, num_boost_round=rounds)


def _oof_residuals(lgb, x, y, names, groups: list[str], rounds: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold errors of the point model: folds by architecture when there are several (the error the
    predictor makes on a model it has not seen), else by row."""
    keys = sorted(set(groups))
    if len(keys) >= 3:
        fold = np.array([keys.index(g) % folds for g in groups])
    else:
        fold = np.arange(len(y)) % folds
    out = np.full(len(y), np.nan)
    for k in range(folds):
        test = fold == k
        if not test.any() or (~test).sum() < 5:
            continue
        booster = _fit(lgb, x[~test], y[~test], names, "regression", None, rounds)
        out[test] = y[test] - booster.predict(x[test])
    return out


def _lightgbm():
    from harness.core.import_utils import is_lightgbm_available, missing_extra_message

    if not is_lightgbm_available():
        raise PredictorError(missing_extra_message("lightgbm", "recommend"))
    import lightgbm

    return lightgbm


@dataclass
class Prediction:
    target: str
    value: float | None
    low: float | None = None
    high: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "reason": self.reason}


@dataclass
class Predictor:
    feature_names: list[str]
    boosters: dict[tuple[str, float], Any]
    targets: dict[str, dict[str, Any]]          # target -> {trained, reason, rows, transform}
    predictor_id: str = field(default_factory=lambda: "p" + secrets.token_hex(6))
    device: str | None = None
    n_rows: int = 0
    created_at: Any = None
    # target -> out-of-fold point predictions (folds by architecture) on the training rows, in the target's own
    # units (NaN where a row had no value or no fold); not stored: used to choose the recommendation policy on
    # the training architectures only (harness.meta.policy)
    oof: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # how `harness recommend` ranks the candidates of an architecture this predictor has not seen: chosen by
    # inner cross-validation over its training architectures when it is trained (harness.meta.policy), stored
    # with it; None with fewer than three labelled architectures (the learnt estimates alone are used then)
    unseen_policy: Any = None
    # "zero-shot" (features of the model and recipe only) or "probe": trained with the probe features
    # (harness.meta.probes: the measured outcomes of three cheap recipes on the same model) and stored as the
    # companion of a zero-shot predictor, `probe`; used for models whose probes are all measured
    kind: str = "zero-shot"
    probe: "Predictor | None" = None
    companion_of: str | None = None     # a probe predictor: the zero-shot predictor it was stored with

    # -- training --------------------------------------------------------------------------------------------
    @classmethod
    def train(cls, rows: Sequence[MetaRow], device: str | None = None, rounds: int = ROUNDS,
              targets: Sequence[str] = TARGETS) -> "Predictor":
        if not rows:
            raise PredictorError("no measured points to train on; run `harness sweep` first")
        lgb = _lightgbm()
        names = sorted({k for r in rows for k in r.features})
        x_all = np.array([[_value(r.features, n) for n in names] for r in rows], dtype=np.float64)
        boosters: dict[tuple[str, float], Any] = {}
        info: dict[str, dict[str, Any]] = {}
        oof: dict[str, np.ndarray] = {}
        for target in TARGETS:
            if target not in targets:
                info[target] = {"trained": False, "reason": "not trained (not asked for)", "rows": 0}
                continue
            ys = [r.targets.get(target) for r in rows]
            keep = [i for i, y in enumerate(ys) if y is not None and math.isfinite(y) and
                    (target not in LOG_TARGETS or y > 0)]
            if len(keep) < 5:
                reason = ("no measured values in the training data" if not keep
                          else f"only {len(keep)} measured value(s) in the training data")
                if target == "energy_ratio" and not keep:
                    reason = "no energy was measured on this device (no power sensor); nothing to learn from"
                info[target] = {"trained": False, "reason": reason, "rows": len(keep)}
                continue
            y = np.array([ys[i] for i in keep], dtype=np.float64)
            transform = "log" if target in LOG_TARGETS else "identity"
            if transform == "log":
                y = np.log(y)
            x = x_all[keep]
            groups = [rows[i].model for i in keep]
            boosters[(target, POINT)] = _fit(lgb, x, y, names, "regression", None, rounds)
            residuals = _oof_residuals(lgb, x, y, names, groups, rounds)
            ok = ~np.isnan(residuals)
            held_out = np.full(len(rows), np.nan)
            held_out[keep] = y - residuals
            oof[target] = np.exp(held_out) if transform == "log" else held_out
            for q in QUANTILES:
                boosters[(target, q)] = _fit(lgb, x[ok], residuals[ok], names, "quantile", q,
                                             min(rounds, QUANTILE_ROUNDS))
            info[target] = {"trained": True, "reason": None, "rows": len(keep), "transform": transform}
        return cls(feature_names=names, boosters=boosters, targets=info, device=device, n_rows=len(rows), oof=oof)

    # -- prediction ------------------------------------------------------------------------------------------
    def predict_many(self, feats: Sequence[dict[str, float]]) -> list[dict[str, Prediction]]:
        x = np.array([[_value(f, n) for n in self.feature_names] for f in feats], dtype=np.float64)
        out: list[dict[str, Prediction]] = [{} for _ in feats]
        for target in TARGETS:
            meta = self.targets.get(target, {"trained": False, "reason": "not in this predictor"})
            if not meta["trained"]:
                for o in out:
                    o[target] = Prediction(target, None, reason=meta["reason"])
                continue
            point_t = self.boosters[(target, POINT)].predict(x)
            # the interval: the point estimate plus the predicted quantiles of its out-of-fold error
            bounds = [point_t + self.boosters[(target, q)].predict(x) for q in QUANTILES]
            back = np.exp if meta.get("transform") == "log" else (lambda v: v)
            for i, o in enumerate(out):
                point = float(back(point_t[i]))
                lo, hi = sorted(float(back(b[i])) for b in bounds)
                o[target] = Prediction(target, point, min(lo, point), max(hi, point))
        return out

    def predict(self, feats: dict[str, float]) -> dict[str, Prediction]:
        return self.predict_many([feats])[0]

    # -- the store -------------------------------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        lgb = _lightgbm()
        return {"predictor_id": self.predictor_id, "created_at": self.created_at, "library": "lightgbm",
                "library_version": lgb.__version__, "device": self.device,
                "feature_names": json.dumps(self.feature_names), "targets": json.dumps(self.targets),
                "quantiles": json.dumps([*QUANTILES]), "n_rows": self.n_rows,
                "config": json.dumps({"params": PARAMS, "rounds": ROUNDS, "point": "least squares",
                                      "interval": "quantiles of out-of-fold residuals (folds by model)",
                                      "log_targets": sorted(LOG_TARGETS),
                                      "unseen_policy": (asdict(self.unseen_policy) if self.unseen_policy
                                                        else None),
                                      "kind": self.kind, **self._companion})}

    @property
    def _companion(self) -> dict[str, Any]:
        from harness.meta.probes import PROBES

        return {"companion_of": self.companion_of, "probes": list(PROBES)} if self.kind == "probe" else {}

    def save(self, store, rows: Sequence[MetaRow]) -> None:
        """Save the predictor with the rows it was trained on, and its probe-anchored companion (trained on the
        same rows with the probe features) when it has one."""
        from harness.meta.probes import with_probes
        from harness.store.meta import save_predictor

        models = [{"predictor_id": self.predictor_id, "target": t, "quantile": q, "model_text": b.model_to_string()}
                  for (t, q), b in sorted(self.boosters.items())]
        save_predictor(store, self.record(), models, [r.as_row(self.predictor_id, i) for i, r in enumerate(rows)])
        if self.probe is not None:
            self.probe.companion_of = self.predictor_id
            self.probe.save(store, with_probes(rows))

    @classmethod
    def load(cls, store, device: str | None = None, kind: str = "zero-shot",
             companion_of: str | None = None) -> "Predictor | None":
        from harness.store.meta import latest_predictor

        rec = latest_predictor(store, device, kind, companion_of)
        if rec is None:
            return None
        if rec["library"] != "lightgbm":
            raise PredictorError(f"stored predictor {rec['predictor_id']} uses {rec['library']}, not lightgbm")
        lgb = _lightgbm()
        boosters = {(m["target"], float(m["quantile"])): lgb.Booster(model_str=m["model_text"])
                    for m in rec["models"]}
        from harness.meta.policy import policy_from_dict

        config = json.loads(rec.get("config") or "{}")
        pred = cls(feature_names=json.loads(rec["feature_names"]), boosters=boosters,
                   targets=json.loads(rec["targets"]), predictor_id=rec["predictor_id"], device=rec["device"],
                   n_rows=rec["n_rows"], created_at=rec["created_at"],
                   unseen_policy=policy_from_dict(config.get("unseen_policy")), kind=kind,
                   companion_of=config.get("companion_of"))
        if kind == "zero-shot":
            pred.probe = cls.load(store, device, "probe", pred.predictor_id)
        return pred


def train_and_store(db: str, device: str | None = None, lock_timeout_s: float = 60.0) -> Predictor:
    """Train on every measured point of `device` in the store and save the predictor there."""
    from harness.meta.dataset import load_rows
    from harness.store import Store

    store = Store(db, lock_timeout_s=lock_timeout_s)
    store.migrate()
    rows = load_rows(store, device=device)
    if not rows:
        raise PredictorError(f"no measured points{f' on {device}' if device else ''} in {db}; "
                             "run `harness sweep` first")
    pred = train_with_policy(rows, device)
    pred.save(store, rows)
    return pred


def train_with_policy(rows: Sequence[MetaRow], device: str | None = None) -> Predictor:
    """Train, then choose the ranking policy for unseen architectures on the same rows (inner CV); and the
    probe-anchored companion (`probe`) when some model has every probe measured: trained on the same rows with
    the probe features, its policy chosen by the same inner CV with the probes measured on the held-out one
    (the protocol benchmarks/recommend.py --probe scores)."""
    from harness.meta.policy import choose_for_rows
    from harness.meta.probes import PROBES, probes_measured, with_probes
    from harness.meta.timed_latency import TIMEABLE_DEVICES

    pred = Predictor.train(rows, device=device)
    # on a device whose candidates `harness recommend` times (harness.meta.timed_latency), the policy is chosen
    # with timed latencies, each training point's own measured ratio standing for its timing
    timed = {} if device in TIMEABLE_DEVICES else None
    pred.unseen_policy = choose_for_rows(rows, pred, timed_latency=timed)
    if any(probes_measured(r.recipe for r in rows if r.model == m) for m in {r.model for r in rows}):
        prows = with_probes(rows)
        probe = Predictor.train(prows, device=device)
        probe.kind = "probe"
        probe.unseen_policy = choose_for_rows(prows, probe, measured_recipes=("fp32", *PROBES), timed_latency=timed)
        pred.probe = probe
    return pred


def load_or_train(store, device: str | None, echo=None) -> Predictor:
    """The newest stored predictor for `device`, or a new one trained (and stored) from the store's points when
    none is stored yet or newer points have arrived since."""
    from harness.meta.dataset import load_rows

    pred = Predictor.load(store, device)
    rows = None
    if pred is not None:
        from harness.store.meta import newest_measurement_at

        newest = newest_measurement_at(store, device)
        if newest is None or pred.created_at is None or newest <= pred.created_at:
            return pred
    rows = load_rows(store, device=device)
    if not rows:
        if pred is not None:
            return pred
        raise PredictorError(f"no measured points{f' on {device}' if device else ''} in {store.path}; "
                             "run `harness sweep` first")
    if echo:
        echo(f"training the predictor on {len(rows)} measured point(s)...")
    pred = train_with_policy(rows, device)
    pred.save(store, rows)
    return Predictor.load(store, device) or pred


def check_recipe(recipe: str) -> None:
    from harness.exporters.recipes import parse_recipe

    if not recipe.strip():
        raise UsageError("empty --recipe")
    parse_recipe(recipe)
