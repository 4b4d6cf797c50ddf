"""How far each layer's output moved from the FP32 root's, on the run's quality inputs.

Both files run in onnxruntime with their layer outputs exposed (harness.activations: in memory, optimisations
off so no tensor is fused away) on the same calls. A variant's tensor for a root layer is the layer's output
under the same name; in a QDQ graph the dequantized copy of it (`<name>_DequantizeLinear_Output`) when there is
one, since that is what the next layer reads (the output's own rounding included). Figures accumulate over the
instances as they come, so every layer of a deep net fits in memory:
  rel_l2 = ||variant - root|| / ||root|| over all instances (0 = identical);
  cosine = mean over instances of the cosine between the two outputs.
`error_added` (in the rows) is a layer's rel_l2 minus the largest of the layers it reads: where error enters,
rather than where it has piled up (the last layers always show the most).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.profiling.layer_map import RootLayers

MAX_INSTANCES = 64


def _pairs(layers: RootLayers, variant_model) -> dict[str, tuple[str, str]]:
    """{layer: (root tensor, variant tensor)} for the layers whose output the variant also computes."""
    have = {o for n in variant_model.graph.node for o in n.output} | {i.name for i in variant_model.graph.input}
    out = {}
    for layer in layers.ordered():
        t = layer.output
        for candidate in (f"{t}_DequantizeLinear_Output", t):
            if t and candidate in have:
                out[layer.name] = (t, candidate)
                break
    return out


def layer_errors(root_path: str, variant_path: str, layers: RootLayers, batches: list[dict[str, np.ndarray]],
                 max_instances: int = MAX_INSTANCES) -> dict[str, dict[str, Any]]:
    """{layer: {rel_l2, cosine, n}} of the variant against the root over the first `max_instances` instances;
    rel_l2 and cosine are None where the shapes differ (a structurally pruned layer)."""
    import onnx

    from harness.activations import expose, inspection_session

    root, variant = onnx.load(root_path), onnx.load(variant_path)
    pairs = _pairs(layers, variant)
    if not pairs:
        return {}
    root_names = list(dict.fromkeys(t for t, _ in pairs.values()))
    var_names = list(dict.fromkeys(v for _, v in pairs.values()))
    root_sess = inspection_session(expose(root, root_names))
    var_sess = inspection_session(expose(variant, var_names))
    root_inputs = {i.name for i in root_sess.get_inputs()}
    var_inputs = {i.name for i in var_sess.get_inputs()}
    acc = {layer: {"sse": 0.0, "ssb": 0.0, "cos": 0.0, "n": 0, "mismatch": False} for layer in pairs}
    seen = 0
    for feeds in batches:
        a = dict(zip(root_names, root_sess.run(root_names, {k: v for k, v in feeds.items() if k in root_inputs})))
        b = dict(zip(var_names, var_sess.run(var_names, {k: v for k, v in feeds.items() if k in var_inputs})))
        for layer, (rt, vt) in pairs.items():
            x, y = np.asarray(a[rt]), np.asarray(b[vt])
            s = acc[layer]
            if x.shape != y.shape or x.dtype.kind != "f" or y.dtype.kind != "f" or x.ndim == 0:
                s["mismatch"] = True
                continue
            x = x.astype(np.float64).reshape(len(x), -1)
            y = y.astype(np.float64).reshape(len(y), -1)
            d = y - x
            s["sse"] += float(np.sum(d * d))
            s["ssb"] += float(np.sum(x * x))
            den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
            dots = np.sum(x * y, axis=1)
            # two all-zero outputs agree (cosine 1); an overflowed (inf) output does not count as agreeing
            with np.errstate(invalid="ignore", over="ignore"):
                cos = np.divide(dots, den, out=np.ones_like(dots), where=den > 0)
            s["cos"] += float(np.sum(np.nan_to_num(cos, nan=0.0)))
            s["n"] += len(x)
        seen += len(next(iter(feeds.values()))) if feeds else 1
        if seen >= max_instances:
            break
    out = {}
    for layer, s in acc.items():
        if s["mismatch"] or s["n"] == 0:
            out[layer] = {"rel_l2": None, "cosine": None, "n": s["n"]}
            continue
        rel = float(np.sqrt(s["sse"] / s["ssb"])) if s["ssb"] > 0 else (0.0 if s["sse"] == 0 else None)
        out[layer] = {"rel_l2": rel, "cosine": s["cos"] / s["n"], "n": s["n"]}
    return out
