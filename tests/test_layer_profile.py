"""The per-layer profile: layers of a root graph, matching what a runtime ran to them, real onnxruntime profiles
of QDQ graphs, per-layer error, the stored rows and `harness layers`."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.core.layer_diagnosis import explain, lossiest_layers, slowest_layers
from harness.profiling.layer_error import layer_errors
from harness.profiling.layer_map import UNMATCHED, RootLayers, load_root_layers
from harness.profiling.layer_rows import layer_profile_rows
from harness.runtimes.profile_tensorrt import datatype_precision, inspector_nodes
from tests.graph_kinds import make_calls, make_mobilenetv3_block, make_written_out_ln_gelu
from tests.helpers import FAST, run_cli


def _conv_relu_bias_graph():
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "m")]
    n = helper.make_node
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             n("Relu", ["c"], ["r"], name="relu"),
             n("GlobalAveragePool", ["r"], ["g"], name="gap"),
             n("Flatten", ["g"], ["f"], name="flat"),
             n("MatMul", ["f", "m"], ["mm"], name="fc"),
             n("Add", ["mm", "b5"], ["y"], name="fc_bias"),
             n("Mul", ["y", "y"], ["sq"], name="square")]
    inits.append(numpy_helper.from_array(np.ones(5, np.float32), "b5"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("sq", TensorProto.FLOAT, [1, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_layers_fold_activations_and_constant_bias_into_weight_ops():
    layers = RootLayers(_conv_relu_bias_graph())
    got = {l.name: l.nodes for l in layers.ordered()}
    assert got == {"conv": ["conv", "relu"], "gap": ["gap"], "flat": ["flat"], "fc": ["fc", "fc_bias"],
                   "square": ["square"]}          # x*x reads no constant: a layer of its own
    assert layers.layers["fc"].output == "y" and layers.layers["gap"].inputs == {"conv"}


def test_optimised_and_quantized_names_match_their_root_layer():
    layers = RootLayers(_conv_relu_bias_graph())
    nodes = [
        {"name": "x_QuantizeLinear", "inputs": ["x"], "outputs": ["x_QuantizeLinear_Output"]},   # graph input
        {"name": "Transpose", "inputs": ["x_QuantizeLinear_Output"], "outputs": ["t0"]},          # inserted
        {"name": "conv_token_1", "inputs": ["t0"], "outputs": ["conv"]},                           # QLinearConv
        {"name": "r_nchwc", "inputs": ["a"], "outputs": ["reorder_token_3"]},                      # fused, renamed
        {"name": "fused fc", "inputs": ["f"], "outputs": ["y"]},
        {"name": "InsertedPrecisionFreeCast_square", "inputs": ["y"], "outputs": ["q"]},
        {"name": "", "inputs": ["q"], "outputs": ["zz"]},                                           # nameless tail
        {"name": "lonely", "inputs": [], "outputs": []},
    ]
    assert layers.match_nodes(nodes) == ["conv", "conv", "conv", "conv", "fc", "square", "square",
                                         UNMATCHED + "lonely"]


@pytest.fixture(scope="module")
def mbv3(tmp_path_factory):
    """The MobileNetV3-like block, its calls, and a per-channel U8S8 QDQ copy with every op type quantized."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    d = tmp_path_factory.mktemp("mbv3")
    root = make_mobilenetv3_block(d / "root.onnx")
    npz, _ = make_calls(root, d / "calls.npz", n=16)
    calls = dict(np.load(npz))
    batches = [{"x": calls["x"][i]} for i in range(16)]

    class Reader:
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    q = d / "qdq.onnx"
    quantize_static(str(root), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return root, q, batches


def _ort_profile(path, batches):
    import onnxruntime as ort

    from harness.runtimes.profile_onnxruntime import profile_nodes

    def options():
        o = ort.SessionOptions()
        o.intra_op_num_threads = 1
        o.log_severity_level = 3
        return o

    return profile_nodes(str(path), options, ["CPUExecutionProvider"],
                         lambda s: lambda: s.run(None, batches[0]), iterations=10, duration_s=5.0)


def test_onnxruntime_profile_of_a_qdq_graph_reads_precision_from_what_ran(mbv3):
    root, q, batches = mbv3
    layers = load_root_layers(str(root))
    prof = _ort_profile(q, batches)
    assert prof["runs"] >= 1 and prof["source"] == "onnxruntime profiler"
    rows = {r["layer"]: r for r in layer_profile_rows("r", "v", None, layers, prof, None, None)}
    assert not [k for k in rows if k.startswith(UNMATCHED)]          # every kernel explained by a root layer
    dw = rows["/block/dw/Conv"]
    # the depthwise conv ran as an integer kernel; its HardSwish was dequantized, computed in float, requantized
    assert dw["precision"] == "int8" and "QLinearConv" in dw["ran_as"]
    assert dw["unfused_qdq"] is True and dw["qdq_ms"] > 0
    assert rows["/head/Gemm"]["precision"] == "int8"
    root_rows = {r["layer"]: r for r in layer_profile_rows("r", "v", None, layers, _ort_profile(root, batches),
                                                           None, None)}
    assert {r["precision"] for r in root_rows.values() if r["time_ms"] is not None} == {"fp32"}
    assert all(r["unfused_qdq"] is False for r in root_rows.values() if r["time_ms"] is not None)


def test_layer_error_is_zero_for_the_root_and_enters_where_a_weight_was_changed(mbv3, tmp_path):
    root, _, batches = mbv3
    layers = load_root_layers(str(root))
    same = layer_errors(str(root), str(root), layers, batches)
    assert same and all(e["rel_l2"] == 0.0 for e in same.values())
    model = onnx.load(str(root))
    for init in model.graph.initializer:
        if init.name == "proj_w":            # the 1x1 projection: only it and what follows can move
            w = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array((w * 1.5).astype(np.float32), "proj_w"))
    changed = tmp_path / "changed.onnx"
    onnx.save(model, str(changed))
    errors = layer_errors(str(root), str(changed), layers, batches)
    assert errors["/block/dw/Conv"]["rel_l2"] == 0.0 and errors["/block/project/Conv"]["rel_l2"] > 0.1
    rows = layer_profile_rows("r", "v", None, layers, None, errors, "calls.npz")
    assert lossiest_layers(rows, 1)[0]["layer"] == "/block/project/Conv"
    assert all(r["time_ms"] is None for r in rows) and rows[0]["error_source"] == "calls.npz"


def test_explain_names_the_layers_that_cost_time_and_accuracy():
    rows = [{"layer": "a", "time_ms": 1.0, "base_time_ms": 0.5, "ran_as": "QLinearConv", "precision": "int8",
             "error_added": 0.01, "rel_l2": 0.01},
            {"layer": "b", "time_ms": 2.0, "base_time_ms": 0.5, "ran_as": "DequantizeLinear + HardSigmoid",
             "precision": "fp32", "unfused_qdq": True, "error_added": 0.30, "rel_l2": 0.31},
            {"layer": "c", "time_ms": 0.1, "base_time_ms": 0.4, "precision": "int8", "error_added": -0.1,
             "rel_l2": 0.2}]
    assert [r["layer"] for r in slowest_layers(rows)] == ["b", "a"]
    lines = explain("int8-static", rows, speedup=0.8, drop_pts=12.0, agreement=0.85)
    assert len(lines) == 2
    assert "0.80x" in lines[0] and lines[0].index("b (") < lines[0].index("a (") and "float between Q/DQ" in lines[0]
    assert "lost 12.0 points" in lines[1] and lines[1].index("b (") < lines[1].index("a (")
    assert explain("fp16", rows, speedup=1.5, drop_pts=0.0, agreement=1.0) == []


def test_tensorrt_inspector_output_is_read_per_documented_format():
    # the shape of IEngineInspector's JSON at ProfilingVerbosity.DETAILED (TensorRT 10 developer guide)
    info = {"Layers": [
        {"Name": "/0/Conv + /1/Relu", "LayerType": "CaskConvolution",
         "Inputs": [{"Name": "x", "Format/Datatype": "Row major linear FP32"}],
         "Outputs": [{"Name": "/1/Relu_output_0", "Format/Datatype": "Channel major FP16 format where ..."}]},
        {"Name": "/2/Conv", "LayerType": "CaskConvolution",
         "Outputs": [{"Name": "y", "Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}]},
        "/3/Reformat"]}
    nodes = inspector_nodes(info, {"/0/Conv + /1/Relu": 4.0, "/2/Conv": 2.0}, runs=2)
    assert [(n["name"], n["precision"], n["time_ms"]) for n in nodes] == [
        ("/0/Conv", "fp16", 2.0), ("/1/Relu", "fp16", None), ("/2/Conv", "int8", 1.0), ("/3/Reformat", None, None)]
    assert datatype_precision(None) is None


def test_torch_profile_per_module_matches_the_exported_root(tmp_path):
    import torch
    import torch.nn as nn

    from harness.runtimes.profile_torch import onnx_scope, profile_modules

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 4)).eval()
    x = torch.zeros(1, 3, 8, 8)
    torch.onnx.export(net, (x,), str(tmp_path / "r.onnx"), input_names=["x"], opset_version=17, dynamo=False)
    assert onnx_scope("features.0") == "/features/features.0"
    with torch.inference_mode():
        prof = profile_modules(net, lambda: net(x), on_cuda=False, iterations=5, duration_s=120.0)
    assert prof["runs"] == 5 and {n["module"] for n in prof["nodes"]} == {"0", "1", "2", "3"}
    assert all(n["time_ms"] > 0 and n["precision"] == "fp32" for n in prof["nodes"])
    layers = load_root_layers(str(tmp_path / "r.onnx"))
    rows = {r["layer"]: r for r in layer_profile_rows("r", "v", None, layers, prof, None, None)}
    assert set(rows) == {"/0/Conv", "/2/Flatten", "/3/Gemm"}        # the ReLU's time joins its conv
    assert rows["/0/Conv"]["ran_as"] == "Conv2d + ReLU"


@pytest.mark.slow
def test_bench_profile_layers_then_harness_layers(tmp_path):
    """A model whose written-out LayerNorm/GELU all-ops INT8 hurts: bench --profile-layers stores rows for root and
    variant, `harness layers --json` gives the documented fields, the bench ends with the 'why' lines."""
    model = make_written_out_ln_gelu(tmp_path / "lngelu.onnx")
    npz, labels = make_calls(model, tmp_path / "calls.npz", n=32)
    db = str(tmp_path / "h.duckdb")
    bench = run_cli("bench", str(model), "--inputs", str(npz), "--labels", str(labels), "--recipe",
                    "int8-static:op_types=all", "--profile-layers", "--db", db, *FAST, cwd=tmp_path, check=True)
    out = run_cli("layers", "latest", "--db", db, "--json", check=True)
    rows = json.loads(out.stdout)
    for key in ("variant", "layer", "op_type", "precision", "time_ms", "base_time_ms", "error"):
        assert all(key in r for r in rows)
    by_variant: dict[str, list] = {}
    for r in rows:
        by_variant.setdefault(r["variant"], []).append(r)
    assert set(by_variant) == {"lngelu", "int8-static:op_types=all"}
    root, var = by_variant["lngelu"], by_variant["int8-static:op_types=all"]
    assert all(r["base_time_ms"] is None and r["error"] is None for r in root)
    known = set(load_root_layers(str(model)).layers)
    assert all(r["layer"] in known or r["layer"].startswith(UNMATCHED) for r in var + root)
    # the weight layers' outputs survive quantization (the written-out LayerNorm's inner tensors are fused away)
    assert any(r["precision"] == "int8" for r in var) and all(r["error"] is not None for r in var
                                                                if r["op_type"] == "MatMul")
    assert any(r["base_time_ms"] is not None for r in var)
    table = run_cli("layers", "latest", "--db", db, "--variant", "int8-static:op_types=all", "--top", "3",
                    check=True).stdout
    assert "ran as" in table and "lngelu:" not in table
    if "why (per-layer profile" in bench.stdout:          # present when the variant lost accuracy or time
        assert "int8-static:op_types=all" in bench.stdout.split("why (per-layer profile")[1]
    bad = run_cli("layers", "latest", "--db", db, "--variant", "nosuch")
    assert bad.returncode == 2 and "profiled: " in bad.stderr


def test_layers_without_a_profile_says_how_to_get_one(tmp_path):
    from tests.helpers import make_mlp_onnx

    model = make_mlp_onnx(tmp_path / "m.onnx", batch=1)
    db = str(tmp_path / "h.duckdb")
    run_cli("bench", str(model), "--db", db, *FAST, cwd=tmp_path, check=True)
    out = run_cli("layers", "latest", "--db", db)
    assert out.returncode == 2 and "--profile-layers" in out.stderr and out.stderr.count("\n") == 1


def test_profile_layers_on_the_fleet_is_refused_not_dropped(tmp_path):
    out = run_cli("bench", "--cluster", "local:2", "--profile-layers", "--db", str(tmp_path / "h.duckdb"))
    assert out.returncode == 2 and "--profile-layers runs on this machine only" in out.stderr
    assert not (tmp_path / "h.duckdb").exists()
