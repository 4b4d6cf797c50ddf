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


def read_events(logdir):
    """Parse TFRecord framing (length, crc, payload, crc) and decode each Event with tensorboardX's proto."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    events = []
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            events.append(Event.FromString(data[pos + 12:pos + 12 + length]))
            pos += 12 + length + 4
    return events


def test_tensorboard_events_in_compression_board_layout(dash_db, tmp_path):
    logdir = tmp_path / "tb"
    proc = harness("export-tensorboard", "latest", "--logdir", str(logdir), "--db", str(dash_db))
    assert proc.returncode == 0, proc.stderr
    scalars, hists = {}, set()
    for ev in read_events(logdir):
        for v in ev.summary.value:
            if v.HasField("histo"):
                hists.add(v.tag)
                assert v.histo.num > 0 and len(v.histo.bucket) == len(v.histo.bucket_limit)
            elif v.HasField("simple_value") or v.tag.count("/"):
                scalars[v.tag] = v.simple_value
    for tag in ("fp32/accuracy", "fp32/latency", "fp32/model_size", "int8-static/compression/size_ratio",
                "int8-static/compression/speedup", "int8-static/compression/accuracy_drop"):
        assert tag in scalars, sorted(scalars)
    assert "fp32/latency_histogram" in hists
    assert scalars["int8-static/compression/size_ratio"] > 1.5     # int8 weights: several times smaller
    assert 90 <= scalars["fp32/accuracy"] <= 100


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
