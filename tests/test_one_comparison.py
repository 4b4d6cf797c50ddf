"""`harness compare`, the dashboard's data, the HTML report and the TensorBoard export give the same speedup and
size ratio (Compression Board's meaning: base / variant) for the same pair of a real bench."""
from __future__ import annotations

import json

import pytest

from dashboard_fixtures import *  # noqa: F403
from dashboard_fixtures import harness
from harness.reports.data import ReportReader, with_ratios
from test_report import read_events


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
    scalars = {v.tag: v.simple_value for ev in read_events(logdir) for v in ev.summary.value
               if not v.HasField("histo")}
    # TensorBoard stores float32
    assert scalars["int8-static/compression/size_ratio"] == pytest.approx(int8["size_ratio"], rel=1e-6)
    assert scalars["int8-static/compression/speedup"] == pytest.approx(int8["speedup_p50"], rel=1e-6)


def test_commands_run_without_argv(dash_db, capsys):
    """asv style: the command's plain function takes keyword arguments; the CLI only maps flags onto them."""
    from harness.commands import compare

    assert compare.run(run="latest", json=True, db=str(dash_db)) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["rows"] if r.get("batch_size") == 1}
    assert rows["int8-static"]["size_ratio"] == pytest.approx(_compare_rows(dash_db)["int8-static"]["size_ratio"])
