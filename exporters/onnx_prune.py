"""Magnitude pruning of an ONNX graph's weight initializers, for models that come as a file (no torch module).

The weights are the floating-point initializers and Constant nodes (rank >= 2) feeding the weight operand of
Conv, ConvTranspose, MatMul and Gemm, in the main graph and in If/Loop/Scan subgraphs. One global threshold over all of them zeroes
the `sparsity` fraction of smallest magnitudes (ties at the threshold go too), like the torch path's
`global_magnitude_prune`. Quantized weights (int8 feeding DequantizeLinear, ConvInteger, ...) are not touched:
prune before quantizing. A graph with float weights left next to quantized ones has those pruned (the variant
says how many quantized weights were left alone); one with none left is skipped, saying so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from harness.core.errors import ExportSkipped

# op type -> operand positions that may hold a weight
WEIGHT_OPERANDS = {"Conv": (1,), "ConvTranspose": (1,), "MatMul": (0, 1), "Gemm": (0, 1)}
FLOAT_TYPES = {1, 10, 11, 16}      # float, float16, double, bfloat16
TWO_GB = 2 * 1024**3


def _graphs(graph) -> Iterator:
    """The graph and every subgraph inside it (If branches, Loop/Scan bodies), depth first."""
    from onnx import AttributeProto

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def weight_initializers(model) -> list:
    """The TensorProtos of the prunable weights (see the module docstring), each once."""
    graphs = list(_graphs(model.graph))
    used: set[str] = set()
    for g in graphs:
        for node in g.node:
            for pos in WEIGHT_OPERANDS.get(node.op_type, ()):
                if pos < len(node.input) and node.input[pos]:
                    used.add(node.input[pos])
    out, seen = [], set()
    for g in graphs:
        for init in g.initializer:
            if init.name in used and init.name not in seen and init.data_type in FLOAT_TYPES and len(init.dims) >= 2:
                seen.add(init.name)
                out.append(init)
        # exporters that inline weights write them as Constant nodes (often inside If branches)
        for node in g.node:
            if node.op_type == "Constant" and node.output and node.output[0] in used and node.output[0] not in seen:
                for attr in node.attribute:
                    t = attr.t
                    if attr.name == "value" and t.data_type in FLOAT_TYPES and len(t.dims) >= 2:
                        seen.add(node.output[0])
                        out.append(t)
    return out


def prune_model(model, sparsity: float) -> dict:
    """Zero the smallest-magnitude `sparsity` fraction of the weights in place; returns what it did."""
    from onnx import numpy_helper

    from harness.exporters.graph_facts import (describe_quantized, quantized_ops, quantized_reason,
                                               quantized_weight_count)

    inits = weight_initializers(model)
    counts = quantized_ops(model)
    quantized = quantized_reason(counts)
    if not inits:
        if quantized:
            raise ExportSkipped(f"prune-unstructured: already INT8 ({describe_quantized(counts)}): "
                                "its weights are integers; prune the float model before quantizing (put "
                                "prune-unstructured before int8-* in a recipe)")
        raise ExportSkipped("prune-unstructured: the graph has no floating-point Conv/ConvTranspose/MatMul/Gemm "
                            "weights to prune")
    left_alone = quantized_weight_count(model) if quantized else 0
    notes = [f"{quantized}: {left_alone} quantized weight tensor(s) left alone, {len(inits)} float one(s) "
             "pruned"] if quantized else []
    arrays = [numpy_helper.to_array(i) for i in inits]
    total = sum(a.size for a in arrays)
    k = int(round(sparsity * total))
    zeros_before = sum(int(np.count_nonzero(a == 0)) for a in arrays)
    if k == 0:
        return {"pruned_weights": 0, "weights": total, "tensors": len(inits), "zeros_before": zeros_before,
                "quantized_weights_left": left_alone, "notes": notes}
    flat = np.concatenate([np.abs(a.astype(np.float64, copy=False)).ravel() for a in arrays])
    threshold = np.partition(flat, k - 1)[k - 1]
    zeros = 0
    for init, arr in zip(inits, arrays):
        mask = np.abs(arr.astype(np.float64, copy=False)) > threshold
        pruned = np.where(mask, arr, np.zeros((), dtype=arr.dtype)).astype(arr.dtype)
        zeros += int(np.count_nonzero(~mask))
        new = numpy_helper.from_array(pruned, init.name or None)
        init.ClearField("raw_data")
        init.CopyFrom(new)
    return {"pruned_weights": zeros, "weights": total, "tensors": len(inits), "zeros_before": zeros_before,
            "threshold": float(threshold), "quantized_weights_left": left_alone, "notes": notes}


def prune_file(src: str | Path, out: str | Path, sparsity: float) -> dict:
    """Prune `src` into `out` (weights inside the one file unless it would pass protobuf's 2 GB limit)."""
    import onnx

    model = onnx.load(str(src))
    info = prune_model(model, sparsity)
    if model.ByteSize() >= TWO_GB:
        onnx.save(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=Path(out).name + ".data")
    else:
        onnx.save(model, str(out))
    return info
