"""The dashboard's Viewer without a browser, over a DuckDB made by a real bench."""
from __future__ import annotations

import subprocess
import sys

import duckdb
import pandas as pd
import pytest
from bokeh.document import Document

from dashboard_fixtures import *  # noqa: F403
from harness.store import Store
from harness.reports.dashboard import Dashboard, history_steps
from harness.reports.data import ReportReader, probe
from harness.reports.metrics import METRICS
from harness.reports.pareto import pareto_front
from harness.reports.server import allowed_origins


HOLD_WRITE_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("BEGIN TRANSACTION")
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture(scope="module")
def app(dash_db):
    return Dashboard(str(dash_db))


def _names(app) -> list[str]:
    return list(app.table["variant"])


def test_table_lists_every_variant_with_units_and_ratios(app, dash_db):
    names = _names(app)
    assert names[0] == "fp32"                      # the root comes first and is the default base
    assert {"int8-static", "int8-dynamic", "fp16"} <= set(names)
    cols = set(app.table.columns)
    assert {"Size (KiB)", "p50 latency (ms)", "p90 latency (ms)", "Throughput (samples/s)", "Peak memory (MiB)",
            "Accuracy (%)", "Top-1 agreement vs FP32 (%)", "KL divergence vs FP32 (nats)"} <= cols
    root = app.table[app.table["variant"] == "fp32"].iloc[0]
    assert root["Size ×base"] == 1.0 and root["p50 latency ×base"] == 1.0
    # energy is not measurable on this host: the column is dropped and the note says why
    assert "Energy per inference (mJ)" not in cols
    assert "Energy per inference" in app.table_note.object
    # the CSV download carries the same table
    csv = app._csv().getvalue()
    assert csv.splitlines()[0].startswith("variant,precision") and "int8-static" in csv


def test_changing_the_base_recomputes_ratios(app):
    int8 = app.param.base_id.names["int8-static"]
    before = app.table.set_index("variant")["Size ×base"]
    app.base_id = int8
    try:
        after = app.table.set_index("variant")["Size ×base"]
        assert after["int8-static"] == 1.0 and after["fp32"] > 1.0
        assert before["fp32"] == 1.0
    finally:
        app.base_id = app.data.root_id


def test_pareto_axes_redraw_and_front_is_non_dominated(app):
    app.x_metric, app.y_metric = "p90_ms", "accuracy"
    first = app.pareto_pane.object
    assert "p90 latency (ms)" == first.xaxis.axis_label and "Accuracy (%)" == first.yaxis.axis_label
    app.x_metric, app.y_metric = "size_bytes", "kl"
    second = app.pareto_pane.object
    assert second is not first and second.xaxis.axis_label == "Size (KiB)"
    source = second.select_one({"name": "pareto_points"})
    assert "on the front" in source.data["front"]
    app.x_metric, app.y_metric = "p90_ms", "accuracy"


def test_pareto_front_math():
    # (1,1) dominates (2,2); (0.5,3) trades off; NaN never on the front
    assert pareto_front([1, 2, 0.5, float("nan")], [1, 2, 3, 0]) == [True, False, True, False]
    assert pareto_front([1, 2], [0.9, 0.95], "lower", "higher") == [True, True]


def test_provenance_tree_and_colour_metric(app):
    app.color_metric = "size_bytes"
    fig = app.tree_pane.object
    assert "Size (KiB)" in fig.title.text
    text = " ".join(str(t) for r in fig.center for t in getattr(getattr(r, "source", None), "data", {}).get("text", []))
    assert "int8-static" in text and "prune-structured" in text      # edges are labelled with the operation


def test_latency_histograms_are_computed_in_duckdb(app):
    fig = app.latency_pane.object
    assert fig is not None and fig.xaxis.axis_label == "latency (ms)"
    hist = app.reader.histograms(list(app.latency_rows), bins=40)
    assert len(hist["edges_ms"]) == 41
    for s in hist["series"].values():
        assert sum(s["counts"]) == s["total"] > 0


def test_behaviour_lists_flips_with_instance_and_both_predictions(app, dash_db):
    flips = ReportReader(dash_db).store.query(
        "SELECT v.variant_id, q.value FROM quality q JOIN variants v USING (run_id, variant_id) "
        "WHERE q.reference = 'root' AND q.metric = 'flip_count' ORDER BY q.value DESC, v.name LIMIT 1")
    if not flips or not flips[0]["value"]:
        pytest.skip("no variant of this bench flipped any prediction against fp32")
    app.variant_a, app.variant_b = app.data.root_id, flips[0]["variant_id"]
    assert f"{int(flips[0]['value'])} of" in app.behaviour_summary.object
    html = app.behaviour_pane.object
    assert "<svg" in html and "fp32 predicts" in html
    app.kind = "abs_difference_argmax"
    assert "abs_difference_argmax" in app.behaviour_pane.object


def test_layers_view_shows_sparsity(app):
    pruned = app.param.layer_variant.names["prune-unstructured:0.5"]
    app.layer_variant = pruned
    fig, table = app.layers_pane.objects
    assert "sparsity (%)" in table.value.columns and table.value["sparsity (%)"].max() > 10


def test_layers_view_without_a_profile_says_how_to_get_one(app):
    assert not app.profile_pick.visible and app.profile_variant is None
    assert "harness bench MODEL --recipe int8-static --profile-layers" in app.profile_pane.objects[0].object


def test_history_needs_two_runs_and_says_so(app):
    app.tabs.active = 6
    text = app.history_pane.objects[0].object
    assert "harness bench --tag nightly" in text


def test_history_steps_use_regress_step_detection():
    t = pd.date_range("2026-01-01", periods=12, freq="D")
    points = pd.DataFrame({"run_id": [f"r{i}" for i in range(12)], "created_at": t, "name": "fp32",
                           "p50_ms": [1.0] * 6 + [1.5] * 6})
    steps = history_steps(points, "p50_ms")
    assert [s["run_id"] for s in steps] == ["r6"] and steps[0]["change"] == pytest.approx(0.5)


def test_first_render_builds_bokeh_models(dash_db):
    app = Dashboard(str(dash_db))      # a fresh one: the shared `app` has had its tabs switched by other tests
    doc = Document()
    root = app.__panel__().get_root(doc)
    models = root.references()
    by_type: dict[str, list] = {}
    for m in models:
        by_type.setdefault(type(m).__name__, []).append(m)
    # the heading
    assert any("harness" in (getattr(m, "text", "") or "") for m in models)
    # the variant table, holding every variant the store has for the newest run
    stored = {r["name"] for r in Store(dash_db).query(
        "SELECT v.name FROM variants v JOIN runs r USING (run_id) WHERE v.status = 'ok' "
        "AND r.created_at = (SELECT max(created_at) FROM runs)")}
    tables = by_type.get("DataTabulator", [])
    assert tables, sorted(by_type)
    shown = set()
    for t in tables:
        shown |= {str(v) for v in t.source.data.get("variant", [])}
    assert stored and stored <= shown, (stored, shown)
    # the views' tabs (their plots render when opened), and the run picker set to the newest run
    tabs = by_type.get("Tabs", [])
    assert [t.title for t in tabs[0].tabs] == ["Variants", "Pareto", "Provenance", "Latency", "Behaviour", "Layers",
                                               "History", "Run", "By board", "Recommend", "Roofline"]
    newest = Store(dash_db).query("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0]["run_id"]
    pickers = {m.title: m for m in by_type.get("CustomSelect", [])}
    assert pickers["Run"].value == newest == app.run_id


def test_url_run_parameter_is_validated(dash_db):
    bad = Dashboard(str(dash_db), run="x'; DROP TABLE runs; --")
    assert "Unknown run" in bad.status and bad.run_id == bad.runs["run_id"].iloc[0]
    good = Dashboard(str(dash_db), run=bad.run_id)
    assert good.status == "" and good.run_id == bad.run_id


@pytest.mark.parametrize("kind", ["missing", "empty", "old_schema", "not_harness"])
def test_bad_databases_get_a_clear_page(tmp_path, kind):
    db = tmp_path / "x.duckdb"
    if kind == "empty":
        Store(db).migrate()
    elif kind == "old_schema":
        Store(db).migrate(target=1)
    elif kind == "not_harness":
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE t (a INTEGER)")
        con.close()
    app = Dashboard(str(db))
    assert app.state.status == kind
    page = app.__panel__()
    page.get_root(Document())           # renders without raising
    alert = app._main.objects[0]
    assert "Nothing to show yet" in alert.object
    expected = {"missing": "harness bench --db", "empty": "harness bench --db", "old_schema": "harness migrate",
                "not_harness": "not a harness result database"}[kind]
    assert expected in alert.object


def test_empty_database_fills_in_when_the_first_run_lands(tmp_path):
    db = tmp_path / "x.duckdb"
    store = Store(db)
    store.migrate()
    app = Dashboard(str(db))
    assert app.state.status == "empty"
    store.create_run({"run_id": "r1", "created_at": pd.Timestamp("2026-01-01"), "status": "running",
                      "model": "digits", "device": "cpu"})
    assert app.poll() is True and app.state.ok and app.run_id == "r1"


def test_keeps_working_while_a_writer_holds_the_file(dash_db, tmp_path):
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(dash_db, db)
    app = Dashboard(str(db), lock_timeout_s=0.3)
    shown = list(app.table["variant"])
    # another process holds the file for writing, as a bench does while it commits a variant
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert app.poll() is False
        assert "busy" in app.status
        app.x_metric = "size_bytes"  # views that need no read still work
        assert list(app.table["variant"]) == shown
    finally:
        holder.terminate()
        holder.wait()
    store = Store(db)
    store.create_run({"run_id": "zz-new", "created_at": pd.Timestamp("2030-01-01"), "status": "running",
                      "model": "digits", "device": "cpu"})
    assert app.poll() is True
    assert "zz-new" in app.param.run_id.objects and app.status == ""


def test_only_loopback_origins_by_default():
    assert allowed_origins("127.0.0.1", 5006) == ["127.0.0.1:5006", "localhost:5006"]
    assert allowed_origins("10.0.0.5", 80) == ["10.0.0.5:80"]


def test_reader_connections_are_read_only(dash_db):
    with ReportReader(dash_db).store.read() as con:
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE evil (a INTEGER)")


def test_probe_reports_ok(dash_db):
    assert probe(dash_db).ok
    assert set(METRICS) >= {"p50_ms", "accuracy"}
