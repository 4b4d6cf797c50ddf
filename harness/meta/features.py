"""Meta-features of a (model, recipe, device): what the predictor sees.

- graph features of the FP32 ONNX graph at batch 1: parameters, MACs, activation bytes, depth (longest path in
  nodes), operator histogram;
- weight statistics of its weights: per-layer norms, sparsity, outlier-ness (kurtosis), the int8 quantization
  error of the weights (per tensor and per output channel), and how much weight norm a pruning level removes;
- recipe parameters (precision, sparsity / channel fraction, per-channel, calibration, dynamic, chain length),
  and the share of weights and MACs prune-structured would keep (harness.meta.shrink);
- the device (profile name and a few facts of its environment record);
- with real probe inputs stored next to the FP32 root, how the model's outputs react to the recipe's weight
  perturbation (harness.meta.sensitivity: data_* features).

All numbers; categorical values are one-hot, so a held-out method still shares features (bits, sparsity) with
the methods the predictor saw.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np

from harness.core.errors import ModelError, UsageError, message_line
from harness.meta.sensitivity import data_features

OPS = ("Conv", "Gemm", "MatMul", "Relu", "Clip", "Add", "Mul", "MaxPool", "AveragePool", "GlobalAveragePool",
       "BatchNormalization", "Reshape", "Flatten", "Softmax", "LayerNormalization", "Gather", "Transpose",
       "Erf", "Div", "Sub")
CALIBRATIONS = ("minmax", "entropy", "percentile")
DEVICES = ("cpu", "nvidia-gpu", "jetson")
PRUNE_LEVELS = (0.3, 0.5, 0.7, 0.9)


# -- graph features ----------------------------------------------------------------------------------------------
def _fix_batch(model) -> None:
    """Every dynamic dimension -> 1 (batch 1, and the example's fixed sequence length stays as exported)."""
    for value in list(model.graph.input) + list(model.graph.output):
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1


def _shape(info) -> list[int] | None:
    t = info.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return None if any(d is None for d in dims) else dims


def _inferred(model):
    """(graph, {tensor: shape}, {initializer name: TensorProto}) of a private copy with batch 1 and shapes
    inferred."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())   # private copy: shapes get fixed
    _fix_batch(model)
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:
        raise ModelError(f"shape inference failed: {message_line(exc, 200)}") from None
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    shapes: dict[str, list[int]] = {}
    for info in list(g.input) + list(g.value_info) + list(g.output):
        s = _shape(info)
        if s is not None:
            shapes[info.name] = s
    for name, init in inits.items():
        shapes[name] = list(init.dims)
    return g, shapes, inits


def node_macs(g, shapes: dict[str, list[int]], inits: dict) -> dict[str, int]:
    """Multiply-accumulates at batch 1 of every Conv/Gemm/MatMul node, by the name of its first output."""
    out: dict[str, int] = {}
    for node in g.node:
        y = shapes.get(node.output[0]) if node.output else None
        if y is None:
            continue
        if node.op_type == "Conv" and node.input[1] in shapes:
            out[node.output[0]] = int(np.prod(y)) * int(np.prod(shapes[node.input[1]][1:]))  # (Cout, Cin/g, kH, kW)
        elif node.op_type == "Gemm" and node.input[0] in shapes:
            a = shapes[node.input[0]]
            trans_a = next((x.i for x in node.attribute if x.name == "transA"), 0)
            out[node.output[0]] = int(np.prod(y)) * int(a[0] if trans_a else a[-1])
        elif node.op_type == "MatMul" and node.input[0] in shapes:
            out[node.output[0]] = int(np.prod(y)) * int(shapes[node.input[0]][-1])
    return out


def graph_features(model) -> dict[str, float]:
    """Parameters, MACs, activation bytes, depth and operator histogram of an ONNX ModelProto (FP32 graph)."""
    from onnx import numpy_helper

    g, shapes, inits = _inferred(model)
    params = sum(int(np.prod(i.dims)) for i in g.initializer
                 if numpy_helper.to_array(i).dtype.kind == "f" and len(i.dims) >= 1)
    macs = sum(node_macs(g, shapes, inits).values())
    weight_layers = 0
    depthwise = 0
    hist = {op: 0 for op in OPS}
    other = 0
    for node in g.node:
        if node.op_type in hist:
            hist[node.op_type] += 1
        else:
            other += 1
        if node.op_type == "Conv" and node.input[1] in shapes:
            weight_layers += 1
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            depthwise += int(groups > 1 and shapes[node.input[1]][1] == 1)
        elif node.op_type == "Gemm" and node.input[0] in shapes:
            weight_layers += 1
        elif node.op_type == "MatMul" and node.input[0] in shapes:
            weight_layers += int(node.input[1] in inits)
    # activations: every tensor produced by a node (float32 at batch 1)
    produced = [o for n in g.node for o in n.output if o in shapes]
    act = [int(np.prod(shapes[o])) * 4 for o in produced]
    graph_inputs = [i for i in g.input if i.name not in inits]
    input_bytes = sum(int(np.prod(shapes.get(i.name, [0]))) * 4 for i in graph_inputs)
    feats = {
        "params": float(params), "log_params": float(np.log10(max(params, 1))),
        "macs": float(macs), "log_macs": float(np.log10(max(macs, 1))),
        "macs_per_param": float(macs / max(params, 1)),
        "activation_bytes": float(sum(act)), "log_activation_bytes": float(np.log10(max(sum(act), 1))),
        "max_activation_bytes": float(max(act) if act else 0), "input_bytes": float(input_bytes),
        "depth": float(_depth(g)), "nodes": float(len(g.node)), "weight_layers": float(weight_layers),
        "depthwise_convs": float(depthwise), "op_other": float(other),
    }
    feats.update({f"op_{op}": float(n) for op, n in hist.items()})
    return feats


def _depth(g) -> int:
    """Longest chain of nodes from an input to an output (nodes are topologically sorted in ONNX)."""
    level: dict[str, int] = {}
    best = 0
    for node in g.node:
        d = 1 + max((level.get(i, 0) for i in node.input if i), default=0)
        for o in node.output:
            level[o] = d
        best = max(best, d)
    return best


# -- weight statistics --------------------------------------------------------------------------------------------
def _weights(model) -> list[np.ndarray]:
    """Weight tensors of Conv/Gemm/MatMul layers (rank >= 2, float)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul") and len(node.input) > 1 and node.input[1] in inits:
            w = numpy_helper.to_array(inits[node.input[1]])
            if w.dtype.kind == "f" and w.ndim >= 2:
                w = w.astype(np.float64)
                # MatMul weights are (in, out): make the output channel the first axis like Conv/Gemm
                out.append(w.T if node.op_type == "MatMul" else w)
    return out


def int8_round(w: np.ndarray, per_channel: bool) -> np.ndarray:
    """w after symmetric int8 quantization and back (one scale per output channel, or one for the tensor)."""
    flat = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    scale = np.abs(flat).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return (np.clip(np.round(flat / scale), -127, 127) * scale).reshape(w.shape)


def _qerr(w: np.ndarray, per_channel: bool) -> float:
    """Relative RMS error of symmetric int8 quantization of w (per tensor or per output channel)."""
    return float(np.sqrt(np.mean((int8_round(w, per_channel) - w) ** 2)) / (np.sqrt(np.mean(w ** 2)) + 1e-12))


def weight_features(model) -> dict[str, float]:
    ws = _weights(model)
    if not ws:
        return {k: 0.0 for k in ("layer_norm_mean", "layer_norm_max", "layer_norm_cv", "weight_sparsity",
                                 "weight_kurtosis_max", "weight_kurtosis_mean", "qerr_tensor_mean",
                                 "qerr_tensor_max", "qerr_channel_mean", "qerr_channel_max", "min_layer_channels",
                                 "first_layer_params_frac", "last_layer_params_frac", "qerr_tensor_fanin",
                                 "qerr_channel_fanin", "min_layer_params_frac", "layer_params_cv")}
    rms = np.array([np.sqrt(np.mean(w ** 2)) for w in ws])
    kurt = np.array([float(np.mean((w - w.mean()) ** 4) / (w.var() ** 2 + 1e-24)) for w in ws])
    qt = np.array([_qerr(w, False) for w in ws])
    qc = np.array([_qerr(w, True) for w in ws])
    total = sum(w.size for w in ws)
    feats = {
        "layer_norm_mean": float(rms.mean()), "layer_norm_max": float(rms.max()),
        "layer_norm_cv": float(rms.std() / (rms.mean() + 1e-12)),
        "weight_sparsity": float(sum(int((w == 0).sum()) for w in ws) / total),
        "weight_kurtosis_max": float(kurt.max()), "weight_kurtosis_mean": float(kurt.mean()),
        "qerr_tensor_mean": float(qt.mean()), "qerr_tensor_max": float(qt.max()),
        "qerr_channel_mean": float(qc.mean()), "qerr_channel_max": float(qc.max()),
        "min_layer_channels": float(min(w.shape[0] for w in ws)),
        "first_layer_params_frac": float(ws[0].size / total), "last_layer_params_frac": float(ws[-1].size / total),
    }
    # architecture-relative sensitivity proxies, comparable between nets of different scale: the weight error of
    # int8 weighted by each layer's fan-in (an output sums fan-in quantized products), and how small the smallest
    # layer is (global magnitude pruning empties small layers first)
    fan_in = np.array([w[0].size for w in ws], dtype=np.float64)
    sizes = np.array([w.size for w in ws], dtype=np.float64)
    feats["qerr_tensor_fanin"] = float(np.sum(qt * fan_in) / fan_in.sum())
    feats["qerr_channel_fanin"] = float(np.sum(qc * fan_in) / fan_in.sum())
    feats["min_layer_params_frac"] = float(sizes.min() / total)
    feats["layer_params_cv"] = float(sizes.std() / (sizes.mean() + 1e-12))
    return feats


def pruned_energy(model, sparsity: float) -> tuple[float, float]:
    """(fraction of squared weight norm removed by global magnitude pruning at `sparsity`, largest fraction of any
    one layer's weights removed) — what unstructured pruning costs this model's weights."""
    ws = _weights(model)
    if not ws or sparsity <= 0:
        return 0.0, 0.0
    flat = np.concatenate([np.abs(w).ravel() for w in ws])
    k = int(round(sparsity * flat.size))
    if k == 0:
        return 0.0, 0.0
    thr = np.partition(flat, k - 1)[k - 1]
    removed = float(np.sum(flat[flat <= thr] ** 2) / (np.sum(flat ** 2) + 1e-24))
    worst = max(float(np.mean(np.abs(w) <= thr)) for w in ws)
    return removed, worst


def structured_energy(model, amount: float) -> float:
    """Mean over layers of the fraction of L1 norm in the `amount` lowest-L1 output channels (what structured
    pruning removes before fine-tuning); the last layer (the classifier) is kept, as prune-structured does."""
    ws = _weights(model)[:-1]
    if not ws or amount <= 0:
        return 0.0
    fracs = []
    for w in ws:
        l1 = np.sort(np.abs(w.reshape(w.shape[0], -1)).sum(axis=1))
        n = int(np.floor(amount * len(l1)))
        fracs.append(float(l1[:n].sum() / (l1.sum() + 1e-24)))
    return float(np.mean(fracs))


@lru_cache(maxsize=64)
def _model_features(path: str, mtime: float) -> tuple[str, Any]:
    import onnx

    model = onnx.load(path)
    return json.dumps(graph_features(model) | weight_features(model)), model


@lru_cache(maxsize=256)
def _shape_cached(path: str, mtime: float, amount: float) -> tuple[tuple[str, float], ...]:
    from harness.meta.shrink import structured_shape

    return tuple(sorted(structured_shape(_model_features(path, mtime)[1], amount).items()))


def _structured_kept(path: str, amount: float) -> dict[str, float]:
    if amount <= 0:
        return {"params_kept": 1.0, "macs_kept": 1.0}
    from pathlib import Path

    p = Path(path).resolve()
    return dict(_shape_cached(str(p), p.stat().st_mtime, float(amount)))


def model_features(path: str) -> tuple[dict[str, float], Any]:
    """(graph + weight features, ModelProto) of the FP32 ONNX file at `path` (cached by path and mtime)."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"FP32 model file {path} is gone (artifacts deleted?); run `harness sweep` again "
                         "to re-export it")
    text, model = _model_features(str(p.resolve()), p.stat().st_mtime)
    return json.loads(text), model


# -- recipe and device --------------------------------------------------------------------------------------------
def parse_steps(recipe: str) -> list[tuple[str, dict[str, Any]]]:
    from harness.exporters.recipes import parse_recipe

    try:
        steps = parse_recipe(recipe)
    except UsageError:
        raise
    return [(s.exporter, s.params) for s in steps]


def recipe_features(recipe: str, model=None) -> dict[str, float]:
    """Numbers describing a recipe: precision of weights/activations, pruning levels, quantization options;
    with the FP32 model, also what the pruning level removes from its weights and the int8 error it implies."""
    from harness.exporters.prune_structured import PruneStructuredConfig
    from harness.exporters.prune_unstructured import PruneUnstructuredConfig

    steps = [s for s in parse_steps(recipe) if s[0] != "fp32"]
    f = {"weight_bits": 32.0, "act_bits": 32.0, "unstructured_sparsity": 0.0, "structured_amount": 0.0,
         "fine_tuned": 0.0, "int8_static": 0.0, "int8_dynamic": 0.0, "fp16": 0.0, "per_channel": 0.0,
         "chain_length": float(len(steps)), "matmul_only": 0.0, "prunes": 0.0, "quantizes": 0.0}
    f.update({f"calib_{c}": 0.0 for c in CALIBRATIONS})
    for name, params in steps:
        if name == "prune-unstructured":
            f["unstructured_sparsity"] = float(params.get("sparsity", PruneUnstructuredConfig.sparsity))
            f["prunes"] = 1.0
        elif name == "prune-structured":
            f["structured_amount"] = float(params.get("amount", PruneStructuredConfig.amount))
            f["fine_tuned"] = float(bool(params.get("fine_tune", True)))
            f["prunes"] = 1.0
        elif name == "int8-static":
            f.update(weight_bits=8.0, act_bits=8.0, int8_static=1.0, quantizes=1.0,
                     per_channel=float(bool(params.get("per_channel", True))))
            f[f"calib_{str(params.get('calibration_method', 'minmax')).lower()}"] = 1.0
        elif name == "int8-dynamic":
            f.update(weight_bits=8.0, act_bits=8.0, int8_dynamic=1.0, quantizes=1.0,
                     per_channel=float(bool(params.get("per_channel", True))),
                     matmul_only=float("matmul" in str(params.get("op_types", "")).lower()))
        elif name == "fp16":
            f.update(weight_bits=min(f["weight_bits"], 16.0), act_bits=min(f["act_bits"], 16.0), fp16=1.0)
        else:   # torchscript, tensorrt...: described by name only
            f[f"step_{name}"] = 1.0
    if model is not None:
        removed, worst = pruned_energy(model, f["unstructured_sparsity"])
        f["pruned_energy"] = removed
        f["pruned_worst_layer"] = worst
        f["structured_energy"] = structured_energy(model, f["structured_amount"])
    return f


def device_features(device: str, environment: str | dict | None = None) -> dict[str, float]:
    env = json.loads(environment) if isinstance(environment, str) else (environment or {})
    f = {f"device_{d}": float(device == d) for d in DEVICES}
    dev = env.get("device") if isinstance(env.get("device"), dict) else {}
    isa = " ".join(str(x) for x in (dev.get("isa") or []))
    f["cpu_vnni"] = float("vnni" in isa)
    f["cpu_avx512"] = float("avx512" in isa)
    f["logical_cores"] = float(dev.get("logical_cores") or 0)
    board = dev.get("board") or dev.get("model")
    if isinstance(board, str) and board and device != "cpu":
        # Jetson module / GPU name, one-hot: a predictor trained on one board says nothing of an unseen one
        f["board_" + "".join(ch if ch.isalnum() else "_" for ch in board.lower())[:40]] = 1.0
    return f


def features(fp32_path: str, recipe: str, device: str, environment: str | dict | None = None,
             task: str = "classification", fp32_latency_ms: float | None = None) -> dict[str, float]:
    """Every feature of one (model, recipe, device). `fp32_latency_ms`, the FP32 root's measured p50 on the
    device, places the model between overhead-bound (microseconds: extra quantize nodes cost more than they
    save) and compute-bound (milliseconds: int8 kernels pay off); a prediction always has it, since it needs
    the root measured."""
    base, model = model_features(fp32_path)
    out = dict(base)
    if fp32_latency_ms is not None and fp32_latency_ms > 0:
        out["log_fp32_latency_ms"] = float(np.log10(fp32_latency_ms))
        out["fp32_us_per_node"] = float(1000.0 * fp32_latency_ms / max(base["nodes"], 1.0))
        out["fp32_gmacs_per_s"] = float(base["macs"] / (fp32_latency_ms * 1e6))
    out.update(recipe_features(recipe, model))
    out.update(device_features(device, environment))
    out.update(data_features(fp32_path, recipe, task))
    # what the recipe leaves of the weights and the compute (prune-structured shrinks layers; precision scales
    # bytes): size and a first-order latency follow from the graph, so the trees need not learn them
    kept = _structured_kept(fp32_path, out["structured_amount"])
    out["params_kept"], out["macs_kept"] = kept["params_kept"], kept["macs_kept"]
    out["weight_bytes_kept"] = kept["params_kept"] * out["weight_bits"] / 32.0
    out["task_embedding"] = float(task == "embedding")
    qc, qt = base["qerr_channel_mean"], base["qerr_tensor_mean"]
    # the weight error this recipe's quantization implies (0 without int8)
    out["recipe_qerr"] = (qc if out["per_channel"] else qt) if out["weight_bits"] == 8 else 0.0
    out["recipe_qerr_fanin"] = ((base["qerr_channel_fanin"] if out["per_channel"] else base["qerr_tensor_fanin"])
                                if out["weight_bits"] == 8 else 0.0)
    # shares that place an architecture among others whatever its size (the policy's descriptor uses them too)
    convs, dense = base["op_Conv"], base["op_Gemm"] + base["op_MatMul"]
    out["conv_share"] = convs / max(convs + dense, 1.0)
    out["depthwise_share"] = base["depthwise_convs"] / max(convs, 1.0)
    # unstructured sparsity against the smallest layer's share: high when pruning can empty a layer
    out["prune_vs_min_layer"] = out["unstructured_sparsity"] * (1.0 - base["min_layer_params_frac"])
    return out
