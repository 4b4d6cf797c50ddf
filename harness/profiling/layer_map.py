"""Which layer of the FP32 root each node that a runtime actually ran came from.

A *layer* is a weight op of the root graph (Conv, MatMul, Gemm...) together with what a runtime folds into it:
the activation or BatchNorm that follows it alone, and a bias or scale added from a constant. Every other root
node is a layer of its own (a written-out LayerNorm's Mul, a pooling). Runtimes fuse exactly these groups
(onnxruntime's Conv+Relu, QLinearConv with its Relu folded into the output scale), so a layer is the unit whose
time can be compared between the root and a variant.

Optimised graphs rename what they touch: onnxruntime calls a Conv fused for the NCHWc layout after its output
tensor (`/1/Relu_output_0_nchwc`), a QDQ group after its node with a token (`/0/Conv_token_1`), the quantizer's
Q/DQ nodes after the tensor they convert (`x_QuantizeLinear`), dynamic quantization after the node
(`/0/Conv_quant`), and prefixes what it rewrote (`fused `, `InsertedPrecisionFreeCast_`). So a node is matched by the longest root node name or root tensor name its own name or an
output name starts with (at a `_` boundary); what still matches nothing (Transposes and Casts a runtime or
converter inserted, nodes without a name) takes the layer of the node it feeds, else of the node feeding it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

# ops that carry weights: the anchors of layers
WEIGHT_OPS = {"Conv", "ConvTranspose", "MatMul", "Gemm", "ConvInteger", "MatMulInteger", "QLinearConv",
              "QLinearMatMul", "MatMulNBits", "Attention", "LSTM", "GRU", "RNN", "Einsum"}
# a node of these types right after a weight op (its only reader) runs fused into it on every runtime we drive
FOLDED_ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "PRelu", "Elu", "Selu",
                      "BatchNormalization"}
# ... and these when their other operand is a constant (a bias, a scale)
FOLDED_WITH_CONSTANT = {"Add", "Mul", "Sub", "Div"}
UNMATCHED = "(runtime) "      # prefix of the layer of a node that no root layer explains
# prefixes onnxruntime puts before a node or tensor name it rewrote (fusions; casts it removed from fp16 graphs
# whose ops have no fp16 kernel on the provider)
REWRITE_PREFIXES = ("fused ", "InsertedPrecisionFreeCast_")


@dataclass
class Layer:
    name: str                 # the anchor node's name (its first output when the node has none)
    op_type: str              # the anchor's op type
    order: int                # position of the anchor in the root graph
    nodes: list[str] = field(default_factory=list)
    output: str = ""          # the layer's output tensor (the last folded node's)
    inputs: set[str] = field(default_factory=set)   # layers whose outputs it reads


def _key(node, seen: dict[str, int]) -> str:
    key = node.name or (node.output[0] if node.output else node.op_type)
    seen[key] = seen.get(key, 0) + 1
    return key if seen[key] == 1 else f"{key}#{seen[key]}"


class RootLayers:
    """The layers of an FP32 root graph, and the matching of other graphs' nodes to them."""

    def __init__(self, model):
        graph = model.graph
        constants = {i.name for i in graph.initializer}
        constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
        self.producer: dict[str, str] = {}
        self.consumers: dict[str, list[str]] = {}
        keys: list[str] = []
        seen: dict[str, int] = {}
        nodes = [n for n in graph.node if n.op_type != "Constant"]
        for node in nodes:
            key = _key(node, seen)
            keys.append(key)
            for out in node.output:
                if out:
                    self.producer[out] = key
            for inp in node.input:
                if inp:
                    self.consumers.setdefault(inp, []).append(key)
        self.layer_of_node: dict[str, str] = {}
        self.layers: dict[str, Layer] = {}
        for i, (key, node) in enumerate(zip(keys, nodes)):
            host = self._folds_into(node, constants)
            if host is None:
                self.layers[key] = Layer(key, node.op_type, i)
                host = key
            layer = self.layers[host]
            layer.nodes.append(key)
            layer.output = node.output[0] if node.output else layer.output
            self.layer_of_node[key] = host
        for key, node in zip(keys, nodes):
            mine = self.layer_of_node[key]
            for inp in node.input:
                src = self.producer.get(inp)
                if src is not None and self.layer_of_node[src] != mine:
                    self.layers[mine].inputs.add(self.layer_of_node[src])
        self.tensors = set(self.producer) | set(self.consumers)

    def _folds_into(self, node, constants: set[str]) -> str | None:
        """The layer `node` is folded into, or None when it is a layer of its own."""
        if node.op_type in FOLDED_ACTIVATIONS:
            data = node.input[0] if node.input else ""
        elif node.op_type in FOLDED_WITH_CONSTANT and len(node.input) == 2:
            const = [i in constants for i in node.input]
            if sum(const) != 1:
                return None
            data = node.input[const.index(False)]
        else:
            return None
        src = self.producer.get(data)
        if src is None or len(self.consumers.get(data, [])) != 1:
            return None
        host = self.layer_of_node.get(src)
        if host is None or self.layers[host].op_type not in WEIGHT_OPS:
            return None
        return host

    # -- matching ----------------------------------------------------------------------------------------------
    def layer_of_tensor(self, tensor: str) -> str | None:
        """The layer producing `tensor`; for a graph input, the first layer reading it."""
        src = self.producer.get(tensor)
        if src is not None:
            return self.layer_of_node[src]
        readers = self.consumers.get(tensor)
        return self.layer_of_node[readers[0]] if readers else None

    def _match_text(self, text: str) -> str | None:
        """The layer of the longest root node name or tensor name that `text` is, or starts with at a `_`."""
        if not text:
            return None
        prefix = text
        for p in REWRITE_PREFIXES:
            prefix = prefix.removeprefix(p)
        while True:
            if prefix in self.layer_of_node:
                return self.layer_of_node[prefix]
            if prefix in self.tensors:
                layer = self.layer_of_tensor(prefix)
                if layer is not None:
                    return layer
            cut = prefix.rfind("_")
            if cut <= 0:
                return None
            prefix = prefix[:cut]

    def _match_scope(self, scope: str) -> str | None:
        """The layer of the first root node inside a torch module's ONNX scope (`/features/features.0`)."""
        inside = scope.rstrip("/") + "/"
        for key in self.layer_of_node:
            if key.startswith(inside) and "/" not in key[len(inside):]:
                return self.layer_of_node[key]
        return None

    def match_nodes(self, nodes: Iterable[dict[str, Any]]) -> list[str]:
        """The root layer of each node of a graph a runtime ran (dicts with name, inputs, outputs; `scope`: True
        for a torch module named by its ONNX scope), in order. Nodes nothing explains get `UNMATCHED` + their
        own name."""
        nodes = list(nodes)
        layers: list[str | None] = []
        for n in nodes:
            if n.get("scope"):
                layers.append(self._match_scope(n.get("name") or ""))
                continue
            layer = self._match_text(n.get("name") or "")
            for out in n.get("outputs") or []:
                if layer is not None:
                    break
                layer = self._match_text(out)
            layers.append(layer)
        # inserted nodes take the layer of the node they feed (a Transpose before a QLinearConv), else the one
        # feeding them; repeated so chains of inserted nodes resolve
        readers: dict[str, list[int]] = {}
        writer: dict[str, int] = {}
        for i, n in enumerate(nodes):
            for t in n.get("inputs") or []:
                readers.setdefault(t, []).append(i)
            for t in n.get("outputs") or []:
                writer[t] = i
        for _ in range(len(nodes)):
            changed = False
            for i, n in enumerate(nodes):
                if layers[i] is not None:
                    continue
                near = [layers[j] for t in n.get("outputs") or [] for j in readers.get(t, []) if layers[j]]
                near += [layers[writer[t]] for t in n.get("inputs") or [] if t in writer and layers[writer[t]]]
                if near:
                    layers[i] = near[0]
                    changed = True
            if not changed:
                break
        return [layer if layer is not None else UNMATCHED + (n.get("name") or n.get("op_type", "?"))
                for layer, n in zip(layers, nodes)]

    def ordered(self) -> list[Layer]:
        return sorted(self.layers.values(), key=lambda layer: layer.order)


def load_root_layers(path: str) -> RootLayers:
    import onnx

    return RootLayers(onnx.load(str(path), load_external_data=False))
