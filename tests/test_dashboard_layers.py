"""The per-layer profile (`harness bench --profile-layers`) in the dashboard's Layers tab and in `harness report`,
over a DuckDB made by one real bench of the digits example (int8-static and fp16 against the FP32 root)."""
from __future__ import annotations

import shutil

import duckdb
import pytest
from bokeh.document import Document

from dashboard_fixtures import profiled_db  # noqa: F401  (session fixture, built once per test process)
from harness.reports.dashboard import Dashboard
from harness.reports.data import ReportReader
from harness.reports.html_report import build_report
from harness.reports.layer_profile import HOW_TO, PRECISION_COLOURS, ROOT_COLOUR, precision_label
from harness.store import Store

PAYLOAD = "<img src=x onerror=alert(1)>"


def _stored(db) -> dict[str, dict[str, dict]]:
    """{variant name: {layer: row}} straight from the table."""
    out: dict[str, dict[str, dict]] = {}
    for r in Store(db).query("SELECT v.name, p.* FROM layer_profile p JOIN variants v USING (run_id, variant_id) "
                             "WHERE p.run_id = (SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1)"):
        out.setdefault(r["name"], {})[r["layer"]] = r
    return out


@pytest.fixture(scope="module")
def slow_copy(profiled_db, tmp_path_factory):  # noqa: F811
    """A copy where int8-static is made 10x slower than measured (so explain() names its layers, whatever this
    host timed) and a layer named like markup was added to it, slowest and lossiest of all."""
    db = tmp_path_factory.mktemp("profiled_copy") / "copy.duckdb"
    shutil.copy(profiled_db, db)
    con = duckdb.connect(str(db))
    try:
        vid = con.execute("SELECT variant_id FROM variants WHERE name = 'int8-static'").fetchone()[0]
        con.execute("UPDATE measurements SET p50_ms = p50_ms * 10, p90_ms = p90_ms * 10 WHERE variant_id = ?", [vid])
        con.execute("""INSERT INTO layer_profile SELECT run_id, variant_id, measurement_id, ? AS layer, 999, op_type,
                       ? AS ran_as, provider, precision, 5.0, qdq_ms, true, profiled_calls, 0.9, cosine, 0.8,
                       error_n, time_source, error_source
                       FROM layer_profile WHERE variant_id = ? ORDER BY layer_order LIMIT 1""",
                    [PAYLOAD, "<b>QLinearConv</b>", vid])
    finally:
        con.close()
    return db


@pytest.fixture(scope="module")
def app(profiled_db):  # noqa: F811
    return Dashboard(str(profiled_db))


def test_profile_is_read_with_the_root_beside_each_variant(profiled_db):  # noqa: F811
    reader = ReportReader(profiled_db)
    data = reader.run_data(reader.runs()["run_id"].iloc[0])
    names = {p.name: p for p in data.profiles.values()}
    assert set(names) == {"fp32", "int8-static", "fp16"}
    assert names["fp32"].is_root and not names["int8-static"].is_root
    assert names["int8-static"].root_rows == names["fp32"].rows
    assert names["int8-static"].speedup is not None and names["int8-static"].agreement is not None


def test_layers_tab_plots_root_and_variant_times_for_the_same_layers(app, profiled_db):  # noqa: F811
    stored = _stored(profiled_db)
    names = app.param.profile_variant.names
    assert set(names) == {"fp32", "int8-static", "fp16"} and app.profile_pick.visible
    assert app.profile_variant == names["int8-static"]          # the first variant that is not the root
    for variant in ("int8-static", "fp16"):
        app.profile_variant = names[variant]
        note, fig_pane, _, table = app.profile_pane.objects
        layout = fig_pane.object
        src = layout.select_one({"name": "layer_profile"})
        data = src.data
        root, mine = stored["fp32"], stored[variant]
        assert set(data["layer"]) == set(root) | set(mine)
        orders = [root.get(layer, mine.get(layer))["layer_order"] for layer in data["layer"]]
        assert orders == sorted(orders)                              # graph order
        for i, layer in enumerate(data["layer"]):
            assert data["time_ms"][i] == pytest.approx(mine[layer]["time_ms"])
            assert data["base_time_ms"][i] == pytest.approx(root[layer]["time_ms"])
            precision = mine[layer]["precision"]
            assert data["colour"][i] == PRECISION_COLOURS[precision]
            assert data["precision"][i] == precision_label(precision)
        time_fig = layout.select_one({"name": "layer_time"})
        assert time_fig.title.text == f"Time per layer: fp32 (FP32 root) vs {variant}"
        root_bars = time_fig.select_one({"name": "root_bars"})
        assert root_bars.glyph.fill_color == ROOT_COLOUR and root_bars.glyph.right == "base_time_ms"
        bars = time_fig.select_one({"name": "variant_bars"})
        assert bars.glyph.right == "time_ms" and bars.glyph.fill_color == "colour"
        legend = time_fig.legend[0]
        assert legend in time_fig.below                              # outside the frame: covers no bar
        labels = [str(item.label) for item in legend.items]
        assert any("fp32 (FP32 root)" in label for label in labels)
        assert any("precision" in label for label in labels)         # one entry per precision, from the data
        err_fig = layout.select_one({"name": "layer_error"})
        assert err_fig.y_range is time_fig.y_range                   # same rows side by side
        assert {r.glyph.right if hasattr(r.glyph, "right") else r.glyph.x
                for r in err_fig.renderers if hasattr(r, "glyph")} >= {"rel_l2", "error_added"}
        # the table: sorted by time added, rounded, every layer
        frame = table.value
        assert list(frame.columns) == ["layer", "ran as", "precision", "ms", "FP32 ms", "added ms", "rel err",
                                       "err added", "Q/DQ"]
        added = list(frame["added ms"])
        assert added == sorted(added, reverse=True) and len(frame) == len(mine)
        assert all(v == float(f"{v:.4g}") for v in frame["ms"])             # 4 significant digits
        assert note.object.startswith(f"<p style='margin:4px 0'>{variant}: {len(mine)} layers")
    unfused = [layer for layer, r in stored["int8-static"].items() if r["unfused_qdq"]]
    app.profile_variant = names["int8-static"]
    marks = app.profile_pane.objects[1].object.select_one({"name": "unfused_qdq"})
    assert (sorted(marks.data["layer"]) if marks is not None else []) == sorted(unfused)


def test_root_alone_shows_its_own_times(app):
    app.profile_variant = app.param.profile_variant.names["fp32"]
    try:
        fig = app.profile_pane.objects[1].object
        assert fig.title.text == "Time per layer: fp32 (FP32 root)" and fig.select_one({"name": "root_bars"}) is None
        assert "added ms" not in app.profile_pane.objects[3].value.columns
    finally:
        app.profile_variant = app.param.profile_variant.names["int8-static"]


def test_explanation_names_the_layers_and_escapes_them(slow_copy):
    app = Dashboard(str(slow_copy))
    assert app.profile_variant == app.param.profile_variant.names["int8-static"]
    note = app.profile_pane.objects[0].object
    assert "int8-static runs 0." in note and "x its FP32 root (slower); time added in:" in note
    assert "&lt;img src=x onerror=alert(1)&gt;" in note and PAYLOAD not in note
    assert "&lt;b&gt;QLinearConv&lt;/b&gt;" in note and "<b>" not in note
    # the plot and the table carry the name as data (Bokeh and Tabulator show it as text); the axis shortens it
    src = app.profile_pane.objects[1].object.select_one({"name": "layer_profile"})
    assert PAYLOAD in src.data["layer"]
    assert app.profile_pane.objects[3].value["layer"].iloc[0] == PAYLOAD      # the most time added
    app.__panel__().get_root(Document())     # renders


def test_long_layer_names_are_shortened_on_the_axis_only():
    from harness.reports.plots import LAYER_LABEL_CHARS, short_layer

    name = "/encoder/layer.11/attention/self/query/MatMul"
    short = short_layer(name)
    assert len(short) == LAYER_LABEL_CHARS and short.startswith("/enc") and short.endswith("query/MatMul")
    assert short_layer("/fc1/Gemm") == "/fc1/Gemm"


def test_report_has_a_section_per_profiled_variant_with_escaped_names(slow_copy):
    run_id = Store(slow_copy).resolve_run("latest")
    text = build_report(slow_copy, run_id)
    assert "Per-layer profile" in text
    for variant in ("int8-static", "fp16"):
        assert f"&lt;h3&gt;{variant}&lt;/h3&gt;" in text           # Bokeh escapes the Div's markup once more
    assert text.count("Top 10 layers by time added") == 2 and text.count("Top 10 layers by error added") == 2
    assert "time added in:" in text
    # the layer name is text everywhere: escaped in the tables and the explanation, never raw markup
    assert PAYLOAD not in text and "<b>QLinearConv" not in text
    assert "&amp;lt;img src=x onerror=alert(1)&amp;gt;" in text


def test_report_without_a_profile_has_no_section(profiled_db, tmp_path):  # noqa: F811
    db = tmp_path / "none.duckdb"
    shutil.copy(profiled_db, db)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM layer_profile")
    con.close()
    assert "Per-layer profile" not in build_report(db, Store(db).resolve_run("latest"))
    app = Dashboard(str(db))
    assert not app.profile_pick.visible
    assert app.profile_pane.objects[0].object == HOW_TO and "--profile-layers" in HOW_TO


def test_many_layers_keep_the_slowest_in_graph_order_and_names_that_shorten_alike_stay_apart():
    from harness.reports.layer_profile import VariantProfile
    from harness.reports.plots import MAX_PROFILE_LAYERS, layer_profile_figure

    # only the middle differs: every name shortens to the same "/model/bl…" + tail
    root = [{"variant": "fp32", "variant_id": "r", "root_id": "r",
             "layer": f"/model/blocks/{i:03d}/attention/self/output/dense/MatMul",
             "layer_order": i, "op_type": "Conv", "ran_as": "Conv", "precision": "fp32", "time_ms": float(i)}
            for i in range(100)]
    var = [dict(r, variant="int8", variant_id="v", ran_as="QLinearConv", precision="int8", time_ms=1.0,
                base_time_ms=r["time_ms"], rel_l2=0.01, error_added=0.001) for r in root]
    fig = layer_profile_figure(VariantProfile("v", "int8", "r", var, root_rows=root, root_name="fp32"))
    data = fig.select_one({"name": "layer_profile"}).data
    assert len(data["layer"]) == MAX_PROFILE_LAYERS and data["layer"] == [r["layer"] for r in root[40:]]
    assert len(set(data["key"])) == MAX_PROFILE_LAYERS                   # every axis label its own row
    assert data["key"][1].endswith(" #41") and len(data["key"][1]) < 40
    assert "(the 60 slowest of 100 layers)" in fig.select_one({"name": "layer_time"}).title.text
