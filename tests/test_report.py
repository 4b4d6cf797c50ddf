"""`harness report` and `harness export-tensorboard` over a real bench, read back."""
from __future__ import annotations

import json
import re

import pytest

from dashboard_fixtures import *  # noqa: F403
from dashboard_fixtures import harness
from harness.reports.data import ReportReader, with_ratios


def test_report_is_one_self_contained_file(dash_db, tmp_path):
    out = tmp_path / "report.html"
    proc = harness("report", "latest", "-o", str(out), "--db", str(dash_db))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "int8-static" in text and "Size (KiB)" in text and "Bokeh" in text
    # nothing fetched from elsewhere: no external scripts or stylesheets
    assert not re.search(r"<script[^>]+src=", text) and not re.search(r"<link[^>]+href=", text)


def test_report_unknown_run_is_a_clear_error(dash_db, tmp_path):
    proc = harness("report", "nope", "-o", str(tmp_path / "r.html"), "--db", str(dash_db))
    assert proc.returncode == 2 and "no run matches" in proc.stderr and "Traceback" not in proc.stderr


def _accumulate(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_tensorboard_events_in_compression_board_layout(dash_db, tmp_path):
    """Read back with TensorBoard's own reader: {model} groups with every variant side by side, compression
    figures per variant, latency distributions, HParams sessions, one sanitiser for every tag."""
    from harness.core.comparison import against_base
    from harness.store.queries import comparison_rows
    from harness.store import Store

    logdir = tmp_path / "tb"
    proc = harness("export-tensorboard", "latest", "--logdir", str(logdir), "--db", str(dash_db))
    assert proc.returncode == 0, proc.stderr
    acc = _accumulate(logdir)
    tags = acc.Tags()
    scalars = {t: acc.Scalars(t)[-1].value for t in tags["scalars"]}
    for name in ("fp32", "int8-static", "prune-unstructured_0.5"):
        for group in ("accuracy", "latency", "model_size"):
            assert f"digits/{group}/{name}" in scalars, sorted(scalars)
    for figure in ("size_ratio", "size_reduction_pct", "speedup", "accuracy_drop", "accuracy_retention_pct",
                   "memory_reduction_mb"):
        assert f"digits/compression/{figure}/int8-static" in scalars, sorted(scalars)
    assert not any(t.startswith("digits/compression/") and t.endswith("/fp32") for t in scalars)
    assert "digits/latency_distribution/fp32" in tags["histograms"]
    assert "digits/latency_distribution/prune-structured_0.5_int8-static" in tags["histograms"]
    # one sanitiser: no tag keeps a ':' or '>' anywhere
    assert not [t for t in [*scalars, *tags["histograms"]] if ":" in t or ">" in t]
    # the figures are harness.core.comparison's (Compression Board's meanings: fp32 / variant)
    store = Store(dash_db)
    rows = {r["name"]: r for r in against_base(*comparison_rows(store, store.resolve_run("latest")))}
    assert scalars["digits/compression/size_ratio/int8-static"] == pytest.approx(rows["int8-static"]["size_ratio"])
    assert scalars["digits/compression/speedup/int8-static"] == pytest.approx(rows["int8-static"]["speedup_p50"])
    assert 90 <= scalars["digits/accuracy/fp32"] <= 100
    # structured pruning's fine-tune curve
    loss = acc.Scalars("digits/training/loss/prune-structured_0.5")
    assert [e.step for e in loss] == [0, 1, 2, 3, 4] and all(e.value > 0 for e in loss)
    assert 0.5 < acc.Scalars("digits/validation/accuracy/prune-structured_0.5")[-1].value <= 1.0
    # HParams: one session per variant with its recipe parameters
    sessions = sorted(p.name for p in (logdir / "hparams").iterdir())
    assert "digits.int8-static" in sessions
    hp = _accumulate(logdir / "hparams" / "digits.prune-unstructured_0.5")
    content = hp.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in content
    from tensorboard.plugins.hparams import plugin_data_pb2

    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["operation"].string_value == "prune-unstructured"
    assert any(k.startswith("param.") for k in hparams)
    assert "hparam/size_ratio" in hp.Tags()["scalars"]


def test_tensorboard_training_curves_from_the_monitor(tmp_path):
    from harness.monitor import LocalModelMonitor

    mon = LocalModelMonitor(str(tmp_path / "resnet"))
    mon.set_operation("prune:structured", amount={"type": "continuous", "min": 0, "max": 1})
    mon.set_metric("accuracy")
    mon.save_model("fp32", {"accuracy": 0.9})
    mon.save_model("prune:0.5>ft", {"accuracy": 0.88}, base_id="fp32",
                   operation={"name": "prune:structured", "parameters": {"amount": 0.5}})
    for epoch, (loss, val) in enumerate([(1.0, 0.8), (0.6, 0.5), (0.4, 0.45)]):
        mon.log_curve("prune:0.5>ft", epoch, "training", loss=loss)
        mon.log_curve("prune:0.5>ft", epoch, "validation", loss=val)
    proc = harness("export-tensorboard", mon.run_id, "--logdir", str(tmp_path / "tb"), "--db",
                   str(tmp_path / "resnet" / "harness.duckdb"))
    assert proc.returncode == 0, proc.stderr
    acc = _accumulate(tmp_path / "tb")
    train = acc.Scalars("resnet/training/loss/prune_0.5_ft")
    assert [(e.step, round(e.value, 6)) for e in train] == [(0, 1.0), (1, 0.6), (2, 0.4)]
    assert [e.value for e in acc.Scalars("resnet/validation/loss/prune_0.5_ft")] == pytest.approx([0.8, 0.5, 0.45])


def test_one_sanitiser():
    from harness.reports.tensorboard import sanitize_tag, tag

    assert sanitize_tag("prune-unstructured:0.3") == "prune-unstructured_0.3"
    assert tag("digits", "latency_distribution", "prune-unstructured:0.3") == \
        "digits/latency_distribution/prune-unstructured_0.3"
    assert tag("m", "accuracy", "a/b>c d") == "m/accuracy/a_b_c_d"
    assert sanitize_tag("") == "_"


# `harness compare`, the dashboard's data, the HTML report and the TensorBoard export give the same speedup and size
# ratio (Compression Board's meaning: base / variant) for the same pair (here, to share this module's bench).
def _compare_rows(db) -> dict[str, dict]:
    proc = harness("compare", "latest", "--json", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    return {r["name"]: r for r in out["rows"] if r.get("batch_size") == 1}


def test_compare_dashboard_report_and_tensorboard_agree(dash_db, tmp_path):
    rows = _compare_rows(dash_db)
    int8 = rows["int8-static"]
    assert int8["size_ratio"] > 1.5 and int8["speedup_p50"] is not None

    reader = ReportReader(dash_db)
    data = reader.run_data(reader.runs()["run_id"].iloc[0])
    full = with_ratios(data.table, data.root_id)          # the dashboard's and the report's table
    dash = full[(full["name"] == "int8-static") & (full["batch_size"] == 1)].iloc[0]
    assert dash["size_ratio"] == pytest.approx(int8["size_ratio"])
    assert dash["speedup_p50"] == pytest.approx(int8["speedup_p50"])

    report = tmp_path / "report.html"
    assert harness("report", "latest", "-o", str(report), "--db", str(dash_db)).returncode == 0
    text = report.read_text()
    assert "Size ratio (base/variant)" in text and "Speedup p50 (base/variant)" in text
    assert f"{round(int8['size_ratio'], 4):.4g}" in text and f"{round(int8['speedup_p50'], 4):.4g}" in text

    logdir = tmp_path / "tb"
    assert harness("export-tensorboard", "latest", "--logdir", str(logdir), "--db", str(dash_db)).returncode == 0
    acc = _accumulate(logdir)
    scalars = {t: acc.Scalars(t)[0].value for t in acc.Tags()["scalars"]}     # step 0 = batch size 1 first
    # TensorBoard stores float32
    assert scalars["digits/compression/size_ratio/int8-static"] == pytest.approx(int8["size_ratio"], rel=1e-6)
    assert scalars["digits/compression/speedup/int8-static"] == pytest.approx(int8["speedup_p50"], rel=1e-6)


def test_commands_run_without_argv(dash_db, capsys):
    """asv style: the command's plain function takes keyword arguments; the CLI only maps flags onto them."""
    from harness.commands import compare

    assert compare.run(run="latest", json=True, db=str(dash_db)) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["rows"] if r.get("batch_size") == 1}
    assert rows["int8-static"]["size_ratio"] == pytest.approx(_compare_rows(dash_db)["int8-static"]["size_ratio"])


def test_fleet_run_boards_in_tensorboard_runs_and_the_report(dash_db, tmp_path):
    """A fleet run measures every variant on several boards: each board becomes a TensorBoard run of its own
    (logdir/<board>) with the same tags, so the boards are compared in one chart and none overwrites another."""
    import shutil

    from harness.reports.tensorboard import export_tensorboard
    from harness.store import Store

    db = tmp_path / "fleet.duckdb"
    shutil.copy(dash_db, db)
    store = Store(db)
    run_id = store.resolve_run("latest")
    with store.write() as con:
        # the same run measured on two boards: orin-b twice as slow as orin-a
        con.execute("UPDATE measurements SET board = 'orin-a' WHERE run_id = ?", [run_id])
        con.execute("UPDATE quality SET board = 'orin-a' WHERE run_id = ?", [run_id])
        con.execute("CREATE TEMP TABLE b AS SELECT * FROM measurements WHERE run_id = ?", [run_id])
        con.execute("UPDATE b SET measurement_id = measurement_id || '-b', board = 'orin-b', p50_ms = 2 * p50_ms")
        con.execute("INSERT INTO measurements SELECT * FROM b")
    p50 = {r["board"]: r["p50_ms"] for r in store.query(
        "SELECT m.board, m.p50_ms FROM measurements m JOIN variants v USING (variant_id) "
        "WHERE m.run_id = ? AND v.name = 'fp32' AND m.batch_size = 1", [run_id])}
    export_tensorboard(store, run_id, tmp_path / "tb")
    for board in ("orin-a", "orin-b"):
        acc = _accumulate(tmp_path / "tb" / board)
        scalars = {t: acc.Scalars(t)[0].value for t in acc.Tags()["scalars"]}
        assert scalars["digits/latency/fp32"] == pytest.approx(p50[board], rel=1e-6)
        assert "digits/compression/speedup/int8-static" in scalars
    assert p50["orin-b"] == pytest.approx(2 * p50["orin-a"])
    # the HTML report puts the boards side by side too
    report = tmp_path / "fleet.html"
    assert harness("report", run_id, "-o", str(report), "--db", str(db)).returncode == 0
    text = report.read_text()
    assert "By board" in text and "orin-a p50 ms" in text and "orin-b p50 ms" in text
