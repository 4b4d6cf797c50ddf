"""Facts about an ONNX graph that decide whether a compression recipe applies to it: is it quantized already?

Published ONNX files are sometimes quantized already (an OCR model with ConvInteger + DynamicQuantizeLinear, a
QDQ export from another tool). Quantizing them again fails deep inside onnxruntime's quantizer (KeyError
'140_scale'), fp16 retypes their integer plumbing into an invalid model, and pruning finds no float weights;
the one reason a user needs is "already INT8", said up front by `already_quantized_reason`.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from harness.core.quantized_ops import QUANTIZED_OPS


# operand positions holding quantized weights, per quantized op type (for counting what pruning leaves alone)
QUANTIZED_WEIGHT_OPERANDS = {"ConvInteger": (1,), "MatMulInteger": (1,), "DequantizeLinear": (0,),
                             "QLinearConv": (3,), "QLinearMatMul": (3,), "QGemm": (3,), "MatMulNBits": (1,),
                             "MatMulBnb4": (1,), "DynamicQuantizeMatMul": (1,), "MatMulIntegerToFloat": (1,),
                             "GatherBlockQuantized": (0,)}


def _load(model_or_path: Any):
    import onnx

    if isinstance(model_or_path, (str, Path)):
        return onnx.load(str(model_or_path), load_external_data=False)
    return model_or_path


def _nodes(model) -> list:
    from harness.exporters.onnx_prune import _graphs

    return [n for g in _graphs(model.graph) for n in g.node]


def quantized_ops(model_or_path: Any) -> Counter:
    """Counter of the quantized op types in the graph and its subgraphs (empty for a float graph)."""
    return Counter(n.op_type for n in _nodes(_load(model_or_path)) if n.op_type in QUANTIZED_OPS)


def quantized_weight_count(model_or_path: Any) -> int:
    """How many initializers feed a quantized op's weight operand (the integer weights of the graph)."""
    from harness.exporters.onnx_prune import _graphs

    model = _load(model_or_path)
    inits = {i.name for g in _graphs(model.graph) for i in g.initializer}
    names = {n.input[p] for n in _nodes(model) for p in QUANTIZED_WEIGHT_OPERANDS.get(n.op_type, ())
             if p < len(n.input) and n.input[p] in inits}
    return len(names)


def describe_quantized(counts: Counter, limit: int = 3) -> str:
    """"21 ConvInteger, 5 DynamicQuantizeLinear nodes": the most frequent types first."""
    parts = [f"{n} {op}" for op, n in counts.most_common(limit)]
    rest = sum(n for _, n in counts.most_common()[limit:])
    return ", ".join(parts) + (f" and {rest} other quantized" if rest else "") + " nodes"


def quantized_reason(counts: Counter) -> str | None:
    """"already INT8: 21 ConvInteger, 5 DynamicQuantizeLinear nodes" for quantized_ops' counts, or None."""
    return f"already INT8: {describe_quantized(counts)}" if counts else None


def already_quantized_reason(model_or_path: Any) -> str | None:
    """quantized_reason of the graph: None for a float graph."""
    return quantized_reason(quantized_ops(model_or_path))
