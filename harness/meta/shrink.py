"""What prune-structured would leave of an ONNX graph, worked out on the graph alone (no torch, no export).

prune-structured removes the lowest-L1 fraction of output channels of every layer whose output reaches exactly one
weight layer through channel-preserving ops, and the matching input channels of that next layer. The size and
compute of the variant follow from which channels go, so a prediction need not learn them: `structured_shape`
gives the share of weights and of multiply-accumulates kept, and `prunable_layers` is the walk the data-dependent
features (harness.meta.sensitivity) perturb.

The walk on the ONNX graph approximates the exporter's torch.fx walk: a graph exported from torch has
BatchNormalization folded or kept as its own node (followed through either way), and a layer that feeds a residual
add, a concatenation, a gate (Mul) or the output keeps its width, as in the exporter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# ops through which an output channel stays the same channel(s) (prune-structured's channel-preserving ops; a
# Flatten before a Linear turns a removed channel into removed input features). Ops with f(0) != 0, like Sigmoid,
# would make a removed channel carry a constant, so they end the walk.
CHANNEL_PRESERVING = {"Relu", "Clip", "LeakyRelu", "HardSwish", "Tanh", "Elu", "Selu", "BatchNormalization",
                      "MaxPool", "AveragePool", "GlobalAveragePool", "Identity", "Dropout", "Flatten"}


@dataclass
class Prunable:
    node: object                  # the Conv / Gemm whose output channels go
    consumer: object              # the one weight layer its output reaches
    batchnorms: list = field(default_factory=list)    # BatchNormalization nodes on the way (their channels go too)


def _is_linear(node) -> bool:
    """A Gemm laid out like torch's Linear (weight (out, in), transB=1)."""
    return node.op_type == "Gemm" and bool(next((a.i for a in node.attribute if a.name == "transB"), 0))


def prunable_layers(graph) -> list[Prunable]:
    inits = {i.name for i in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    found = []
    for node in graph.node:
        if not (node.op_type == "Conv" or _is_linear(node)) or len(node.input) < 2 or node.input[1] not in inits:
            continue
        bns, tensor = [], node.output[0]
        while tensor not in outputs:
            nxt = consumers.get(tensor, [])
            if len(nxt) != 1:
                break
            n = nxt[0]
            if n.op_type in ("Conv", "Gemm", "MatMul"):
                found.append(Prunable(node, n, bns))
                break
            if n.op_type not in CHANNEL_PRESERVING:
                break
            if n.op_type == "BatchNormalization":
                bns.append(n)
            tensor = n.output[0]
    return found


def dropped_channels(weight: np.ndarray, amount: float) -> np.ndarray:
    """Indices of the output channels prune-structured removes: the lowest L1 norms, keeping ceil((1-amount) n)."""
    l1 = np.abs(weight.reshape(weight.shape[0], -1)).sum(axis=1)
    n_keep = max(1, int(math.ceil(len(l1) * (1.0 - amount))))
    return np.argsort(l1, kind="stable")[: len(l1) - n_keep]


def structured_shape(model, amount: float) -> dict[str, float]:
    """Share of the weight-layer parameters and of the MACs kept by prune-structured at `amount`:
    {"params_kept": .., "macs_kept": ..} (1.0 each when nothing is prunable or amount is 0)."""
    from onnx import numpy_helper

    from harness.meta.features import _inferred, node_macs

    g, shapes, inits = _inferred(model)
    layers = prunable_layers(g)
    out_keep: dict[str, float] = {}     # node output -> fraction of its output channels kept
    in_keep: dict[str, float] = {}      # node output -> fraction of its input channels kept
    if amount > 0:
        for p in layers:
            w = numpy_helper.to_array(inits[p.node.input[1]])
            frac = 1.0 - len(dropped_channels(w, amount)) / w.shape[0]
            out_keep[p.node.output[0]] = out_keep.get(p.node.output[0], 1.0) * frac
            c = p.consumer
            groups = next((a.i for a in c.attribute if a.name == "group"), 1) if c.op_type == "Conv" else 1
            # a depthwise/grouped consumer loses those channels at its output (one input channel per filter);
            # any other loses them at its input
            side = out_keep if groups > 1 else in_keep
            side[c.output[0]] = side.get(c.output[0], 1.0) * frac
    macs = node_macs(g, shapes, inits)
    total_p = kept_p = 0.0
    total_m = kept_m = 0.0
    for node in g.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2 or node.input[1] not in inits:
            continue
        key = node.output[0]
        share = out_keep.get(key, 1.0) * in_keep.get(key, 1.0)
        n = float(np.prod(inits[node.input[1]].dims))
        total_p += n
        kept_p += n * share
        total_m += macs.get(key, 0)
        kept_m += macs.get(key, 0) * share
    return {"params_kept": kept_p / total_p if total_p else 1.0, "macs_kept": kept_m / total_m if total_m else 1.0}
