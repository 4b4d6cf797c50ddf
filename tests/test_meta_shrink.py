"""The ONNX walk of harness.meta.shrink against the exporter's torch.fx walk, and the forms torch exports a layer in
(Linear as MatMul + Add on a 3-D input, GELU written out in five nodes)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.meta.shrink import activation_exit, prunable_layers, structured_shape, users_of


def _weight_params(module) -> int:
    import torch.nn as nn

    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)))


@pytest.mark.parametrize("member", ["zoo-tiny-cnn", "zoo-mixer", "zoo-attention", "zoo-mobilenet", "zoo-resnet",
                                    "zoo-se-cnn", "zoo-inception"])
def test_the_onnx_walk_keeps_what_the_exporter_keeps(member, tmp_path):
    """Exported untrained (which channels go depends on the weights, how many does not): the share of weights
    the graph walk says prune-structured keeps is the share the exporter's own pruning keeps."""
    import warnings

    import torch

    from examples.zoo.models import MEMBERS
    from harness.exporters.prune_structured import find_edges, prune_channels

    m = MEMBERS[member]
    torch.manual_seed(0)
    net = m.net().eval()
    path = tmp_path / f"{member}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 1, m.size, m.size),), str(path), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    edges = find_edges(net)
    before = _weight_params(net)
    prune_channels(net, 0.5)
    kept = _weight_params(net) / before
    graph = onnx.load(str(path))
    assert len(prunable_layers(graph.graph)) == len(edges) > 0
    assert structured_shape(graph, 0.5)["params_kept"] == pytest.approx(kept, rel=1e-9)


def test_a_flatten_module_no_longer_stops_the_exporter():
    """A Sequential CNN reaches its Linear through nn.Flatten: its last convolution shrinks too, and the Linear
    loses the matching input features (4 channels x 36 positions -> 2 x 36)."""
    import torch
    import torch.nn as nn

    from harness.exporters.prune_structured import find_edges, prune_channels

    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)).eval()
    assert [(e.producer, e.consumer, e.spatial) for e in find_edges(net)] == [("0", "3", 36)]
    prune_channels(net, 0.5)
    assert net[0].out_channels == 2 and net[3].in_features == 72
    assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    # a Flatten that keeps a spatial axis is not the classifier's flatten
    partial = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(2), nn.Linear(36, 10))
    assert find_edges(partial) == []


def _linear_block(activation: str = "gelu") -> onnx.ModelProto:
    """x (N, 5, 4) -> MatMul W1 (4, 3) -> Add b1 -> activation -> MatMul W2 (3, 2) -> Add b2 -> y: torch's
    Linear on a 3-D input, and GELU as torch exports it before opset 20."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(size=3).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.normal(size=(3, 2)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.normal(size=2).astype(np.float32), "b2"),
             numpy_helper.from_array(np.array(1.4142135, np.float32), "sqrt2"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["b1", "m1"], ["h"])]
    if activation == "gelu":
        nodes += [helper.make_node("Div", ["h", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                  helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["h", "e1"], ["p"]),
                  helper.make_node("Mul", ["p", "half"], ["a"])]
    elif activation == "sigmoid":        # sigmoid(0) = 0.5: a removed unit would carry a constant
        nodes += [helper.make_node("Sigmoid", ["h"], ["a"])]
    elif activation == "two-exits":      # GELU's inner product also read elsewhere: not one activation
        nodes += [helper.make_node("Div", ["h", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                  helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["h", "e1"], ["p"]),
                  helper.make_node("Mul", ["p", "half"], ["a"]), helper.make_node("Relu", ["p"], ["side"])]
    nodes += [helper.make_node("MatMul", ["a", "w2"], ["m2"]), helper.make_node("Add", ["b2", "m2"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5, 2])]
    if activation == "two-exits":
        outputs.append(helper.make_tensor_value_info("side", TensorProto.FLOAT, ["n", 5, 3]))
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 5, 4])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_a_linear_exported_as_matmul_and_add_through_a_written_out_gelu():
    model = _linear_block("gelu")
    layers = prunable_layers(model.graph)
    assert [(p.node.input[1], p.consumer.input[1], p.bias, p.out_axis) for p in layers] == [("w1", "w2", "b1", 1)]
    # 0.34 of W1's 3 output columns: keep ceil(3 x 0.66) = 2; W1 4x3 -> 4x2, W2 3x2 -> 2x2: (8 + 4) / (12 + 6)
    assert structured_shape(model, 0.34)["params_kept"] == pytest.approx(12 / 18)


def test_activations_that_are_not_one_channel_preserving_step_end_the_walk():
    assert prunable_layers(_linear_block("sigmoid").graph) == []
    assert prunable_layers(_linear_block("two-exits").graph) == []
    g = _linear_block("gelu").graph
    consumers = users_of(g)
    constants = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    assert activation_exit("h", consumers, constants, {"y"}) == "a"
    # a vector constant (not a scalar) is not part of an activation
    constants["one"] = np.ones(3, np.float32)
    assert activation_exit("h", consumers, constants, {"y"}) is None
