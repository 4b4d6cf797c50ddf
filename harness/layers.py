"""Per-layer weight statistics of an ONNX model, and how each weight tensor changed against the base model.

Layers are matched between base and variant by initializer name. Quantized weights are compared after
dequantizing them: QDQ models store `<name>_quantized` feeding a DequantizeLinear (scale, zero point, axis), and
dynamically quantized models store `<name>_quantized` with `<name>_scale` / `<name>_zero_point` beside it.
fp16 weights are compared as float. A tensor whose shape changed (structured pruning) is "reshaped": it has no
elementwise change.

Relative change per element is |w_var - w_base| / (|w_base| + eps), with eps = 1e-3 x the layer's max |w_base|
so near-zero base weights do not blow up the ratio; a pruned (zeroed) weight changes by ~1.0.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# histogram bin edges for relative change; the last bin also holds everything above its left edge
CHANGE_EDGES = [0.0, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0]
_SUFFIXES = ("_quantized", "_Transposed")   # quantize_dynamic turns Gemm(transB) weights into MatMul weights


@dataclass
class Weight:
    name: str            # the original float initializer name (quantization suffixes removed)
    kind: str            # consuming op and role, e.g. "Conv.weight", "Gemm.bias"
    values: np.ndarray   # float values (dequantized where stored as integers)
    stored_dtype: str
    transposed: bool = False   # stored transposed against the torch/base layout


def _base_name(name: str) -> str:
    for s in _SUFFIXES:
        if name.endswith(s):
            name = name[: -len(s)]
    return name


def _dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int | None) -> np.ndarray:
    q = q.astype(np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    zero = np.zeros_like(scale) if zero is None else np.asarray(zero, dtype=np.float64)
    if scale.size > 1:
        if axis is None:   # dynamic quantization does not record the axis: the one whose length fits
            axis = next((i for i, d in enumerate(q.shape) if d == scale.size), 0)
        shape = [1] * q.ndim
        shape[axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (q - zero) * scale


def read_weights(path: str | Path) -> dict[str, Weight]:
    """{original name: Weight} for every weight/bias tensor of the model (scales, zero points, shapes excluded)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    arrays: dict[str, np.ndarray] = {}

    def arr(name: str) -> np.ndarray:
        if name not in arrays:
            arrays[name] = numpy_helper.to_array(inits[name])
        return arrays[name]

    consumers: dict[str, tuple[str, int, str]] = {}
    for node in graph.node:
        for k, inp in enumerate(node.input):
            consumers.setdefault(inp, (node.op_type, k, node.output[0] if node.output else ""))
    aux: set[str] = set()          # scales and zero points: not weights
    deq: dict[str, tuple[str, Any]] = {}   # quantized initializer -> (consumer of the dequantized value, params)
    for node in graph.node:
        if node.op_type in {"DequantizeLinear", "QuantizeLinear"}:
            aux.update(i for i in node.input[1:] if i)
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            axis = next((a.i for a in node.attribute if a.name == "axis"), None)
            zero = node.input[2] if len(node.input) > 2 and node.input[2] else None
            deq[node.input[0]] = (node.output[0], (node.input[1], zero, axis))
    for name in inits:
        if name.endswith(("_scale", "_zero_point")):
            aux.add(name)

    def kind_of(tensor: str) -> str:
        op, k, produced = consumers.get(tensor, ("?", 0, ""))
        for _ in range(4):   # look through layout ops (a conv bias reshaped before an Add, an fp16 cast)
            if op not in {"Reshape", "Cast", "Transpose", "Unsqueeze"} or produced not in consumers:
                break
            op, k, produced = consumers[produced]
        role = {0: "input", 1: "weight", 2: "bias"}.get(k, f"input{k}")
        if op in {"Conv", "ConvInteger", "QLinearConv", "ConvTranspose"}:
            role = {1: "weight", 2: "bias", 3: "weight"}.get(k, role)
        elif op in {"MatMul", "MatMulInteger", "Gemm"}:
            role = "weight" if k == 1 else ("bias" if k == 2 else role)
        elif op == "Add":
            role = "bias"
        return f"{op}.{role}"

    out: dict[str, Weight] = {}
    for name, init in inits.items():
        if name in aux or len(init.dims) == 0 or int(np.prod(init.dims)) <= 1:
            continue
        a = arr(name)
        if a.dtype.kind not in "fiu" or (a.dtype.kind in "iu" and name not in deq and
                                         not name.endswith("_quantized")):
            continue   # integer shapes/indices
        if name in deq:
            dq_out, (s, z, axis) = deq[name]
            values = _dequantize(a, arr(s), arr(z) if z else None, axis)
            kind = kind_of(dq_out)
        elif a.dtype.kind in "iu":
            base = name[: -len("_quantized")] if name.endswith("_quantized") else name
            if f"{base}_scale" not in inits:
                continue
            z = f"{base}_zero_point"
            values = _dequantize(a, arr(f"{base}_scale"), arr(z) if z in inits else None, None)
            kind = kind_of(name)
        else:
            values = a.astype(np.float64)
            kind = kind_of(name)
        out[_base_name(name)] = Weight(_base_name(name), kind, values, str(a.dtype), "_Transposed" in name)
    return out


def change_stats(base: np.ndarray, var: np.ndarray) -> tuple[float, float, dict[str, list]]:
    """(mean relative change, max relative change, histogram {edges, counts}) of var against base."""
    b, v = base.astype(np.float64).ravel(), var.astype(np.float64).ravel()
    eps = max(1e-3 * float(np.max(np.abs(b))) if b.size else 0.0, 1e-12)
    rel = np.abs(v - b) / (np.abs(b) + eps)
    edges = CHANGE_EDGES
    idx = np.clip(np.searchsorted(edges, rel, side="right") - 1, 0, len(edges) - 1)
    counts = np.bincount(idx, minlength=len(edges)).tolist()
    return float(rel.mean()) if rel.size else 0.0, float(rel.max()) if rel.size else 0.0, \
        {"edges": edges, "counts": counts}


def layer_rows(run_id: str, variant_id: str, path: str | Path, base_path: str | Path | None) -> list[dict[str, Any]]:
    """Rows for the `layers` table: one per weight tensor, with change against the base where it has one."""
    import json

    weights = read_weights(path)
    base = read_weights(base_path) if base_path else {}
    rows = []
    for name, w in weights.items():
        zeros = int(np.count_nonzero(w.values == 0))
        row = {"run_id": run_id, "variant_id": variant_id, "layer": name, "kind": w.kind,
               "param_count": int(w.values.size), "zeros": zeros,
               "sparsity": zeros / w.values.size if w.values.size else 0.0,
               "change_mean_rel": None, "change_max_rel": None, "change_hist": None}
        ref = base.get(name)
        if ref is not None:
            ref_values = ref.values.T if w.transposed != ref.transposed else ref.values
            if ref_values.shape != w.values.shape:
                row["change_hist"] = json.dumps({"reshaped": True, "base_shape": list(ref.values.shape),
                                                 "shape": list(w.values.shape)})
            else:
                mean, mx, hist = change_stats(ref_values, w.values)
                row.update(change_mean_rel=mean, change_max_rel=mx, change_hist=json.dumps(hist))
        rows.append(row)
    return rows
