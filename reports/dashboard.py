"""The comparison dashboard: a Panel `Viewer` over the result store.

All state lives in params (selected run, base, axes, the two compared variants...), so the app can be driven and
tested without a browser. Watchers update the panes in place rather than rebuilding the page, which keeps an
interaction to one short DuckDB read (or none: axis changes only redraw from the loaded run).
"""
from __future__ import annotations

import html

import io
import json
from typing import Any

import pandas as pd
import panel as pn
import param

from harness.core.errors import StoreError
from harness.core.steps import detect_steps
from harness.reports import plots
from harness.reports.behaviour import (CLASSIFICATION_KINDS, EMBEDDING_KINDS, BehaviourUnavailable, changed_table_html,
                                      contrast)
from harness.reports.data import ReportReader, RunData, StoreBusy, StoreState, probe, with_ratios
from harness.reports.layer_profile import HOW_TO, default_variant
from harness.reports.metrics import METRICS, metric_options
from harness.reports.behaviour_panel import BehaviourPanel, activation_pane
from harness.reports.tables import board_table, display_table, drift_frame, no_effect_notes

ALL = "(all)"
MAX_LATENCY_SERIES = 8      # more overlaid histograms stop being readable
# tabs are found by title, not index: other views add tabs
HISTORY_TAB = "History"
RECOMMEND_TAB = "Recommend"     # reports/recommend_view.py
MAX_HISTORY_RUNS = 100      # step detection is O(m^2 log m); the last 100 nights are what people compare

_CSS = """
table.flips { border-collapse: collapse; font-size: 13px; }
table.flips td, table.flips th { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }
"""


def _empty(text: str) -> pn.pane.Alert:
    return pn.pane.Alert(text, alert_type="info", sizing_mode="stretch_width")


class Dashboard(pn.viewable.Viewer):
    """Compare the variants of one run: table, Pareto front, provenance, latency, behaviour, layers, history."""

    device = param.Selector(default=ALL, objects=[ALL], doc="run filter: device profile")
    model = param.Selector(default=ALL, objects=[ALL], doc="run filter: model")
    tag = param.Selector(default=ALL, objects=[ALL], doc="run filter: tag")
    run_id = param.Selector(default=None, objects=[], allow_None=True, doc="the run shown")
    base_id = param.Selector(default=None, objects=[], allow_None=True, doc="ratios are against this variant")
    # {title with unit: key}, so every selector reads "p90 latency (ms)" rather than a column name
    x_metric = param.Selector(default="p90_ms", objects=metric_options())
    y_metric = param.Selector(default="accuracy", objects=metric_options())
    color_metric = param.Selector(default="p50_ms", objects=metric_options())
    latency_rows = param.ListSelector(default=[], objects=[], doc="measurement ids overlaid")
    variant_a = param.Selector(default=None, objects=[], allow_None=True, doc="behaviour: the reference")
    variant_b = param.Selector(default=None, objects=[], allow_None=True, doc="behaviour: compared variant")
    kind = param.Selector(default="kl_divergence", objects=CLASSIFICATION_KINDS + ["cosine_similarity"])
    layer_variant = param.Selector(default=None, objects=[], allow_None=True)
    profile_variant = param.Selector(default=None, objects=[], allow_None=True,
                                     doc="layers: the variant whose per-layer profile is shown")
    history_metric = param.Selector(default="p50_ms", objects=metric_options(["p50_ms", "accuracy"]))
    status = param.String(default="", doc="banner: store busy, bad URL parameter...")

    def __init__(self, db: str, lock_timeout_s: float = 2.0, run: str | None = None, **params):
        super().__init__(**params)
        self.reader = ReportReader(db, lock_timeout_s=lock_timeout_s)
        self.state: StoreState = probe(db, lock_timeout_s)
        self.runs = pd.DataFrame()
        self.data: RunData | None = None
        self.table = pd.DataFrame()
        self._token: tuple | None = None
        self._main = pn.Column(sizing_mode="stretch_width")
        self._banner = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self._build_panes()
        if self.state.ok:
            self._load_runs(requested=run)
        self._layout()

    # -- panes -------------------------------------------------------------------------------------------------
    def _build_panes(self) -> None:
        self.table_widget = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                                 sizing_mode="stretch_width", layout="fit_data_table",
                                                 )
        self.table_note = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.drift_note = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.drift_widget = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                                 sizing_mode="stretch_width", layout="fit_data_table")
        self.download = pn.widgets.FileDownload(callback=self._csv, filename="variants.csv",
                                                label="Download CSV", width=180)
        # fixed-size frames: their labels are placed in pixels (harness.reports.label_layout), stretching would move them
        self.pareto_pane = pn.pane.Bokeh()
        self.tree_pane = pn.pane.Bokeh()
        self.latency_pane = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.latency_note = pn.Column(sizing_mode="stretch_width")
        self.behaviour_summary = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.behaviour_pane = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[_CSS])
        self.behaviour_more = BehaviourPanel(_CSS)
        self.layers_pane = pn.Column(sizing_mode="stretch_width")
        # `bench --profile-layers`: time and error per layer of the chosen variant against the FP32 root
        self.profile_pane = pn.Column(sizing_mode="stretch_width")
        self.profile_pick = None        # the variant picker: made with the other pickers in _layout
        self.history_pane = pn.Column(sizing_mode="stretch_width")
        self.run_info = pn.pane.JSON({}, depth=2, sizing_mode="stretch_width")
        self.roofline_pane = pn.Column(sizing_mode="stretch_width")
        # a fleet run (`harness bench --cluster`): every board side by side
        self.board_widget = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                                 sizing_mode="stretch_width", layout="fit_data_table")
        self.board_note = pn.pane.Markdown("", sizing_mode="stretch_width")
        from harness.reports.recommend_view import RecommendView

        self.recommend = RecommendView(str(self.reader.path), self.reader.store.lock_timeout_s)

    def _layout(self) -> None:
        if not self.state.ok:
            self._main.objects = [pn.pane.Alert(f"**Nothing to show yet.** {self.state.message}",
                                                alert_type="warning" if self.state.status != "empty" else "info",
                                                sizing_mode="stretch_width")]
            return
        w = pn.widgets
        pick = pn.Param(self, parameters=["device", "model", "tag", "run_id", "base_id"], show_name=False,
                        widgets={"run_id": {"type": w.Select, "name": "Run"},
                                 "base_id": {"type": w.Select, "name": "Ratios against (base)"}})
        axes = pn.Param(self, parameters=["x_metric", "y_metric"], show_name=False, default_layout=pn.Row,
                        widgets={"x_metric": {"type": w.Select, "name": "X axis"},
                                 "y_metric": {"type": w.Select, "name": "Y axis"}})
        colour = pn.Param(self, parameters=["color_metric"], show_name=False,
                          widgets={"color_metric": {"type": w.Select, "name": "Colour by"}})
        lat = pn.Param(self, parameters=["latency_rows"], show_name=False,
                       widgets={"latency_rows": {"type": w.MultiChoice, "name": "Variants"}})
        beh = pn.Param(self, parameters=["variant_a", "variant_b", "kind"], show_name=False,
                       default_layout=pn.Row,
                       widgets={"variant_a": {"type": w.Select, "name": "Variant A (reference)"},
                                "variant_b": {"type": w.Select, "name": "Variant B"},
                                "kind": {"type": w.Select, "name": "Comparison"}})
        self.profile_pick = pn.Param(self, parameters=["profile_variant"], show_name=False,
                                     visible=bool(self.data is not None and self.data.profiles),
                                     widgets={"profile_variant": {"type": w.Select, "name": "Profiled variant"}})
        lay = pn.Param(self, parameters=["layer_variant"], show_name=False,
                       widgets={"layer_variant": {"type": w.Select, "name": "Variant (weights)"}})
        hist = pn.Param(self, parameters=["history_metric"], show_name=False,
                        widgets={"history_metric": {"type": w.Select, "name": "Metric"}})
        tabs = pn.Tabs(
            ("Variants", pn.Column(self.table_note, self.download, self.table_widget, self.drift_note,
                                   self.drift_widget, sizing_mode="stretch_width")),
            ("Pareto", pn.Column(axes, self.pareto_pane, sizing_mode="stretch_width")),
            ("Provenance", pn.Column(colour, self.tree_pane, sizing_mode="stretch_width")),
            ("Latency", pn.Column(lat, self.latency_note, self.latency_pane, sizing_mode="stretch_width")),
            ("Behaviour", pn.Column(beh, self.behaviour_summary, self.behaviour_pane, self.behaviour_more.view,
                                    sizing_mode="stretch_width")),
            ("Layers", pn.Column(pn.pane.Markdown("### Time and error per layer"), self.profile_pick,
                                 self.profile_pane, pn.pane.Markdown("### Weights per layer"), lay,
                                 self.layers_pane, sizing_mode="stretch_width")),
            ("History", pn.Column(hist, self.history_pane, sizing_mode="stretch_width")),
            ("Run", self.run_info),
            ("By board", pn.Column(self.board_note, self.board_widget, sizing_mode="stretch_width")),
            ("Recommend", self.recommend),
            ("Roofline", self.roofline_pane),
            dynamic=True, sizing_mode="stretch_width")
        self.tabs = tabs
        # candidates need the stored predictor and graph features: built when the tab is first shown
        tabs.param.watch(lambda event: self.recommend.load() if self._tab_title(event.new) == RECOMMEND_TAB else None,
                         "active")
        # history reads every run with the tag and fits steps: only worth doing when someone looks at it
        tabs.param.watch(lambda event: self._update_history() if self._tab_title(event.new) == HISTORY_TAB else None,
                         "active")
        self._main.objects = [pn.Row(pn.Column(pick, width=320), tabs, sizing_mode="stretch_width")]

    def tab_index(self, title: str) -> int:
        return list(self.tabs._names).index(title)

    def _tab_title(self, index: int) -> str | None:
        names = list(self.tabs._names)
        return names[index] if 0 <= index < len(names) else None

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("## harness · compressed variants"), self._banner, self._main,
                         sizing_mode="stretch_width")

    # -- loading -----------------------------------------------------------------------------------------------
    def _set_status(self, text: str) -> None:
        self.status = text
        # the banner renders markup, and its text can hold user input (a run name from the URL): shown as text
        self._banner.object = html.escape(text)
        self._banner.visible = bool(text)

    def _load_runs(self, requested: str | None = None) -> None:
        # token first: a run landing between the two reads is then picked up by the next poll
        self._token = self.reader.change_token()
        self.runs = self.reader.runs()
        for name in ("device", "model", "tag"):
            values = sorted({str(v) for v in self.runs[name] if v is not None and v == v})
            self.param[name].objects = [ALL, *values]
        ids = list(self.runs["run_id"])
        choice = self.run_id if self.run_id in ids else (ids[0] if ids else None)
        if requested is not None:
            # a URL parameter is only ever compared against known ids; anything else is reported, not used
            if requested in ids:
                choice = requested
            else:
                self._set_status(f"Unknown run {requested[:64]!r} in the URL; showing the newest run instead.")
        self._update_run_options(choice)

    def _filtered_runs(self) -> pd.DataFrame:
        runs = self.runs
        for name in ("device", "model", "tag"):
            value = getattr(self, name)
            if value != ALL:
                runs = runs[runs[name].astype(str) == value]
        return runs

    def _update_run_options(self, choice: str | None = None) -> None:
        runs = self._filtered_runs()
        options = {f"{str(r.created_at)[:16]} · {r.model} · {r.device} · {r.tag or 'untagged'} · "
                   f"{r.variants} variants · {r.status} ({r.run_id})": r.run_id for r in runs.itertuples()}
        self.param.run_id.objects = list(options.values())
        self.param.run_id.names = options
        if choice not in options.values():
            choice = next(iter(options.values()), None)
        if choice == self.run_id:
            self._load_run()
        else:
            self.run_id = choice

    @param.depends("device", "model", "tag", watch=True)
    def _filters_changed(self) -> None:
        self._update_run_options(self.run_id)

    @param.depends("run_id", watch=True)
    def _load_run(self) -> None:
        if self.run_id is None:
            self.data = None
            self._refresh_all()
            return
        try:
            self.data = self.reader.run_data(self.run_id)
        except StoreBusy as exc:
            self._set_status(f"The database is busy (a bench is writing); still showing the last data. {exc}")
            return
        except StoreError as exc:
            self._set_status(str(exc))
            return
        data = self.data
        ok = data.ok_rows
        variants = data.table.drop_duplicates("variant_id")
        names = {str(n): vid for n, vid in zip(variants["name"], variants["variant_id"])}
        with param.parameterized.discard_events(self):
            self.param.base_id.objects = list(names.values())
            self.param.base_id.names = names
            self.base_id = data.root_id if data.root_id in names.values() else next(iter(names.values()), None)
            rows = {str(l): m for l, m in zip(ok["label"], ok["measurement_id"])}
            self.param.latency_rows.objects = list(rows.values())
            self.param.latency_rows.names = rows
            self.latency_rows = list(rows.values())[:MAX_LATENCY_SERIES]
            for p in ("variant_a", "variant_b", "layer_variant"):
                self.param[p].objects = list(names.values())
                self.param[p].names = names
            ids = list(names.values())
            self.variant_a = data.root_id if data.root_id in ids else (ids[0] if ids else None)
            others = [v for v in ids if v != self.variant_a]
            self.variant_b = others[0] if others else self.variant_a
            with_layers = [v for v in ids if v in set(data.layers["variant_id"])]
            self.layer_variant = next((v for v in with_layers if v != data.root_id), with_layers[0]
                                      if with_layers else (ids[0] if ids else None))
            profiled = {p.name: vid for vid, p in data.profiles.items()}
            self.param.profile_variant.objects = list(profiled.values())
            self.param.profile_variant.names = profiled
            self.profile_variant = default_variant(data.profiles)
        self.download.filename = f"variants-{self.run_id}.csv"
        self.run_info.object = {k: str(v) for k, v in data.run.items()}
        self._refresh_all()

    def _refresh_all(self) -> None:
        self._update_table()
        self._update_pareto()
        self._update_tree()
        self._update_latency()
        self._update_behaviour()
        self._update_layers()
        self._update_profile()
        self._update_roofline()
        if getattr(self, "tabs", None) is not None and self._tab_title(self.tabs.active) == HISTORY_TAB:
            self._update_history()

    # -- views -------------------------------------------------------------------------------------------------
    @param.depends("base_id", watch=True)
    def _update_table(self) -> None:
        if self.data is None:
            self.table = pd.DataFrame()
            self.table_widget.value = self.table
            self.table_note.object = "No run selected."
            return
        full = with_ratios(self.data.table, self.base_id)
        self.table = display_table(full)
        self.table_widget.value = self.table
        boards = board_table(full)
        self.board_widget.value = boards
        self.board_note.object = ("p50 latency and energy per inference of each variant on each board of this fleet "
                                  "run; `harness compare RUN` prints the same per board." if len(boards) else
                                  "This run was measured on one machine. A fleet run (`harness bench --cluster "
                                  "HEAD:PORT --boards ...`) shows its boards side by side here.")
        base = self.data.variant_label(self.base_id) if self.base_id else "–"
        notes = [f"Ratios (×) are against **{base}** in the same batch size and thread count; click a column "
                 "header to sort."]
        missing = [METRICS[k].label for k in METRICS if full[k].isna().all()]
        if missing:
            notes.append("Not recorded in this run: " + ", ".join(missing) + ".")
        reasons = sorted({str(r) for r in full["energy_reason"].dropna()})
        if "energy_per_inference_mj" in {k for k in METRICS if full[k].isna().all()} and reasons:
            notes.append("Energy: " + "; ".join(reasons) + ".")
        drift = drift_frame(self.data)
        self.drift_widget.value = drift
        self.drift_note.object = ("**Drift against the original, every output** (metrics that make no sense for "
                                  "an output are left out)" if len(drift) else "")
        if full["accuracy"].isna().all() and drift.empty:
            notes.append("Accuracy and drift come from the quality pass: run `harness bench` without "
                         "`--no-quality` (ONNX files: on --inputs FILE.npz, else on seeded random inputs).")
        for name, reason in no_effect_notes(full):
            notes.append(f"Variant **{name}** had no effect: {reason}")
        failed = full[full["variant_status"] != "ok"]
        for _, r in failed.iterrows():
            notes.append(f"Variant **{r['name']}** {r['variant_status']}: {r['variant_error'] or 'no reason given'}")
        self.table_note.object = "\n\n".join(notes)

    def _csv(self) -> io.StringIO:
        buf = io.StringIO()
        self.table.to_csv(buf, index=False)
        buf.seek(0)
        return buf

    @param.depends("x_metric", "y_metric", watch=True)
    def _update_pareto(self) -> None:
        if self.data is None or self.data.ok_rows.empty:
            self.pareto_pane.object = None
            return
        self.pareto_pane.object = plots.pareto_figure(self.data.ok_rows, self.x_metric, self.y_metric)

    @param.depends("color_metric", watch=True)
    def _update_tree(self) -> None:
        if self.data is None or self.data.table.empty:
            self.tree_pane.object = None
            return
        variants = self.data.table.drop_duplicates("variant_id")
        rows = [{"variant_id": r["variant_id"], "name": r["name"],
                 "base_id": r["base_id"], "operation": r["operation"],
                 "params": json.loads(r["params"]) if isinstance(r["params"], str) and r["params"] else {}}
                for _, r in variants.iterrows()]
        # one value per variant: its first scenario's
        values = {vid: v for vid, v in zip(variants["variant_id"], variants[self.color_metric])}
        self.tree_pane.object = plots.tree_figure(rows, values, self.color_metric)

    @param.depends("latency_rows", watch=True)
    def _update_latency(self) -> None:
        if self.data is None or self.data.ok_rows.empty:
            self.latency_pane.object = None
            self.latency_note.objects = [_empty("No measured variants in this run: run `harness bench`.")]
            return
        ids = list(self.latency_rows)
        try:
            hist = self.reader.histograms(ids)
        except StoreBusy:
            self._set_status("The database is busy (a bench is writing); latency plot not refreshed.")
            return
        if not hist["series"]:
            self.latency_pane.object = None
            self.latency_note.objects = [_empty(
                "No raw samples stored for the chosen variants (pick some above, or re-run `harness bench`: "
                "it stores every timed call).")]
            return
        labels = {m: str(l) for m, l in zip(self.data.table["measurement_id"], self.data.table["label"])}
        self.latency_note.objects = []
        self.latency_pane.object = plots.latency_figure(hist, labels)

    @param.depends("variant_a", "variant_b", "kind", watch=True)
    def _update_behaviour(self) -> None:
        data = self.data
        if data is None or self.variant_a is None or self.variant_b is None:
            self.behaviour_summary.object = "Pick two variants."
            self.behaviour_pane.object = ""
            self.behaviour_more.clear()
            return
        name_a, name_b = data.variant_label(self.variant_a), data.variant_label(self.variant_b)
        try:
            comp = contrast(data.run.get("hdf5_path"), self.variant_a, self.variant_b, self.kind)
        except BehaviourUnavailable as exc:
            self.behaviour_summary.object = f"**No per-instance comparison.** {exc}"
            self.behaviour_pane.object = ""
            self.behaviour_more.clear()
            return
        except OSError as exc:   # a half-written or removed HDF5 file
            self.behaviour_summary.object = f"**Cannot read the outputs file:** {exc}"
            self.behaviour_pane.object = ""
            self.behaviour_more.clear()
            return
        kinds = CLASSIFICATION_KINDS if comp.classification else EMBEDDING_KINDS
        if comp.kind != self.kind:
            with param.parameterized.discard_events(self):
                self.kind = comp.kind
        self.param.kind.objects = kinds
        if comp.classification:
            agree = 100.0 * (1 - len(comp.changed) / comp.n) if comp.n else 100.0
            head = (f"**{len(comp.changed)} of {comp.n} instances flipped** between {name_a} and {name_b} "
                    f"(top-1 agreement {agree:.1f} %). Mean {comp.kind}: {comp.scores.mean():.4g}.")
            if not comp.changed:
                head += (" No flips: both variants predict the same class for every instance; the instances "
                         "whose outputs moved most are listed below.")
        else:
            head = (f"Embeddings: the {len(comp.changed)} instances whose output moved most between {name_a} and "
                    f"{name_b} (lowest cosine similarity first). Mean {comp.kind}: {comp.scores.mean():.4g}.")
        self.behaviour_summary.object = head
        self.behaviour_pane.object = changed_table_html(comp, name_a, name_b) if comp.changed else ""
        self.behaviour_more.show(comp, name_a, name_b)

    def _update_roofline(self) -> None:
        from harness.reports.roofline import loadgen_table_html, roofline_figure, run_roofline

        if self.data is None:
            self.roofline_pane.objects = []
            return
        try:
            points, loadgen = run_roofline(self.reader.store, self.run_id)
        except StoreError as exc:   # busy store: keep what is shown, say why
            self._set_status(f"Roofline not refreshed: {exc}")
            return
        table = loadgen_table_html(points, loadgen)
        self.roofline_pane.objects = [pn.pane.Bokeh(roofline_figure(points), sizing_mode="stretch_width")] + (
            [pn.pane.HTML(table, sizing_mode="stretch_width", stylesheets=[_CSS])] if table else [])

    @param.depends("profile_variant", watch=True)
    def _update_profile(self) -> None:
        """The chosen variant's per-layer profile: time beside the FP32 root's, error, the table, the why."""
        profiles = self.data.profiles if self.data is not None else {}
        if self.profile_pick is not None:
            self.profile_pick.visible = bool(profiles)
        profile = profiles.get(self.profile_variant)
        if profile is None:
            self.profile_pane.objects = [_empty(HOW_TO) if not profiles else _empty("Pick a profiled variant.")]
            return
        # layer names come from the user's model: the text panes get them escaped, the plot and the table as data
        lines = [profile.summary(), *profile.explanation()]
        note = pn.pane.HTML("".join(f"<p style='margin:4px 0'>{html.escape(t)}</p>" for t in lines),
                            sizing_mode="stretch_width", name="profile_explanation")
        source = f"Times from the {profile.time_source}; " if profile.time_source else ""
        self.profile_pane.objects = [
            note,
            pn.pane.Bokeh(plots.layer_profile_figure(profile), name="profile_figure"),
            pn.pane.HTML(html.escape(f"{source}the table is sorted by time added over the FP32 root; "
                                     "`harness layers RUN` prints the same rows."),
                         sizing_mode="stretch_width", styles={"color": "#555", "font-size": "13px"}),
            # long kernel lists wrap (the textarea formatter shows text, as the plain one does, never markup)
            pn.widgets.Tabulator(profile.table("time"), disabled=True, show_index=False,
                                 sizing_mode="stretch_width", layout="fit_data_table",
                                 widths={"layer": 240, "ran as": 300},
                                 formatters={"layer": "textarea", "ran as": "textarea"})]

    @param.depends("layer_variant", watch=True)
    def _update_layers(self) -> None:
        data = self.data
        if data is None or data.layers.empty:
            self.layers_pane.objects = [_empty(
                "No per-layer statistics in this run. They are recorded by the quality pass for ONNX variants: "
                "run `harness bench` (without `--no-quality`), e.g. with `--recipe prune-structured:0.5`.")]
            return
        layers = data.layers[data.layers["variant_id"] == self.layer_variant]
        name = data.variant_label(self.layer_variant) if self.layer_variant else "–"
        if layers.empty:
            self.layers_pane.objects = [_empty(f"No layer statistics for {name}.")]
            return
        shown = layers[["layer", "kind", "param_count", "zeros", "sparsity", "change_mean_rel", "change_max_rel"]]
        shown = shown.assign(sparsity=100 * shown["sparsity"], change_mean_rel=100 * shown["change_mean_rel"],
                             change_max_rel=100 * shown["change_max_rel"]).rename(columns={
            "param_count": "parameters", "sparsity": "sparsity (%)",
            "change_mean_rel": "mean rel. change vs base (%)", "change_max_rel": "max rel. change vs base (%)"})
        self.layers_pane.objects = [
            pn.Row(pn.pane.Bokeh(plots.layers_figure(layers, name), sizing_mode="stretch_width"),
                   self._activations(name), sizing_mode="stretch_width"),
            pn.widgets.Tabulator(shown, disabled=True, show_index=False, sizing_mode="stretch_width")]

    def _activations(self, name: str):
        """Activation similarity to the base, beside the weight change (same variant)."""
        from harness.store import interop

        try:
            rows = interop.activations(self.reader.store, self.run_id, self.layer_variant)
        except StoreError:
            rows = []
        base = rows[0]["reference_id"] if rows else None
        return activation_pane(rows, name, self.data.variant_label(base) if base else "its base")

    @param.depends("history_metric", watch=True)
    def _update_history(self) -> None:
        data = self.data
        if data is None:
            self.history_pane.objects = []
            return
        run = data.run
        try:
            points = self.reader.history(run.get("tag"), run.get("model"), run.get("device"))
        except StoreBusy:
            return
        what = f"tag {run.get('tag')!r}" if run.get("tag") else "no tag"
        if points["run_id"].nunique() < 2:
            self.history_pane.objects = [_empty(
                f"Only one complete run of {run.get('model')} on {run.get('device')} with {what}. History needs "
                f"at least two: run `harness bench --tag {run.get('tag') or 'nightly'}` again (e.g. nightly).")]
            return
        points = points[points["batch_size"] == points["batch_size"].min()]
        recent = points["run_id"].drop_duplicates().iloc[-MAX_HISTORY_RUNS:]
        points = points[points["run_id"].isin(set(recent))]
        steps = history_steps(points, self.history_metric)
        body: list[Any] = [pn.pane.Bokeh(plots.history_figure(points, self.history_metric, steps),
                                         sizing_mode="stretch_width")]
        if steps:
            metric = METRICS[self.history_metric]
            body.append(pn.pane.Markdown("\n".join(
                f"- **{s['name']}** stepped at run `{s['run_id']}`: {metric.format(s['before'])} → "
                f"{metric.format(s['after'])} ({s['change']:+.1%})" for s in steps)))
        else:
            body.append(pn.pane.Markdown("No step changes detected (changes under 5 % are ignored)."))
        self.history_pane.objects = body

    # -- refresh -----------------------------------------------------------------------------------------------
    def poll(self) -> bool:
        """Reload when the store changed (new run, new variant, finished run). Returns whether it reloaded."""
        if not self.state.ok:
            self.state = probe(self.reader.path, self.reader.store.lock_timeout_s)
            if self.state.ok:
                self._load_runs()
                self._layout()
                return True
            self._layout()
            return False
        try:
            token = self.reader.change_token()
        except StoreBusy:
            self._set_status("The database is busy (a bench is writing); showing the last data, retrying.")
            return False
        except StoreError as exc:
            self._set_status(str(exc))
            return False
        if self.status.startswith("The database is busy"):
            self._set_status("")
        if token == self._token:
            return False
        self._load_runs()
        return True

    def start_polling(self, period_s: float = 5.0) -> None:
        """Poll on a periodic callback of the current server session."""
        pn.state.add_periodic_callback(self.poll, period=int(period_s * 1000))


def history_steps(points: pd.DataFrame, key: str) -> list[dict[str, Any]]:
    """Level steps per variant, found by harness.regress's step detection."""
    steps = []
    for name, g in points.groupby("name", sort=True):
        g = g.dropna(subset=[key])
        if len(g) < 3:
            continue
        _, found = detect_steps(list(g[key]))
        for s in found:
            row = g.iloc[s.index]
            steps.append({"name": name, "run_id": row["run_id"], "created_at": row["created_at"],
                          "before": s.before, "after": s.after, "change": s.change})
    return steps
