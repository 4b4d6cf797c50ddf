"""What prune-structured would leave of an ONNX graph, worked out on the graph alone (no torch, no export).

prune-structured removes the lowest-L1 fraction of output channels of every layer whose output reaches exactly one
weight layer through channel-preserving ops, and the matching input channels of that next layer. The size and
compute of the variant follow from which channels go, so a prediction need not learn them: `structured_shape`
gives the share of weights and of multiply-accumulates kept, and `prunable_layers` is the walk the data-dependent
features (harness.meta.sensitivity) perturb.

The walk on the ONNX graph approximates the exporter's torch.fx walk: a graph exported from torch has
BatchNormalization folded or kept as its own node (followed through either way), torch's Linear on a 3-D input
as a MatMul by its transposed weight and an Add of its bias, GELU (before opset 20) as five element-wise nodes on
its input (followed as one activation), and a layer that feeds a residual add, a concatenation, a gate (Mul) or the
output keeps its width, as in the exporter; so do grouped (depthwise) convolutions and the layers feeding them.
The walk missed the MatMul form and the written-out GELU until 2026-12-07: the MLP blocks of `zoo-mixer` and
`zoo-attention` looked unprunable (params kept 1.0 where the export keeps 0.47-0.82 of the file, and no data
feature), and it let a layer feeding a depthwise convolution shrink, which the exporter refuses. The exporter, for
its part, did not follow an nn.Flatten module until the same day; on every zoo architecture the two walks now
shrink the same layers (tests/test_meta_shrink.py).
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
# the element-wise ops an activation written out in several nodes is made of (GELU before opset 20 is exported as
# Div, Erf, Add, Mul, Mul over its input; SiLU as Sigmoid and Mul: see activation_exit), each as a function of
# scalars, to work out the activation's value at 0
ELEMENTWISE = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power,
               "Sqrt": np.sqrt, "Erf": math.erf, "Tanh": np.tanh, "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
               "Relu": lambda x: np.maximum(x, 0.0), "Exp": np.exp, "Neg": np.negative, "Abs": np.abs}


@dataclass
class Prunable:
    node: object                  # the Conv / Gemm / MatMul whose output channels go
    consumer: object              # the one weight layer its output reaches
    batchnorms: list = field(default_factory=list)    # BatchNormalization nodes on the way (their channels go too)
    bias: str | None = None       # the initializer holding its bias: Conv/Gemm's third input, or the Add after a MatMul

    @property
    def out_axis(self) -> int:
        return weight_out_axis(self.node)


def weight_out_axis(node) -> int:
    """A weight layer's output-channel axis in its weight: torch's Linear exported on a 3-D input is a MatMul
    with the weight transposed, (in, out); Conv and Gemm hold (out, in, ...)."""
    return 1 if node.op_type == "MatMul" else 0


def users_of(graph) -> dict[str, list]:
    """Tensor name -> the nodes that read it."""
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def bias_of(node, users: dict, inits: dict, outputs: set) -> tuple[str | None, str]:
    """(the initializer holding a weight layer's bias, the tensor that carries its biased output): a Conv's or
    Gemm's third input and its own output; for a MatMul (torch's Linear on a 3-D input) the 1-D initializer added
    by the one Add after it, and that Add's output. (None, its output) when it has no bias."""
    tensor = node.output[0]
    if node.op_type != "MatMul":
        return (node.input[2] if len(node.input) > 2 and node.input[2] in inits else None), tensor
    nxt = users.get(tensor, [])
    if len(nxt) == 1 and nxt[0].op_type == "Add" and tensor not in outputs:
        other = [i for i in nxt[0].input if i != tensor]
        if len(other) == 1 and other[0] in inits and len(inits[other[0]].dims) == 1:
            return other[0], nxt[0].output[0]
    return None, tensor


def _is_linear(node) -> bool:
    """A Gemm laid out like torch's Linear (weight (out, in), transB=1)."""
    return node.op_type == "Gemm" and bool(next((a.i for a in node.attribute if a.name == "transB"), 0))


def _groups(node) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1) if node.op_type == "Conv" else 1


def is_weight_layer(node, inits) -> bool:
    """A Conv, Linear-like Gemm or MatMul by a 2-D weight, whose weight is an initializer and which is not grouped
    (prune-structured leaves grouped convolutions, and the layers feeding them, as they are)."""
    if len(node.input) < 2 or node.input[1] not in inits or _groups(node) != 1:
        return False
    if node.op_type == "MatMul":
        return len(inits[node.input[1]].dims) == 2
    return node.op_type == "Conv" or _is_linear(node)


def _constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    out = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            out[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return out


def activation_exit(tensor: str, consumers: dict, constants: dict, outputs: set) -> str | None:
    """The output of an element-wise activation written out in several nodes on `tensor` (GELU's x * 0.5 *
    (1 + erf(x / sqrt 2)), SiLU's x * sigmoid(x)): the nodes reachable from `tensor` whose every input is
    `tensor`, a scalar constant or another of their outputs, when exactly one of their outputs leaves them and
    the activation of 0 is 0 (a removed channel then carries nothing). None when there is no such activation."""
    region, nodes, taken = {tensor}, [], set()
    grown = True
    while grown:
        grown = False
        for t in list(region):
            for n in consumers.get(t, []):
                if id(n) in taken or n.op_type not in ELEMENTWISE:
                    continue
                if not all(i in region or (i in constants and constants[i].size == 1) for i in n.input):
                    continue
                # every input is already known, so `nodes` is in an order it can be evaluated in
                nodes.append(n)
                taken.add(id(n))
                region.add(n.output[0])
                grown = True
    exits = [t for t in region if t != tensor and
             (t in outputs or any(id(n) not in taken for n in consumers.get(t, [])))]
    if len(exits) != 1 or any(id(n) not in taken for n in consumers.get(tensor, [])):
        return None
    values = {tensor: 0.0}
    with np.errstate(all="ignore"):
        for n in nodes:
            args = [values[i] if i in values else float(constants[i].reshape(())) for i in n.input]
            values[n.output[0]] = float(ELEMENTWISE[n.op_type](*args))
    return exits[0] if abs(values[exits[0]]) < 1e-6 else None


def prunable_layers(graph) -> list[Prunable]:
    inits = {i.name: i for i in graph.initializer}
    constants = _constants(graph)
    consumers = users_of(graph)
    outputs = {o.name for o in graph.output}
    found = []
    for node in graph.node:
        if not is_weight_layer(node, inits):
            continue
        bns = []
        bias, tensor = bias_of(node, consumers, inits, outputs)
        while tensor not in outputs:
            nxt = consumers.get(tensor, [])
            if len(nxt) != 1:
                exit_ = activation_exit(tensor, consumers, constants, outputs) if len(nxt) > 1 else None
                if exit_ is None:
                    break
                tensor = exit_
                continue
            n = nxt[0]
            if n.op_type in ("Conv", "Gemm", "MatMul"):
                if is_weight_layer(n, inits) and n.input[0] == tensor:
                    found.append(Prunable(node, n, bns, bias))
                break
            if n.op_type not in CHANNEL_PRESERVING:
                break
            if n.op_type == "BatchNormalization":
                bns.append(n)
            tensor = n.output[0]
    return found


def channel_l1(weight: np.ndarray, axis: int = 0) -> np.ndarray:
    """The L1 norm of each output channel of `weight`, whose output channels lie along `axis`."""
    w = np.moveaxis(np.asarray(weight), axis, 0)
    return np.abs(w.reshape(w.shape[0], -1)).sum(axis=1)


def dropped_channels(weight: np.ndarray, amount: float, axis: int = 0) -> np.ndarray:
    """Indices of the output channels prune-structured removes: the lowest L1 norms, keeping ceil((1-amount) n)."""
    l1 = channel_l1(weight, axis)
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
            frac = 1.0 - len(dropped_channels(w, amount, p.out_axis)) / w.shape[p.out_axis]
            out_keep[p.node.output[0]] = out_keep.get(p.node.output[0], 1.0) * frac
            in_keep[p.consumer.output[0]] = in_keep.get(p.consumer.output[0], 1.0) * frac
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
