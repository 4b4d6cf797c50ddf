"""Meta-features on a graph small enough to count by hand."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.meta.features import (graph_features, model_features, pruned_energy, recipe_features,
                                   structured_energy, weight_features)


def tiny_graph() -> onnx.ModelProto:
    """input 1x1x4x4 -> Conv(2 filters 3x3, pad 1) -> Relu -> Flatten -> Gemm(32 -> 3) -> logits.

    Hand count: conv weights 2*1*3*3 = 18 + bias 2 = 20; gemm 3*32 = 96 + bias 3 = 99; params 119.
    MACs: conv 2*4*4 outputs x 9 = 288; gemm 3 outputs x 32 = 96; total 384.
    Activations (float32): conv 32 + relu 32 + flatten 32 + gemm 3 = 99 values = 396 bytes; depth 4 nodes."""
    rng = np.random.default_rng(0)
    conv_w = rng.normal(size=(2, 1, 3, 3)).astype(np.float32)
    conv_w[0, 0, 0, 0] = 0.0                       # one exact zero
    inits = [numpy_helper.from_array(conv_w, "cw"), numpy_helper.from_array(np.zeros(2, np.float32), "cb"),
             numpy_helper.from_array(rng.normal(size=(3, 32)).astype(np.float32), "gw"),
             numpy_helper.from_array(np.zeros(3, np.float32), "gb")]
    nodes = [helper.make_node("Conv", ["input", "cw", "cb"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "gw", "gb"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                            ["batch", 1, 4, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_hand_counted_graph_features():
    f = graph_features(tiny_graph())
    assert f["params"] == 119
    assert f["macs"] == 384
    assert f["activation_bytes"] == 396 and f["max_activation_bytes"] == 128
    assert f["input_bytes"] == 64
    assert f["depth"] == 4 and f["nodes"] == 4 and f["weight_layers"] == 2
    assert (f["op_Conv"], f["op_Relu"], f["op_Flatten"], f["op_Gemm"], f["op_other"]) == (1, 1, 1, 1, 0)
    assert f["depthwise_convs"] == 0


def test_weight_statistics():
    model = tiny_graph()
    f = weight_features(model)
    assert f["weight_sparsity"] == pytest.approx(1 / (18 + 96))
    # per-channel scales can only lower the quantization error
    assert 0 < f["qerr_channel_mean"] <= f["qerr_tensor_mean"] < 0.01
    assert f["min_layer_channels"] == 2
    assert f["first_layer_params_frac"] == pytest.approx(18 / 114)
    # relative proxies: the smallest layer's share, the spread of layer sizes (18 and 96 weights), and the int8
    # weight error weighted by fan-in (9 for the conv, 32 for the Gemm)
    assert f["min_layer_params_frac"] == pytest.approx(18 / 114)
    assert f["layer_params_cv"] == pytest.approx(39 / 57)
    from harness.meta.features import _qerr, _weights

    cw, gw = _weights(model)
    assert f["qerr_tensor_fanin"] == pytest.approx((9 * _qerr(cw, False) + 32 * _qerr(gw, False)) / 41)
    assert f["qerr_channel_fanin"] <= f["qerr_tensor_fanin"] + 1e-12
    removed, worst = pruned_energy(model, 0.5)
    assert 0 < removed < 0.5 and 0 < worst <= 1
    assert pruned_energy(model, 0.0) == (0.0, 0.0)
    assert 0 < structured_energy(model, 0.5) < 0.5        # the smaller of the conv's two filters


def test_recipe_features_describe_methods_by_their_parameters():
    chain = recipe_features("prune-structured:0.25>int8-static:calibration_method=entropy,per_channel=false")
    assert chain["structured_amount"] == 0.25 and chain["fine_tuned"] == 1
    assert chain["weight_bits"] == 8 and chain["int8_static"] == 1 and chain["per_channel"] == 0
    assert chain["calib_entropy"] == 1 and chain["calib_minmax"] == 0 and chain["chain_length"] == 2
    assert recipe_features("fp32")["weight_bits"] == 32 and recipe_features("fp32")["chain_length"] == 0
    assert recipe_features("prune-unstructured:0.7>fp16")["unstructured_sparsity"] == 0.7
    assert recipe_features("fp16")["weight_bits"] == 16


def test_model_features_of_a_file(tmp_path):
    path = tmp_path / "tiny.onnx"
    onnx.save(tiny_graph(), str(path))
    feats, _ = model_features(str(path))
    assert feats["macs"] == 384 and feats["params"] == 119
    from harness.meta.features import features

    f = features(str(path), "int8-static:per_channel=false", "cpu", None, fp32_latency_ms=0.01)
    assert f["conv_share"] == 0.5 and f["depthwise_share"] == 0.0
    assert f["recipe_qerr_fanin"] == feats["qerr_tensor_fanin"] and f["prune_vs_min_layer"] == 0.0
    assert features(str(path), "fp16", "cpu")["recipe_qerr_fanin"] == 0.0
    assert features(str(path), "prune-unstructured:0.5", "cpu")["prune_vs_min_layer"] == pytest.approx(
        0.5 * (1 - 18 / 114))
    from harness.core.errors import ModelError

    with pytest.raises(ModelError, match="gone"):
        model_features(str(tmp_path / "missing.onnx"))


def test_device_features_from_the_environment_record():
    from harness.meta.features import device_features

    cpu = device_features("cpu", '{"device": {"isa": ["avx2", "avx512_vnni"], "logical_cores": 2}}')
    assert cpu["device_cpu"] == 1 and cpu["cpu_vnni"] == 1 and cpu["logical_cores"] == 2
    board = device_features("jetson", {"device": {"board": "Jetson Orin Nano"}})
    assert board["device_jetson"] == 1 and board["board_jetson_orin_nano"] == 1


def test_structured_shape_hand_counted():
    """tiny_graph: the conv (2 filters) feeds the Gemm through Relu and Flatten, so prune-structured:0.5 keeps one
    filter (9 of 18 weights, 144 of 288 MACs) and half the Gemm's 32 inputs (48 of 96 weights and MACs); the
    Gemm feeds the output and keeps its 3 rows."""
    from harness.meta.shrink import prunable_layers, structured_shape

    model = tiny_graph()
    layers = prunable_layers(model.graph)
    assert [(p.node.op_type, p.consumer.op_type) for p in layers] == [("Conv", "Gemm")]
    assert structured_shape(model, 0.5) == {"params_kept": pytest.approx(57 / 114),
                                            "macs_kept": pytest.approx(192 / 384)}
    assert structured_shape(model, 0.0) == {"params_kept": 1.0, "macs_kept": 1.0}
