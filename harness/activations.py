"""Per-layer activation similarity between a variant and its base over the eval data.

For ONNX files the intermediate tensors are exposed by adding them as graph outputs (in memory; the files on
disk are untouched) and both models run in onnxruntime on the same inputs. Layers are matched by tensor name:
INT8 QDQ, FP16 (Cast-wrapped) and pruned graphs keep the names of the original tensors, so most layers pair up;
a QOperator graph or a renamed one pairs up only where names survive.

  linear CKA (Kornblith et al., 2019) over instances: 1 = the same representation up to rotation and scale;
  it needs no equal widths, so a structurally pruned layer (fewer channels) is still compared;
  mean cosine per instance: only where both tensors have the same shape.
Where a quantizer folded an activation into its QuantizeLinear (Conv+Relu in QDQ graphs), the tensor that keeps
the Relu's name holds pre-activation values: cosine then drops while CKA stays high, which is what the graph does.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

import numpy as np

log = logging.getLogger(__name__)

# ops whose output is a layer's representation (not bookkeeping like Shape/Cast/QuantizeLinear)
LAYER_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Relu", "Gelu", "Sigmoid", "Tanh", "MaxPool",
             "AveragePool", "GlobalAveragePool", "BatchNormalization", "LayerNormalization", "Softmax", "Flatten",
             "Add", "Attention", "Erf"}
MAX_LAYERS = 48            # the view stays readable; deeper graphs are sampled evenly
MAX_INSTANCES = 128        # CKA's Gram matrices are n x n; enough instances for a stable estimate
MAX_FEATURES = 4096        # per layer and instance: a fixed random subset of a larger map (a ResNet's first
                           # conv has 800k values per image; 48 such layers x 128 images would not fit in memory)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two (n, features) activation matrices (feature counts may differ)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    x = x - x.mean(axis=0, keepdims=True)
    y = y - y.mean(axis=0, keepdims=True)
    # Gram form: cheap when features >> instances (conv maps); same value as the feature form
    k, l_ = x @ x.T, y @ y.T
    hsic = float(np.sum(k * l_))
    den = float(np.sqrt(np.sum(k * k) * np.sum(l_ * l_)))
    return hsic / den if den > 0 else float("nan")


def mean_cosine(x: np.ndarray, y: np.ndarray) -> float | None:
    if x.shape != y.shape:
        return None
    a = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    b = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.sum(a * b, axis=1) / np.maximum(den, 1e-12)))


def layer_tensors(model) -> list[tuple[str, str]]:
    """(tensor name, op type) of the outputs of layer-like nodes, in graph order."""
    out = []
    graph_outputs = {o.name for o in model.graph.output}
    for node in model.graph.node:
        if node.op_type in LAYER_OPS and node.output and node.output[0] and node.output[0] not in graph_outputs:
            out.append((node.output[0], node.op_type))
    return out


def expose(model, names: Iterable[str]):
    """A copy of `model` with the named intermediate tensors added as graph outputs."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for name in names:
        if name not in have:
            # type left open: onnxruntime takes an output's type from the graph
            m.graph.output.append(onnx.ValueInfoProto(name=name))
    return m


def inspection_session(model):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # optimisations fuse nodes away (Conv+Relu), which would drop the exposed tensors
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _subset(name: str, size: int) -> np.ndarray | None:
    """The same feature indices for a tensor name and size in both models (so cosine compares like with like)."""
    if size <= MAX_FEATURES:
        return None
    seed = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little") ^ size
    return np.sort(np.random.default_rng(seed).choice(size, MAX_FEATURES, replace=False))


def _collect(sess, names: list[str], batches: list[dict[str, np.ndarray]], limit: int) -> dict[str, np.ndarray]:
    inputs = {i.name for i in sess.get_inputs()}
    got: dict[str, list[np.ndarray]] = {n: [] for n in names}
    seen = 0
    for feeds in batches:
        outs = sess.run(names, {k: v for k, v in feeds.items() if k in inputs})
        for n, o in zip(names, outs):
            o = np.asarray(o)
            if o.ndim == 0 or o.dtype.kind != "f":
                continue
            flat = o.reshape(len(o), -1)
            idx = _subset(n, flat.shape[1])
            got[n].append((flat if idx is None else flat[:, idx]).astype(np.float32))
        seen += len(next(iter(feeds.values())))
        if seen >= limit:
            break
    return {n: np.concatenate(v)[:limit] for n, v in got.items() if v}


def batch_size_of(model, default: int = 32) -> int:
    """The first input's fixed leading dimension, or `default` when it is dynamic."""
    dims = model.graph.input[0].type.tensor_type.shape.dim if model.graph.input else []
    return int(dims[0].dim_value) if dims and dims[0].dim_value > 0 else default


def compare_files(base_path: str, variant_path: str, eval_data, max_instances: int = MAX_INSTANCES
                  ) -> list[dict[str, Any]]:
    """[{layer, op_type, cka, cosine, n}] for the layers both ONNX files share, in the base's graph order.
    `eval_data` is an harness.examples.base.EvalData (its `batches`)."""
    import onnx

    base, var = onnx.load(base_path), onnx.load(variant_path)
    batches = eval_data.batches(batch_size_of(base))
    base_layers = layer_tensors(base)
    var_names = {o for node in var.graph.node for o in node.output}
    shared = [(n, op) for n, op in base_layers if n in var_names]
    if len(shared) > MAX_LAYERS:
        keep = np.linspace(0, len(shared) - 1, MAX_LAYERS).round().astype(int)
        shared = [shared[i] for i in sorted(set(keep.tolist()))]
    if not shared:
        return []
    names = [n for n, _ in shared]
    a = _collect(inspection_session(expose(base, names)), names, batches, max_instances)
    b = _collect(inspection_session(expose(var, names)), names, batches, max_instances)
    rows = []
    for name, op in shared:
        if name not in a or name not in b or len(a[name]) != len(b[name]) or a[name].dtype.kind != "f" \
                or b[name].dtype.kind != "f" or len(a[name]) < 2:
            continue
        cka = linear_cka(a[name], b[name])
        rows.append({"layer": name, "op_type": op, "cka": None if cka != cka else cka,
                     "cosine": mean_cosine(a[name], b[name]), "n": int(len(a[name]))})
    return rows
