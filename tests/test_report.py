"""`harness report` and `harness export-tensorboard` over a real bench, read back."""
from __future__ import annotations

import re

from dashboard_fixtures import *  # noqa: F403
from dashboard_fixtures import harness


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
