"""The dashboard's "Recommend" tab: `harness recommend` with its constraints as widgets.

Read-only like the rest of the dashboard: it uses the predictor stored by `harness sweep` (it never trains or
writes one); without a stored predictor it ranks the measured candidates only and says so. Candidates are built
once per (device, model) — the predictor and the graph features are the slow part — and re-ranked on every
constraint change.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param

from harness.core.errors import HarnessError
from harness.meta.recommend import BOUND, RANK_BY

ALL = "(all)"
CONSTRAINTS = ("max_latency_ms", "max_size_mb", "max_memory_mb", "max_energy_mj", "min_accuracy", "max_drop_pts")
LABELS = {"max_latency_ms": "Max p50 latency (ms)", "max_size_mb": "Max size (MB)",
          "max_memory_mb": "Max peak memory (MB)", "max_energy_mj": "Max energy / inference (mJ)",
          "min_accuracy": "Min accuracy (fraction)", "max_drop_pts": "Max accuracy drop (pts)"}
COLUMNS = ["rank", "model", "recipe", "source", "pareto", "accuracy", "drop_pts", "latency_ms", "latency_low",
           "latency_high", "latency_source", "size_mb", "size_source", "memory_mb", "energy_mj"]


def candidates_frame(cands) -> pd.DataFrame:
    rows = []
    for c in cands:
        lat = c.interval.get("latency_ms") or [None, None]
        rows.append({"rank": c.rank, "model": c.model, "recipe": c.recipe, "source": c.source,
                     "pareto": "yes" if c.pareto else "", "accuracy": c.accuracy, "drop_pts": c.drop_pts,
                     "latency_ms": c.latency_ms, "latency_low": lat[0], "latency_high": lat[1],
                     "latency_source": c.latency_source, "size_mb": c.size_mb, "size_source": c.size_source,
                     "memory_mb": c.memory_mb, "energy_mj": c.energy_mj})
    return pd.DataFrame(rows, columns=COLUMNS)


class RecommendView(pn.viewable.Viewer):
    device = param.Selector(default=None, objects=[], allow_None=True)
    model = param.Selector(default=ALL, objects=[ALL])
    max_latency_ms = param.Number(default=None, allow_None=True, bounds=(0, None))
    max_size_mb = param.Number(default=None, allow_None=True, bounds=(0, None))
    max_memory_mb = param.Number(default=None, allow_None=True, bounds=(0, None))
    max_energy_mj = param.Number(default=None, allow_None=True, bounds=(0, None))
    min_accuracy = param.Number(default=None, allow_None=True, bounds=(0, 1))
    max_drop_pts = param.Number(default=None, allow_None=True, bounds=(0, None))
    bound = param.Selector(default=BOUND, objects=["auto", "interval", "point"])
    rank_by = param.Selector(default=RANK_BY, objects=["estimate", "pessimistic"])

    def __init__(self, db: str, lock_timeout_s: float = 2.0, **params):
        super().__init__(**params)
        self.db = db
        self.lock_timeout_s = lock_timeout_s
        self.loaded = False
        self._cands: list = []
        self._key: tuple | None = None
        self.message = pn.pane.Markdown("Open this tab to rank the candidates.", sizing_mode="stretch_width")
        self.table = pn.widgets.Tabulator(pd.DataFrame(columns=COLUMNS), disabled=True, show_index=False,
                                          sizing_mode="stretch_width", layout="fit_data_table")
        self.front = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.frame = pd.DataFrame(columns=COLUMNS)

    def _store(self):
        from harness.store import Store

        return Store(self.db, lock_timeout_s=self.lock_timeout_s)

    def load(self) -> None:
        """Read the devices and models (first time the tab is shown), then rank."""
        from harness.store.meta import devices

        try:
            devs = devices(self._store())
        except HarnessError as exc:
            self._show_message(f"**Nothing to recommend from.** {exc}")
            return
        if not devs:
            self._show_message("**Nothing measured yet.** Run `harness sweep` to build the candidates.")
            return
        self.param.device.objects = devs
        if self.device not in devs:
            self.device = "cpu" if "cpu" in devs else devs[0]   # triggers _update
        self.loaded = True
        self._update()

    def _show_message(self, text: str) -> None:
        self.message.object = text
        self.frame = pd.DataFrame(columns=COLUMNS)
        self.table.value = self.frame
        self.front.object = ""

    @param.depends("device", watch=True)
    def _device_changed(self) -> None:
        from harness.store.meta import models_on_device

        if self.device is None:
            return
        try:
            models = models_on_device(self._store(), self.device)
        except HarnessError:
            models = []
        self.param.model.objects = [ALL, *models]
        if self.model not in self.param.model.objects:
            self.model = ALL
        self._update()

    def _candidates(self) -> tuple[list, str]:
        from harness.meta.predictor import Predictor
        from harness.meta.recommend import build_candidates, rankings

        key = (self.device, self.model)
        note = ""
        if key != self._key:
            store = self._store()
            model = None if self.model == ALL else self.model
            try:
                predictor = Predictor.load(store, self.device)
            except HarnessError as exc:
                predictor, note = None, f"predictions unavailable: {exc}"
            if predictor is None and not note:
                note = "no predictor stored for this device: measured candidates only (`harness sweep` trains one)"
            policies = None
            try:
                cands = build_candidates(store, predictor, self.device, model)
                if predictor is not None and model is not None:
                    # one model: ordered by the ranking policy benchmarks/recommend.py measures, as the CLI does
                    policies = rankings(store, predictor, self.device, cands)
            except HarnessError as exc:   # e.g. an FP32 file deleted: fall back to what was measured
                note = f"predictions unavailable: {exc}"
                cands = build_candidates(store, None, self.device, model)
            if any(c.size_source == "predicted" for c in cands):
                # the dashboard exports nothing: sizes no `harness recommend --model` has computed stay predicted
                note = (note + " " if note else "") + ("some sizes are predicted: `harness recommend --model M` "
                                                       "computes them by exporting each candidate (and on a host "
                                                       "alike the root's, times them)")
            self._cands, self._note, self._key, self._policies = cands, note, key, policies
        return self._cands, self._note

    def constraints(self):
        from harness.meta.recommend import Constraints

        return Constraints(**{k: getattr(self, k) for k in CONSTRAINTS})

    @param.depends(*CONSTRAINTS, "model", "bound", "rank_by", watch=True)
    def _update(self) -> None:
        if not self.loaded or self.device is None:
            return
        from harness.meta.recommend import binding, rank

        try:
            cands, note = self._candidates()
            constraints = self.constraints()
        except HarnessError as exc:
            self._show_message(f"**Cannot rank:** {exc}")
            return
        if not cands:
            self._show_message(f"**Nothing measured on {self.device}.** Run `harness sweep --device {self.device}`.")
            return
        ranked = rank(cands, constraints, self.bound, self.rank_by, getattr(self, "_policies", None))
        feasible = [c for c in ranked if c.feasible]
        if not feasible:
            self._show_message("**No candidate fits.** " + binding(ranked, constraints, self.bound)
                               + (f"\n\n_{note}_" if note else ""))
            return
        best = feasible[0]
        n_pred = sum(c.source == "predicted" for c in feasible)
        self.message.object = (
            f"**Recommended: {best.model} {best.recipe}** ({best.source}). {len(feasible)} of {len(ranked)} "
            f"candidates fit ({n_pred} predicted, {len(feasible) - n_pred} measured); predicted values carry an "
            "80 % interval." + (f"\n\n_{note}_" if note else "") + _next_bets(ranked))
        self.frame = candidates_frame(feasible)
        self.table.value = self.frame
        front = [c for c in feasible if c.pareto]
        self.front.object = "**Pareto front** (accuracy, latency, size): " + ", ".join(
            f"{c.model} {c.recipe} ({c.source})" for c in front)

    def controls(self) -> pn.viewable.Viewable:
        w = pn.widgets
        widgets: dict[str, Any] = {k: {"type": w.FloatInput, "name": LABELS[k]} for k in CONSTRAINTS}
        widgets.update(device={"type": w.Select, "name": "Device"}, model={"type": w.Select, "name": "Model"},
                       bound={"type": w.Select, "name": "Limits checked on predictions by"},
                       rank_by={"type": w.Select, "name": "Predictions ranked by"})
        return pn.Param(self, parameters=["device", "model", *CONSTRAINTS, "bound", "rank_by"], widgets=widgets,
                        show_name=False, width=300)

    def __panel__(self):
        return pn.Row(self.controls(), pn.Column(self.message, self.front, self.table, sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")


def _next_bets(ranked) -> str:
    """When fewer than five fit, the ranking policy's next places, as `harness recommend` prints them."""
    from harness.meta.recommend import next_bets

    bets = next_bets(ranked)
    if not bets:
        return ""
    return ("\n\nNext places of the ranking policy (predicted over a latency/size limit; measure before shipping): "
            + ", ".join(f"{c.place}. {c.recipe}" for c in bets))
