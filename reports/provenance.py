"""Layout of the variants' provenance tree (base -> operation -> child) for plotting."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class Node:
    variant_id: str
    name: str
    depth: int          # steps from the root
    y: float            # vertical position: leaves are 0, 1, 2...; a parent sits at its children's mean
    base_id: str | None
    operation: str      # operation with params, as shown on the edge into this node


def _operation_text(operation: str | None, params: Any) -> str:
    if not operation:
        return ""
    if isinstance(params, dict):
        # the exporter's own bookkeeping (tool versions, parity checks) would crowd the edge label
        shown = {k: v for k, v in params.items() if not k.startswith(("parity", "exporter", "opset"))}
        if shown:
            return f"{operation}(" + ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) + ")"
    return operation


def layout(variants: Sequence[dict[str, Any]]) -> list[Node]:
    """Tidy tree layout. Variants whose base is not in the run become roots of their own trees, so a partial run
    still draws."""
    by_id = {v["variant_id"]: v for v in variants}
    children: dict[str | None, list[str]] = {}
    for v in variants:
        base = v.get("base_id") if v.get("base_id") in by_id and v.get("base_id") != v["variant_id"] else None
        children.setdefault(base, []).append(v["variant_id"])
    nodes: dict[str, Node] = {}
    next_leaf = [0.0]

    def place(vid: str, depth: int, seen: frozenset) -> float:
        v = by_id[vid]
        kids = [k for k in children.get(vid, []) if k not in seen]
        if kids:
            ys = [place(k, depth + 1, seen | {vid}) for k in kids]
            y = sum(ys) / len(ys)
        else:
            y = next_leaf[0]
            next_leaf[0] += 1
        params = v.get("params")
        nodes[vid] = Node(vid, str(v.get("name")), depth, y, v.get("base_id") if depth else None,
                          _operation_text(v.get("operation"), params))
        return y

    for root in children.get(None, []):
        place(root, 0, frozenset())
    return [nodes[v["variant_id"]] for v in variants if v["variant_id"] in nodes]
