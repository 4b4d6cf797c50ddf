"""ONNX files shaped like the models users bring (not the shipped examples), built in code.

- a classifier exported from torch (Conv + Linear, logits [batch, 10]);
- a voice-activity-like model: audio `input[batch, sequence]`, a recurrent `state[2, batch, 128]` sharing the
  `batch` symbol, and a scalar int64 `sr` that must be 16000 (an If on it; the other branch fails at run time,
  as random sample rates do in the real model); its weights sit inside the If branch;
- a detector-like graph with dynamic height and width and two outputs (boxes, objectness).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_classifier_onnx(path: Path, seed: int = 0) -> Path:
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    torch.onnx.export(net, (torch.zeros(1, 3, 16, 16),), str(path), input_names=["pixels"], output_names=["logits"],
                      dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


def classifier_inputs(path: Path, n: int = 12, scale: float = 1.0, offset: float = 0.0, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, pixels=(rng.standard_normal((n, 1, 3, 16, 16)) * scale + offset).astype(np.float32))
    return path


def make_vad_onnx(path: Path, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array((rng.standard_normal((64, 128)) * 0.1).astype(np.float32), "w1")
    w2 = numpy_helper.from_array((rng.standard_normal((128, 1)) * 0.1).astype(np.float32), "w2")
    shape = numpy_helper.from_array(np.array([0, -1, 64], np.int64), "frame_shape")
    idx0 = numpy_helper.from_array(np.array(0, np.int64), "idx0")
    axes0 = numpy_helper.from_array(np.array([0], np.int64), "axes0")
    then_nodes = [
        helper.make_node("Reshape", ["input", "frame_shape"], ["frames"]),
        helper.make_node("ReduceMean", ["frames"], ["feat"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["feat", "w1"], ["h"]),
        helper.make_node("Gather", ["state", "idx0"], ["s0"], axis=0),
        helper.make_node("Add", ["h", "s0"], ["hs"]),
        helper.make_node("Tanh", ["hs"], ["h2"]),
        helper.make_node("Unsqueeze", ["h2", "axes0"], ["h3"]),
        helper.make_node("Concat", ["h3", "h3"], ["then_state"], axis=0),
        helper.make_node("MatMul", ["h2", "w2"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["then_out"]),
    ]
    then_graph = helper.make_graph(
        then_nodes, "sr16k", [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, ["batch", 1]),
         helper.make_tensor_value_info("then_state", TensorProto.FLOAT, [2, "batch", 128])],
        [w1, w2, shape, idx0, axes0])
    bad = numpy_helper.from_array(np.array([3, -1, 7], np.int64), "bad_shape")
    else_graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "bad_shape"], ["else_out"]),
         helper.make_node("Identity", ["state"], ["else_state"])], "other_rate", [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, ["batch", 1]),
         helper.make_tensor_value_info("else_state", TensorProto.FLOAT, [2, "batch", 128])], [bad])
    rate = numpy_helper.from_array(np.array(16000, np.int64), "rate16k")
    nodes = [helper.make_node("Equal", ["sr", "rate16k"], ["is16k"]),
             helper.make_node("If", ["is16k"], ["output", "stateN"], then_branch=then_graph, else_branch=else_graph)]
    graph = helper.make_graph(
        nodes, "vad",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "sequence"]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 128]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1]),
         helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, "batch", 128])], [rate])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def vad_inputs(path: Path, n: int = 6, batch: int = 1, sequence: int = 512, sr: int = 16000, seed: int = 2) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, input=rng.standard_normal((n, batch, sequence)).astype(np.float32),
             state=np.zeros((n, 2, batch, 128), np.float32), sr=np.full((n,), sr, np.int64))
    return path


def make_detector_onnx(path: Path, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array((rng.standard_normal((16, 3, 3, 3)) * 0.2).astype(np.float32), "c1"),
             numpy_helper.from_array(np.zeros(16, np.float32), "c1b"),
             numpy_helper.from_array((rng.standard_normal((6, 16, 1, 1)) * 0.2).astype(np.float32), "c2"),
             numpy_helper.from_array(np.zeros(6, np.float32), "c2b"),
             numpy_helper.from_array(np.array([1, 6, -1], np.int64), "flat"),
             numpy_helper.from_array(np.array([-1], np.int64), "last")]
    nodes = [helper.make_node("Conv", ["images", "c1", "c1b"], ["f1"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["f1"], ["r1"]),
             helper.make_node("Conv", ["r1", "c2", "c2b"], ["f2"]),
             helper.make_node("Reshape", ["f2", "flat"], ["f3"]),
             helper.make_node("Transpose", ["f3"], ["boxes"], perm=[0, 2, 1]),
             helper.make_node("ReduceMax", ["boxes", "last"], ["best"], keepdims=0),
             helper.make_node("Sigmoid", ["best"], ["objectness"])]
    graph = helper.make_graph(
        nodes, "detector", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, "anchors", 6]),
         helper.make_tensor_value_info("objectness", TensorProto.FLOAT, [1, "anchors"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_example_without_eval_data():
    """A shipped-example-shaped model factory with no eval data (like a random-weight net): drift of its
    variants is measured on seeded random inputs."""
    import torch
    import torch.nn as nn

    from harness.examples.base import Example

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10)).eval()

    return Example(name="tiny", task="none", build_model=build, example_inputs=(torch.zeros(1, 32),),
                   input_names=["x"], output_names=["logits"], eval_data=lambda: None,
                   calibration=lambda n: [{"x": np.random.default_rng(i).standard_normal((1, 32)).astype(np.float32)}
                                          for i in range(min(n, 8))],
                   default_recipes=["fp32", "int8-dynamic"])
