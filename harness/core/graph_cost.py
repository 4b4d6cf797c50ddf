"""Work and memory traffic of one inference, counted from an ONNX graph: the x and y of a roofline.

MACs are the multiply-accumulates of the dense kernels (Conv, ConvTranspose, MatMul, Gemm and their integer and
QLinear forms), the usual definition (FLOPs = 2 x MACs); element-wise ops, pooling and normalisation add no MACs.
Bytes moved assume no fusion and no cache reuse between ops: every initializer is read once, and each op reads
its activation inputs from memory and writes its outputs (view-only ops such as Reshape move nothing). That is
an upper bound on DRAM traffic, so the arithmetic intensity it gives is a lower bound.

Shapes come from ONNX shape inference with the measured feed shapes substituted for the graph's inputs; ops
whose shapes cannot be inferred are listed in `uncounted` rather than guessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

DENSE_OPS = {"Conv", "ConvInteger", "QLinearConv", "ConvTranspose", "MatMul", "MatMulInteger", "QLinearMatMul",
             "Gemm", "FusedMatMul", "MatMulNBits"}
# ops that only relabel a tensor (onnxruntime makes them zero-copy) or produce metadata
VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Size", "Constant"}


@dataclass(frozen=True)
class GraphCost:
    """Per-inference cost of one graph at given input shapes."""

    macs: int
    weight_bytes: int
    activation_bytes: int
    uncounted: tuple[str, ...] = ()        # "op_type node_name: why" for dense ops whose MACs are unknown
    counter: str = "harness"
    per_op_macs: dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def arithmetic_intensity(self) -> float | None:
        """FLOPs per byte moved."""
        return self.flops / self.bytes if self.bytes else None


def _elem_bytes(elem_type: int) -> int:
    from onnx import helper

    return int(np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).itemsize)


def _concrete(model, input_shapes: Mapping[str, Sequence[int]]):
    """A copy of the model whose graph inputs have the measured shapes, with shapes inferred throughout."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for inp in m.graph.input:
        if inp.name in input_shapes:
            dims = inp.type.tensor_type.shape.dim
            shape = list(input_shapes[inp.name])
            del dims[:]
            for d in shape:
                dims.add().dim_value = int(d)
    return onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)


def _value_infos(model) -> dict[str, tuple[tuple[int, ...] | None, int]]:
    """name -> (shape or None when not fully known, element type)."""
    out = {}
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            out[vi.name] = (None, tt.elem_type)
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        out[vi.name] = (None if any(d is None for d in dims) else tuple(int(d) for d in dims), tt.elem_type)
    for init in g.initializer:
        out[init.name] = (tuple(int(d) for d in init.dims), init.data_type)
    return out


def _macs(node, shapes) -> int | None:
    """MACs of one dense op, or None when a shape it needs is unknown."""
    op = node.op_type
    attrs = {a.name: a for a in node.attribute}

    def shape(i: int) -> tuple[int, ...] | None:
        if i >= len(node.input) or not node.input[i]:
            return None
        return shapes.get(node.input[i], (None, 0))[0]

    out = shapes.get(node.output[0], (None, 0))[0] if node.output else None
    if op in ("Conv", "ConvInteger"):
        w = shape(1)
        return None if w is None or out is None else int(np.prod(out)) * int(np.prod(w[1:]))
    if op == "QLinearConv":   # x, x_scale, x_zp, w, ...
        w = shape(3)
        return None if w is None or out is None else int(np.prod(out)) * int(np.prod(w[1:]))
    if op == "ConvTranspose":
        x, w = shape(0), shape(1)
        # every input element is scattered through Cout/group x kernel weights
        return None if x is None or w is None else int(np.prod(x)) * int(np.prod(w[1:]))
    if op in ("MatMul", "MatMulInteger", "FusedMatMul", "QLinearMatMul"):
        a = shape(0)
        if a is None or out is None:
            return None
        k = a[-1]
        if op == "FusedMatMul" and "transA" in attrs and attrs["transA"].i:
            k = a[-2]
        return int(np.prod(out)) * int(k) if len(a) >= 1 else None
    if op == "Gemm":
        a = shape(0)
        if a is None or out is None:
            return None
        trans_a = attrs["transA"].i if "transA" in attrs else 0
        k = a[0] if trans_a else a[-1]
        return int(np.prod(out)) * int(k)
    return None


def count_graph(model_or_path, input_shapes: Mapping[str, Sequence[int]] | None = None) -> GraphCost:
    """Count MACs and bytes moved for one inference at `input_shapes` (name -> shape; default: the graph's own
    fixed shapes)."""
    import onnx

    model = onnx.load(str(model_or_path), load_external_data=True) if not isinstance(
        model_or_path, onnx.ModelProto) else model_or_path
    model = _concrete(model, input_shapes or {})
    shapes = _value_infos(model)
    g = model.graph
    init_names = {i.name for i in g.initializer}
    weight_bytes = sum(int(np.prod(i.dims)) * _elem_bytes(i.data_type) for i in g.initializer)
    # Constant nodes are weights too (the dynamo exporter and quantizers emit some)
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t is not None:
                    weight_bytes += int(np.prod(a.t.dims)) * _elem_bytes(a.t.data_type)

    def tensor_bytes(name: str) -> int | None:
        shape, elem = shapes.get(name, (None, 0))
        if shape is None or not elem:
            return None
        return int(np.prod(shape)) * _elem_bytes(elem)

    macs, activation_bytes = 0, 0
    uncounted: list[str] = []
    per_op: dict[str, int] = {}
    for node in g.node:
        if node.op_type in DENSE_OPS:
            m = _macs(node, shapes)
            if m is None:
                uncounted.append(f"{node.op_type} {node.name or node.output[0]}: shape unknown")
            else:
                macs += m
                per_op[node.op_type] = per_op.get(node.op_type, 0) + m
        if node.op_type in VIEW_OPS:
            continue
        for name in list(node.input) + list(node.output):
            if not name or name in init_names:
                continue
            b = tensor_bytes(name)
            if b is not None:
                activation_bytes += b
    return GraphCost(macs=macs, weight_bytes=weight_bytes, activation_bytes=activation_bytes,
                     uncounted=tuple(uncounted), per_op_macs=per_op)


def onnx_tool_macs(path: str, input_shapes: Mapping[str, Sequence[int]]) -> int:
    """MACs as counted by onnx-tool (for benchmarks/roofline comparisons; harness stores its own count)."""
    import onnx_tool

    m = onnx_tool.Model(str(path))
    m.graph.shape_infer({k: np.zeros(tuple(v), dtype=np.float32) for k, v in input_shapes.items()})
    m.graph.profile()
    return int(m.graph.macs[0] if isinstance(m.graph.macs, (list, tuple)) else m.graph.macs)
