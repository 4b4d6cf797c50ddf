"""Did a compression step change anything? A variant that is its base in disguise must not be presented as a
compressed model (e.g. dynamic INT8 on a graph whose weights sit inside If/Loop subgraphs: no integer kernel,
file no smaller; fp16 on a graph that is fp16 already; pruning at sparsity 0).

`no_effect_reason(variant, base)` returns a one-line reason, or None when the step did something.
"""
from __future__ import annotations

from pathlib import Path

from harness.core.variant import Variant, file_hash

FLOAT32 = 1
# a step that leaves at least this fraction of its base's size did not compress the file
SAME_SIZE = 0.95


def _float32_weight_elements(path: str) -> int:
    """Elements of float32 initializers (rank >= 1), main graph and subgraphs."""
    import numpy as np
    import onnx

    from harness.exporters.onnx_prune import _graphs

    model = onnx.load(str(path), load_external_data=False)
    graphs = list(_graphs(model.graph))
    tensors = [i for g in graphs for i in g.initializer]
    # weights inlined as Constant nodes count too
    tensors += [a.t for g in graphs for n in g.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    return sum(int(np.prod(t.dims)) for t in tensors if t.data_type == FLOAT32 and len(t.dims) >= 1)


def _size_text(variant: Variant, base: Variant) -> str:
    from harness.core.units import human_bytes

    return f"{human_bytes(variant.size_bytes)} vs {human_bytes(base.size_bytes)}"


def no_effect_reason(variant: Variant, base: Variant | None) -> str | None:
    if base is None or not variant.ok or not base.ok or not variant.path or not base.path:
        return None
    if Path(variant.path).suffix != ".onnx" or Path(base.path).suffix != ".onnx":
        return None
    if file_hash(variant.path) == file_hash(base.path):
        return f"{variant.operation} changed nothing: the file is byte-identical to {base.name}"
    op = variant.operation or ""
    same_size = (variant.size_bytes or 0) >= SAME_SIZE * (base.size_bytes or 0)
    if op.startswith("int8-"):
        fusion = variant.info.get("fusion") or {}
        base_int = (base.info.get("fusion") or {}).get("integer_ops") or 0
        if (fusion.get("integer_ops") or 0) <= base_int and same_size:
            return (f"{op} changed nothing that matters: no Conv/MatMul/Gemm runs as an integer kernel and the "
                    f"file is no smaller ({_size_text(variant, base)}); weights inside If/Loop subgraphs or ops "
                    "the quantizer does not handle stay float")
    elif op == "fp16":
        try:
            before, after = _float32_weight_elements(base.path), _float32_weight_elements(variant.path)
        except Exception:
            return None
        if same_size and (before == 0 or after >= SAME_SIZE * before):
            return (f"fp16 converted no weights ({after} of {before} float32 weight elements left, "
                    f"{_size_text(variant, base)}): the graph may be fp16 already, or its weights sit in blocked ops")
    elif op == "prune-unstructured":
        pruned = variant.info.get("pruned_weights") or 0
        if pruned == 0:
            return "prune-unstructured zeroed no weights"
        if "zeros_before" in variant.info and pruned <= variant.info["zeros_before"]:
            return (f"prune-unstructured zeroed no new weights ({pruned} zeros, {variant.info['zeros_before']} "
                    "before)")
    return None
