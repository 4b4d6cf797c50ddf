"""Rows of the `layer_profile` table: one per layer of the FP32 root, for one variant.

The nodes a runtime profiled are matched to the root's layers (harness.profiling.layer_map) and summed per
layer: the time of a layer is the time of everything that ran for it (each node's median over the profiled calls), its Q/DQ conversions and inserted
transposes included, so a variant's layer time compares with the root's. The precision of a layer is that of
its costliest node that is not a conversion; a layer where float computation ran between Q/DQ nodes (a
HardSwish dequantized, computed in float and quantized again; a Conv left in float) is flagged `unfused_qdq`:
it pays for the conversions and gains no integer kernel for that part.
"""
from __future__ import annotations

from typing import Any

from harness.profiling.layer_map import UNMATCHED, RootLayers

FLOAT_PRECISIONS = {"fp32", "fp16", "bf16", "fp64"}
# ops that move data without computing on it: a float Transpose between Q/DQ pairs is no unfused computation
LAYOUT_OPS = {"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "ReorderInput", "ReorderOutput", "Identity",
              "Cast"}


def _ran_as(ops: list[str]) -> str:
    counts: dict[str, int] = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    return " + ".join(op if n == 1 else f"{n}x {op}" for op, n in counts.items())


def aggregate(layers: RootLayers, profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{layer: {time_ms, qdq_ms, ran_as, precision, provider, unfused_qdq}} of the layers that ran something."""
    nodes = profile.get("nodes") or []
    matched = layers.match_nodes(nodes)
    out: dict[str, dict[str, Any]] = {}
    for node, layer in zip(nodes, matched):
        t = node.get("time_ms")
        if t is None:
            continue
        agg = out.setdefault(layer, {"time_ms": 0.0, "qdq_ms": 0.0, "ops": [], "principal": None,
                                     "float_compute": False})
        agg["time_ms"] += t
        agg["ops"].append(node["op_type"])
        if node.get("precision") == "qdq":
            agg["qdq_ms"] += t
            continue
        if node.get("precision") in FLOAT_PRECISIONS and node["op_type"] not in LAYOUT_OPS:
            agg["float_compute"] = True
        if agg["principal"] is None or t > agg["principal"]["time_ms"]:
            agg["principal"] = node
    result = {}
    for layer, agg in out.items():
        main = agg["principal"]
        precision = main.get("precision") if main else "qdq"
        result[layer] = {
            "time_ms": agg["time_ms"], "qdq_ms": agg["qdq_ms"], "ran_as": _ran_as(agg["ops"]),
            "precision": precision, "provider": (main or {}).get("provider"),
            "unfused_qdq": bool(agg["qdq_ms"] > 0 and agg["float_compute"]),
        }
    return result


def error_added(layers: RootLayers, errors: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """A layer's rel_l2 minus the largest rel_l2 among the layers it reads (0 for those reading inputs only)."""
    out = {}
    for layer in layers.ordered():
        mine = (errors.get(layer.name) or {}).get("rel_l2")
        if mine is None:
            out[layer.name] = None
            continue
        before = [(errors.get(src) or {}).get("rel_l2") for src in layer.inputs]
        out[layer.name] = mine - max([b for b in before if b is not None], default=0.0)
    return out


def layer_profile_rows(run_id: str, variant_id: str, measurement_id: str | None, layers: RootLayers,
                       profile: dict[str, Any] | None, errors: dict[str, dict[str, Any]] | None,
                       error_source: str | None) -> list[dict[str, Any]]:
    """One row per root layer (graph order), then the nodes no root layer explains."""
    timed = aggregate(layers, profile) if profile else {}
    errors = errors or {}
    added = error_added(layers, errors) if errors else {}
    source = (profile or {}).get("source")
    runs = (profile or {}).get("runs")
    rows = []

    def row(name: str, order: int, op_type: str | None) -> dict[str, Any]:
        t = timed.get(name) or {}
        e = errors.get(name) or {}
        return {"run_id": run_id, "variant_id": variant_id, "measurement_id": measurement_id, "layer": name,
                "layer_order": order, "op_type": op_type, "ran_as": t.get("ran_as"), "provider": t.get("provider"),
                "precision": t.get("precision"), "time_ms": t.get("time_ms"), "qdq_ms": t.get("qdq_ms"),
                "unfused_qdq": t.get("unfused_qdq"), "profiled_calls": runs if t else None,
                "rel_l2": e.get("rel_l2"), "cosine": e.get("cosine"), "error_added": added.get(name),
                "error_n": e.get("n"), "time_source": source if t else None,
                "error_source": error_source if e else None}

    ordered = layers.ordered()
    for layer in ordered:
        if layer.name in timed or layer.name in errors:
            rows.append(row(layer.name, layer.order, layer.op_type))
    extra = [name for name in timed if name.startswith(UNMATCHED)]
    for k, name in enumerate(extra):
        rows.append(row(name, len(ordered) + k, None))
    return rows
