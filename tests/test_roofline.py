"""Roofline: MACs and bytes counted from graphs whose figures are known by hand, device peaks from the board
files and a real (tiny) measured CPU peak, and the per-measurement fields."""
import json

import pytest

from harness.device_profiles.jetson_board import load_boards
from harness.device_profiles.peaks import PRECISIONS, DevicePeaks, board_peaks, cpu_peaks, device_peaks, gpu_peaks
from harness.core.graph_cost import count_graph
from harness.core.roofline import attainable_gops, ridge_point, roofline_fields
from roofline_models import make_conv_net, make_matmul

F32 = 4


def test_conv_net_macs_and_bytes_by_hand(tmp_path):
    path = make_conv_net(tmp_path / "conv.onnx")
    cost = count_graph(path, {"x": (1, 1, 8, 8)})
    conv = 4 * 8 * 8 * (1 * 3 * 3)          # every output element: Cin x kh x kw multiply-accumulates
    gemm = 10 * 256                          # 10 outputs x 256 inputs
    assert cost.macs == conv + gemm == 4864
    assert cost.flops == 2 * cost.macs
    assert cost.per_op_macs == {"Conv": conv, "Gemm": gemm}
    weights = (4 * 9 + 4 + 10 * 256 + 10) * F32
    x, c, r, f, y = 64 * F32, 256 * F32, 256 * F32, 256 * F32, 10 * F32
    # Conv reads x writes c; Relu reads c writes r; Flatten is a view; Gemm reads f writes y
    activations = (x + c) + (c + r) + (f + y)
    assert cost.weight_bytes == weights and cost.activation_bytes == activations
    assert cost.bytes == weights + activations
    assert cost.arithmetic_intensity == pytest.approx(2 * 4864 / (weights + activations))
    assert cost.uncounted == ()


def test_batch_scales_the_work_not_the_weights(tmp_path):
    path = make_conv_net(tmp_path / "conv.onnx")
    one, three = count_graph(path, {"x": (1, 1, 8, 8)}), count_graph(path, {"x": (3, 1, 8, 8)})
    assert three.macs == 3 * one.macs
    assert three.weight_bytes == one.weight_bytes and three.activation_bytes == 3 * one.activation_bytes


def test_matmul_macs_by_hand(tmp_path):
    cost = count_graph(make_matmul(tmp_path / "mm.onnx"))
    assert cost.macs == 2 * 3 * 5 * 4        # out [2,3,5], inner dimension 4
    assert cost.weight_bytes == 4 * 5 * F32 and cost.activation_bytes == (2 * 3 * 4 + 2 * 3 * 5) * F32


def test_unknown_shapes_are_listed_not_guessed(tmp_path):
    path = make_conv_net(tmp_path / "conv.onnx")
    cost = count_graph(path)                 # batch left symbolic
    assert cost.uncounted and "shape unknown" in cost.uncounted[0]


def test_every_board_file_has_peaks_or_a_reason():
    for spec in load_boards():
        peaks = board_peaks(spec.key)
        assert peaks is not None, spec.key
        assert peaks.source.startswith("datasheet: ")
        for p in PRECISIONS:
            value, why = peaks.peak_for(p)
            assert (value is not None and value > 0) or why, (spec.key, p)
        assert peaks.bandwidth_gbps and peaks.bandwidth_gbps > 0


def test_gpu_datasheet_match_and_unknown_gpu():
    h200 = gpu_peaks("NVIDIA H200")
    assert h200 is not None and h200.bandwidth_gbps > 0 and h200.gops["int8"] > h200.gops["fp16"]
    assert gpu_peaks("NVIDIA GeForce GT 710") is None
    unknown = device_peaks("nvidia-gpu", {"gpu_name": "NVIDIA GeForce GT 710"})
    assert unknown.peak_for("fp32") == (None, unknown.reasons["fp32"]) and "GT 710" in unknown.reasons["fp32"]


def test_measured_cpu_peak_is_cached_per_host(tmp_path):
    describe = {"cpu_model": "test cpu", "logical_cores": 2, "affinity_cores": 2}
    first = cpu_peaks(describe, tmp_path, gemm_n=128, copy_bytes=1 << 20, budget_s=0.01)
    assert first.source == "measured peak"
    assert first.gops["fp32"] > 0 and first.gops["int8"] > 0 and first.bandwidth_gbps > 0
    assert first.gops["fp16"] is None and "FP16" in first.reasons["fp16"]
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["source"] == "measured peak"
    again = cpu_peaks(describe, tmp_path, gemm_n=128, copy_bytes=1 << 20, budget_s=0.01)
    assert again == first                    # read back, not measured again


def test_roofline_fields_from_counts_and_peaks(tmp_path):
    cost = count_graph(make_conv_net(tmp_path / "conv.onnx"), {"x": (1, 1, 8, 8)})
    peaks = DevicePeaks(source="datasheet: test", gops={"fp32": 100.0, "fp16": None, "int8": 400.0},
                        bandwidth_gbps=50.0, reasons={"fp16": "not given"})
    row = roofline_fields(cost, None, 1000.0, "fp32", peaks)
    assert row["macs"] == 4864 and row["bytes"] == cost.bytes
    assert row["achieved_gops"] == pytest.approx(2 * 4864 * 1000 / 1e9)
    assert row["peak_fraction"] == pytest.approx(row["achieved_gops"] / 100.0)
    assert row["peak_source"] == "datasheet: test" and row["roofline_reason"] is None
    fp16 = roofline_fields(cost, None, 1000.0, "fp16", peaks)
    assert fp16["peak_fraction"] is None and fp16["roofline_reason"] == "not given"
    missing = roofline_fields(None, "graph not counted: boom", 1000.0, "fp32", peaks)
    assert missing["macs"] is None and "boom" in missing["roofline_reason"]
    assert ridge_point(100.0, 50.0) == 2.0 and attainable_gops(1.0, 100.0, 50.0) == 50.0


# -- the roofline of a real bench (conftest's default digits bench): stored, drawn by the dashboard and report ---
def test_every_measurement_of_a_bench_has_its_roofline(default_bench_db):
    from harness.store import Store

    rows = Store(default_bench_db).query("SELECT m.*, v.precision FROM measurements m JOIN variants v "
                                "ON v.run_id = m.run_id AND v.variant_id = m.variant_id WHERE m.status = 'ok'")
    assert rows
    for m in rows:
        assert m["scenario"] == "harness"
        assert m["macs"] > 0 and m["bytes"] > 0 and m["arithmetic_intensity"] > 0 and m["achieved_gops"] > 0
        assert m["peak_source"] == "measured peak"
        if m["precision"] in ("fp32", "int8"):
            assert m["peak_fraction"] > 0
        else:   # fp16 on a CPU host: no measured peak, and the reason says so
            assert m["peak_fraction"] is None and "FP16" in m["roofline_reason"]


def test_dashboard_and_report_draw_the_roofline(default_bench_db, tmp_path):
    from bokeh.embed import json_item

    from harness.reports.dashboard import Dashboard
    from harness.reports.html_report import build_report

    app = Dashboard(str(default_bench_db))
    (pane,) = app.roofline_pane.objects
    item = json.dumps(json_item(pane.object))
    assert "Roofline" in item and "ridge fp32" in item and "roofline_points" in item
    text = build_report(default_bench_db, app.run_id)
    assert "ridge int8" in text and "arithmetic intensity" in text
