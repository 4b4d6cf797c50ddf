"""Small ONNX graphs whose MACs and bytes can be counted by hand (tests/test_roofline.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_conv_net(path: Path, batch: object = "batch") -> Path:
    """x[b,1,8,8] -> Conv 4x1x3x3 pad 1 -> Relu -> Flatten -> Gemm 256->10 (transB)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "cw"),
             numpy_helper.from_array(np.zeros(4, np.float32), "cb"),
             numpy_helper.from_array(rng.standard_normal((10, 256)).astype(np.float32), "gw"),
             numpy_helper.from_array(np.zeros(10, np.float32), "gb")]
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "gw", "gb"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_matmul(path: Path) -> Path:
    """a[2,3,4] @ w[4,5] -> y[2,3,5]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 5), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "w"], ["y"])], "mm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 5])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
