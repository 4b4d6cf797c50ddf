"""Which op types int8-static wraps in Q/DQ: a decision per target, recorded with its reason, overridable.

`quantize_static` by default wraps every op type it supports (Add, Mul, pooling, Sigmoid, Softmax, ... besides
the weight layers). On graphs whose LayerNorm and GELU are written out as Mul/Add/ReduceMean/Sqrt/Tanh (JAX/TF
exports) that quantizes the normalisation arithmetic itself and costs accuracy; on a CPU every Q/DQ pair that
does not fuse into an integer kernel costs time. The measurements behind "auto" are in docs/int8.md
(benchmarks/int8_op_types.py); none of their numbers belong in code.

Recipe values: "auto" (per target, below), "all" (the library default: every supported type), or op types
separated by space, ';' or '+' ("Conv+MatMul+Gemm"). `exclude` names nodes to leave in float, same separators.
"""
from __future__ import annotations

import re
from typing import Iterable

from harness.core.errors import ExportError

# the layers that carry weights: where INT8 saves the work (and the bytes)
WEIGHT_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
# ops onnxruntime's CPU provider fuses into integer kernels on x86 when Q/DQ surround them (QLinearAdd,
# QLinearMul, QLinearAveragePool, QLinearGlobalAveragePool, QLinearConcat, QLinearSigmoid, QLinearLeakyRelu) or
# lets run on int8 unchanged (the data-movement ops, MaxPool, Relu/Clip folded into the Conv before them)
X86_FUSED_OPS = WEIGHT_OPS + ("Add", "Mul", "AveragePool", "GlobalAveragePool", "MaxPool", "Concat", "Sigmoid",
                              "LeakyRelu", "Relu", "Clip", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze",
                              "Resize")
# TensorRT's documented Q/DQ placement ("Best practices for Q/DQ placement", TensorRT developer guide): quantize
# the inputs of weighted layers, and the residual input of a skip-connection Add so the Add fuses into the
# convolution before it; leave the rest to TensorRT's own fusions
TENSORRT_OPS = WEIGHT_OPS + ("Add",)

GPU_TARGETS = {"nvidia-gpu", "gpu", "jetson", "tensorrt", "cuda"}
SEPARATORS = re.compile(r"[\s;+]+")


def split_names(text: str | None) -> list[str]:
    """"Conv+MatMul; Gemm" -> ["Conv", "MatMul", "Gemm"] (recipe values cannot hold ',': it separates params)."""
    return [t for t in SEPARATORS.split(str(text or "")) if t]


def resolve_op_types(spec: str, target_device: str) -> tuple[list[str] | None, str]:
    """(op types for quantize_static's op_types_to_quantize, or None for every supported type; why)."""
    text = str(spec or "auto").strip()
    if text.lower() == "all":
        return None, "all: every op type onnxruntime's quantizer supports (the library default)"
    if text.lower() != "auto":
        return split_names(text), "as configured"
    if target_device in GPU_TARGETS:
        return list(TENSORRT_OPS), ("auto on GPU/TensorRT: inputs of Conv/ConvTranspose/MatMul/Gemm and residual "
                                    "Adds (TensorRT's documented Q/DQ placement; not measured here)")
    return list(WEIGHT_OPS), ("auto on CPU: weight layers only (Conv/ConvTranspose/MatMul/Gemm); all op types cost "
                              "accuracy and time on a written-out LayerNorm/GELU classifier (measured on x86, "
                              "docs/int8.md)")


def depthwise_convs(model) -> list[str]:
    """Names of the depthwise Conv nodes (group > 1, one input channel per group) of the main graph. On x86 CPUs
    auto leaves them in float: a MobileNetV3 block ran slower with them in INT8 (docs/int8.md)."""
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    out = []
    for n in model.graph.node:
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        dims = weights.get(n.input[1]) if n.op_type == "Conv" and len(n.input) > 1 else None
        if group > 1 and dims and len(dims) > 1 and dims[1] == 1 and n.name:
            out.append(n.name)
    return out


def library_op_types() -> list[str]:
    """What quantize_static wraps when given no op types (its own rule: QLinear ops and QDQ ops together)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def check_excluded(names: Iterable[str], graph_nodes: Iterable[str]) -> list[str]:
    """The excluded node names, each present in the graph; ExportError naming the ones that are not."""
    names = list(names)
    known = set(graph_nodes)
    missing = [n for n in names if n not in known]
    if missing:
        sample = ", ".join(sorted(n for n in known if n)[:5]) or "(the graph's nodes have no names)"
        raise ExportError(f"int8-static: exclude names node(s) not in the graph: {', '.join(missing)}; "
                          f"node names look like {sample}")
    return names


def quantized_op_types(model, requested: list[str] | None) -> list[str]:
    """Op types (of `requested`; None: all the quantizer supports) that read a DequantizeLinear output in the quantized graph: what got
    Q/DQ. A consumer of a quantized layer's output (Relu after a Q/DQ'd Conv) reads one too, hence the filter."""
    from harness.exporters.onnx_prune import _graphs

    if requested is None:
        requested = library_op_types()
    nodes = [n for g in _graphs(model.graph) for n in g.node]
    dq_out = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    return sorted({n.op_type for n in nodes if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
                   and n.op_type in requested and any(i in dq_out for i in n.input)})
