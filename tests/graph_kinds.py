"""Small ONNX graphs shaped like the real files that broke the INT8/FP16 recipes, built with onnx.helper + numpy.

- make_opset11_convnet: an old-opset (11) detector-style convnet; per-channel DequantizeLinear needs opset 13;
- make_dynamic_quantized: a float conv+matmul net put through `quantize_dynamic` (ConvInteger, MatMulInteger,
  DynamicQuantizeLinear), the way already-quantized files are published;
- make_written_out_ln_gelu: a JAX/TF-style token classifier whose LayerNorm and GELU are elementary ops;
  one hidden channel carries a large offset (as outlier channels in real transformers do), so Q/DQ on the
  LayerNorm's Sub/Pow/Div loses accuracy while Q/DQ on the MatMul inputs only does not;
- make_mobilenetv3_block: an inverted-residual block (1x1 expand, HardSwish, depthwise 3x3, squeeze-excite,
  1x1 project, residual Add) and a Gemm head.

Every builder is seeded, takes well under a second, and returns the path. `make_calls` writes a calls .npz
(input name -> array shaped (N, 1, ...), one batch-1 call per row) and labels .npy = argmax of the FP32 model,
so FP32 accuracy is 100 % by construction.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(model, path: Path, ir_version: int) -> Path:
    import onnx

    model.ir_version = ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def _init(name: str, arr: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ascontiguousarray(arr), name)


def _conv_w(rng, out_ch: int, in_ch: int, k: int) -> np.ndarray:
    # He-style scale keeps activations O(1) through the stack, as trained nets roughly do
    return (rng.standard_normal((out_ch, in_ch, k, k)) * np.sqrt(2.0 / (in_ch * k * k))).astype(np.float32)


def make_opset11_convnet(path: Path, seed: int = 0) -> Path:
    """Opset 11 (IR 6): Conv/BatchNormalization/Relu/Conv/Relu/GlobalAveragePool/Flatten/Gemm on images[batch,3,32,32]
    -> logits[batch,10]. The BatchNorm is its own node, as Paddle and TF exports leave it."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    inits = [_init("c1_w", _conv_w(rng, 16, 3, 3)), _init("c1_b", (rng.standard_normal(16) * 0.1).astype(np.float32)),
             _init("c2_w", _conv_w(rng, 32, 16, 3)), _init("c2_b", (rng.standard_normal(32) * 0.1).astype(np.float32)),
             _init("fc_w", (rng.standard_normal((10, 32)) * 0.3).astype(np.float32)),
             _init("fc_b", np.zeros(10, np.float32)),
             _init("bn_scale", (1.0 + 0.1 * rng.standard_normal(16)).astype(np.float32)),
             _init("bn_bias", (0.1 * rng.standard_normal(16)).astype(np.float32)),
             _init("bn_mean", (0.1 * rng.standard_normal(16)).astype(np.float32)),
             _init("bn_var", (1.0 + 0.1 * rng.random(16)).astype(np.float32))]
    nodes = [helper.make_node("Conv", ["images", "c1_w", "c1_b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["b1"],
                              name="bn1"),
             helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "c2_w", "c2_b"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
             helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
             helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1)]
    graph = helper.make_graph(
        nodes, "opset11_convnet", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path, 6)


def make_dynamic_quantized(path: Path, seed: int = 0) -> Path:
    """A float conv+matmul net (input[batch,3,16,16] -> logits[batch,10]) run through `quantize_dynamic`:
    ConvInteger + MatMulInteger + DynamicQuantizeLinear, as published pre-quantized files are."""
    import tempfile

    from onnx import TensorProto, helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(seed)
    inits = [_init("c1_w", _conv_w(rng, 8, 3, 3)), _init("c1_b", np.zeros(8, np.float32)),
             _init("c2_w", _conv_w(rng, 16, 8, 3)), _init("c2_b", np.zeros(16, np.float32)),
             _init("fc_w", (rng.standard_normal((16 * 8 * 8, 10)) * 0.05).astype(np.float32)),
             _init("fc_b", np.zeros(10, np.float32))]
    nodes = [helper.make_node("Conv", ["input", "c1_w", "c1_b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "c2_w", "c2_b"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Flatten", ["r2"], ["flat"], name="flatten", axis=1),
             helper.make_node("MatMul", ["flat", "fc_w"], ["mm"], name="fc"),
             helper.make_node("Add", ["mm", "fc_b"], ["logits"], name="fc_bias")]
    graph = helper.make_graph(
        nodes, "dynamic_quantized", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory() as tmp:
        float_path = _save(model, Path(tmp) / "float.onnx", 8)
        quantize_dynamic(str(float_path), str(path), op_types_to_quantize=["Conv", "MatMul"],
                         weight_type=QuantType.QUInt8)
    return Path(path)


def make_written_out_ln_gelu(path: Path, seed: int = 0, outlier: float = 200.0, branch_gain: float = 10.0) -> Path:
    """tokens[batch,16,32] -> logits[batch,10]: MatMul+Add, LayerNorm as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/
    Div/Mul/Add, tanh-GELU as Mul/Pow/Add/Tanh, MatMul+Add, residual Add, mean-pool, MatMul classifier (opset 17).

    outlier: the offset of one hidden channel before the LayerNorm; branch_gain: how much the MLP branch weighs
    against the residual. With the defaults (seed 0, 64 calls, U8S8 per-channel MinMax) all-ops int8-static kept
    84 % top-1 against the FP32 labels, weight layers only 100 %. Q/DQ on the LayerNorm's elementwise ops
    must then share one per-tensor scale with that channel, which crushes the others to a few levels."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    d, h = 32, 64
    b1 = (rng.standard_normal(h) * 0.1).astype(np.float32)
    b1[7] += outlier
    # a trained LayerNorm undoes the outlier: the other channels come out of the normalisation small (the outlier
    # dominates the variance), and gamma scales them back up while turning the outlier channel down
    gamma = np.full(h, max(1.0, outlier / 8.0), np.float32)
    gamma[7] = 0.05
    inits = [_init("w1", (rng.standard_normal((d, h)) / np.sqrt(d)).astype(np.float32)), _init("b1", b1),
             _init("ln_g", gamma), _init("ln_b", (rng.standard_normal(h) * 0.1).astype(np.float32)),
             _init("eps", np.array(1e-5, np.float32)), _init("two", np.array(2.0, np.float32)),
             _init("three", np.array(3.0, np.float32)), _init("half", np.array(0.5, np.float32)),
             _init("one", np.array(1.0, np.float32)), _init("c044", np.array(0.044715, np.float32)),
             _init("sqrt2pi", np.array(np.sqrt(2.0 / np.pi), np.float32)),
             _init("w2", (rng.standard_normal((h, d)) * branch_gain / np.sqrt(h)).astype(np.float32)),
             _init("b2", (rng.standard_normal(d) * 0.1).astype(np.float32)),
             _init("w3", (rng.standard_normal((d, 10)) / np.sqrt(d)).astype(np.float32))]
    n = helper.make_node
    nodes = [
        n("MatMul", ["tokens", "w1"], ["fc1"], name="/blocks/fc1/MatMul"),
        n("Add", ["fc1", "b1"], ["fc1b"], name="/blocks/fc1/Add"),
        # LayerNorm, written out
        n("ReduceMean", ["fc1b"], ["mu"], name="/blocks/ln/ReduceMean", axes=[-1], keepdims=1),
        n("Sub", ["fc1b", "mu"], ["xc"], name="/blocks/ln/Sub"),
        n("Pow", ["xc", "two"], ["sq"], name="/blocks/ln/Pow"),
        n("ReduceMean", ["sq"], ["var"], name="/blocks/ln/ReduceMean_1", axes=[-1], keepdims=1),
        n("Add", ["var", "eps"], ["vare"], name="/blocks/ln/Add"),
        n("Sqrt", ["vare"], ["std"], name="/blocks/ln/Sqrt"),
        n("Div", ["xc", "std"], ["xn"], name="/blocks/ln/Div"),
        n("Mul", ["xn", "ln_g"], ["xg"], name="/blocks/ln/Mul"),
        n("Add", ["xg", "ln_b"], ["ln"], name="/blocks/ln/Add_1"),
        # GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        n("Pow", ["ln", "three"], ["x3"], name="/blocks/gelu/Pow"),
        n("Mul", ["x3", "c044"], ["x3c"], name="/blocks/gelu/Mul"),
        n("Add", ["ln", "x3c"], ["inner"], name="/blocks/gelu/Add"),
        n("Mul", ["inner", "sqrt2pi"], ["inner2"], name="/blocks/gelu/Mul_1"),
        n("Tanh", ["inner2"], ["th"], name="/blocks/gelu/Tanh"),
        n("Add", ["th", "one"], ["th1"], name="/blocks/gelu/Add_1"),
        n("Mul", ["ln", "half"], ["xhalf"], name="/blocks/gelu/Mul_2"),
        n("Mul", ["xhalf", "th1"], ["gelu"], name="/blocks/gelu/Mul_3"),
        n("MatMul", ["gelu", "w2"], ["fc2"], name="/blocks/fc2/MatMul"),
        n("Add", ["fc2", "b2"], ["fc2b"], name="/blocks/fc2/Add"),
        n("Add", ["tokens", "fc2b"], ["res"], name="/blocks/residual/Add"),
        n("ReduceMean", ["res"], ["pooled"], name="/pool/ReduceMean", axes=[1], keepdims=0),
        n("MatMul", ["pooled", "w3"], ["logits"], name="/head/MatMul"),
    ]
    graph = helper.make_graph(
        nodes, "written_out_ln_gelu", [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["batch", 16, d])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path, 8)


def make_mobilenetv3_block(path: Path, seed: int = 0) -> Path:
    """x[batch,16,28,28] -> logits[batch,10]: 1x1 expand, HardSwish, depthwise 3x3 (group=64), HardSwish,
    squeeze-excite (GAP, Conv, Relu, Conv, HardSigmoid, Mul), 1x1 project, residual Add, GAP, Flatten, Gemm."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    c, e, s = 16, 64, 16

    def bias(k):
        return (rng.standard_normal(k) * 0.1).astype(np.float32)

    dw = (rng.standard_normal((e, 1, 3, 3)) * np.sqrt(2.0 / 9)).astype(np.float32)
    inits = [_init("exp_w", _conv_w(rng, e, c, 1)), _init("exp_b", bias(e)),
             _init("dw_w", dw), _init("dw_b", bias(e)),
             _init("se1_w", _conv_w(rng, s, e, 1)), _init("se1_b", bias(s)),
             _init("se2_w", _conv_w(rng, e, s, 1)), _init("se2_b", bias(e)),
             _init("proj_w", (_conv_w(rng, c, e, 1) * 0.5).astype(np.float32)), _init("proj_b", bias(c)),
             _init("fc_w", (rng.standard_normal((10, c)) * 0.5).astype(np.float32)), _init("fc_b", np.zeros(10, np.float32))]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "exp_w", "exp_b"], ["ex"], name="/block/expand/Conv"),
        n("HardSwish", ["ex"], ["ex_a"], name="/block/expand/HardSwish"),
        n("Conv", ["ex_a", "dw_w", "dw_b"], ["dwo"], name="/block/dw/Conv", group=e, pads=[1, 1, 1, 1]),
        n("HardSwish", ["dwo"], ["dw_a"], name="/block/dw/HardSwish"),
        n("GlobalAveragePool", ["dw_a"], ["se_p"], name="/block/se/GlobalAveragePool"),
        n("Conv", ["se_p", "se1_w", "se1_b"], ["se1"], name="/block/se/fc1/Conv"),
        n("Relu", ["se1"], ["se1_r"], name="/block/se/Relu"),
        n("Conv", ["se1_r", "se2_w", "se2_b"], ["se2"], name="/block/se/fc2/Conv"),
        n("HardSigmoid", ["se2"], ["se_gate"], name="/block/se/HardSigmoid", alpha=1.0 / 6, beta=0.5),
        n("Mul", ["dw_a", "se_gate"], ["se_out"], name="/block/se/Mul"),
        n("Conv", ["se_out", "proj_w", "proj_b"], ["proj"], name="/block/project/Conv"),
        n("Add", ["x", "proj"], ["res"], name="/block/residual/Add"),
        n("GlobalAveragePool", ["res"], ["gap"], name="/head/GlobalAveragePool"),
        n("Flatten", ["gap"], ["flat"], name="/head/Flatten", axis=1),
        n("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="/head/Gemm", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "mobilenetv3_block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", c, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path, 8)


BUILDERS = {"opset11_convnet": make_opset11_convnet, "dynamic_quantized": make_dynamic_quantized,
            "written_out_ln_gelu": make_written_out_ln_gelu, "mobilenetv3_block": make_mobilenetv3_block}


def _input_shapes(model_path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each real input's shape for one call (symbolic axes as 1) and its dtype."""
    from harness.exporters.onnx_tools import graph_inputs

    return {name: (tuple(d if isinstance(d, int) and d > 0 else 1 for d in dims), dtype)
            for name, (dims, dtype) in graph_inputs(model_path).items()}


def _realistic(rng, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Noise plus a per-call offset per channel (images: axis 1, tokens: the feature axis): pure noise averages
    out under global pooling, so every call would get the same class; real inputs differ in content."""
    x = rng.standard_normal((n, *shape))
    axis = 2 if len(shape) == 4 else len(shape)          # (n, 1, C, H, W) -> C; (n, 1, T, D) -> D
    offset_shape = [n] + [1] * len(shape)
    offset_shape[axis] = shape[axis - 1]
    return x + rng.standard_normal(offset_shape)


def make_calls(model_path: Path, npz_path: Path | None = None, n: int = 64, seed: int = 1) -> tuple[Path, Path]:
    """Write n batch-1 calls for model_path (npz: name -> (n, 1, ...)) and labels .npy = the FP32 model's argmax.

    Returns (npz_path, labels_path); the labels file sits next to the npz as <stem>_labels.npy."""
    import onnxruntime as ort

    model_path = Path(model_path)
    npz_path = Path(npz_path) if npz_path else model_path.with_suffix(".npz")
    rng = np.random.default_rng(seed)
    calls = {name: _realistic(rng, n, shape).astype(dtype) for name, (shape, dtype) in _input_shapes(model_path).items()}
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    labels = np.array([int(np.argmax(sess.run(None, {k: v[i] for k, v in calls.items()})[0]))
                       for i in range(n)], np.int64)
    np.savez(npz_path, **calls)
    labels_path = npz_path.with_name(npz_path.stem + "_labels.npy")
    np.save(labels_path, labels)
    return npz_path, labels_path


def make_all(directory: Path, n: int = 64) -> dict[str, dict[str, Path]]:
    """Every kind in directory: {kind: {"onnx": path, "npz": calls, "labels": labels.npy}}."""
    directory = Path(directory)
    out = {}
    for kind, build in BUILDERS.items():
        model = build(directory / f"{kind}.onnx")
        npz, labels = make_calls(model, directory / f"{kind}.npz", n=n)
        out[kind] = {"onnx": model, "npz": npz, "labels": labels}
    return out
