"""Time and precision of every node onnxruntime runs, from its own profiler (inside the measurement worker).

The graph that runs is not the file: onnxruntime fuses QDQ groups into QLinearConv, Conv+Relu into one kernel,
inserts layout Transposes and NCHWc reorders. So the pass first has onnxruntime optimise the model at the run's
settings and save the result (`optimized_model_filepath`), names the nodes it left nameless, and profiles that
saved graph with optimisation off: the kernels are the ones the timed session ran (weight prepacking and layout
choices happen when kernels are created, not in the graph transformers), and every profiler event
(`<node>_kernel_time`, one per node and run) names a node of a graph we can read. Where the optimised graph
cannot be saved or reloaded (some execution providers), the model itself is profiled and events are matched by
name as they come.

Precision is read from what ran, never from the recipe: an integer kernel (QLinearConv, ConvInteger, QGemm...)
is int8 (MatMulNBits int4), Q/DQ nodes are conversions, and any other node runs in the type of its first
floating-point input as the profiler recorded it.
"""
from __future__ import annotations

import bisect
import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.core.quantized_ops import INTEGER_KERNELS, QDQ_CONVERSIONS

_TYPE_PRECISION = {"float": "fp32", "float16": "fp16", "bfloat16": "bf16", "double": "fp64", "uint8": "int8",
                   "int8": "int8", "int32": "int32", "int64": "int64", "bool": "bool"}
WARM_RUNS = 2          # profiled runs dropped before counting (first-run allocations, caches)


def precision_of(op_type: str, input_types: list[str]) -> str:
    """int8 | int4 | fp16 | fp32 | qdq | ... of one node, from its kernel and the types of its inputs."""
    if op_type == "MatMulNBits":
        return "int4"
    if op_type in INTEGER_KERNELS:
        return "int8"
    if op_type in QDQ_CONVERSIONS:
        return "qdq"
    if op_type in ("If", "Loop", "Scan"):
        return "subgraph"        # its first input is a condition or a count; its time is its subgraph's
    for t in input_types:
        if t in ("float", "float16", "bfloat16", "double"):
            return _TYPE_PRECISION[t]
    return _TYPE_PRECISION.get(input_types[0], input_types[0]) if input_types else "unknown"


def _named_optimized(path: str, make_options: Callable[[], Any], providers: list[str], tmp: Path
                     ) -> tuple[str, list[dict[str, Any]]] | None:
    """(the optimised graph saved at the run's settings with every node named, its nodes as dicts), or None when
    it cannot be saved."""
    import onnx
    import onnxruntime as ort

    saved = tmp / "optimized.onnx"
    opts = make_options()
    opts.optimized_model_filepath = str(saved)
    try:
        ort.InferenceSession(path, opts, providers=providers)
        model = onnx.load(str(saved))
    except Exception:   # e.g. an execution provider whose compiled nodes cannot be serialised
        return None
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}" if not node.name else f"{node.name}#{i}"
        seen.add(node.name)
    named = tmp / "optimized-named.onnx"
    onnx.save(model, str(named))
    return str(named), [{"name": n.name, "op_type": n.op_type, "domain": n.domain, "inputs": list(n.input),
                         "outputs": list(n.output)} for n in model.graph.node]


def _node_events(profile_file: str, warm_runs: int) -> tuple[dict[str, dict[str, Any]], int]:
    """{node name: {time_us: [per counted run], op_type, provider, input_types}} and the count of counted runs."""
    with open(profile_file) as fh:
        events = json.load(fh)
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    counted = runs[warm_runs:]
    starts = [lo for lo, _ in counted]
    per_node: dict[str, dict[str, Any]] = {}
    sums: dict[str, dict[int, float]] = defaultdict(dict)
    for e in events:
        name = e.get("name", "")
        if e.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        run = bisect.bisect_right(starts, e["ts"]) - 1      # the last run that started before the event
        if run < 0 or e["ts"] > counted[run][1]:
            continue
        node = name[: -len("_kernel_time")]
        args = e.get("args") or {}
        sums[node][run] = sums[node].get(run, 0.0) + float(e.get("dur", 0))
        if node not in per_node:
            types = [next(iter(t)) for t in args.get("input_type_shape") or [] if t]
            per_node[node] = {"op_type": args.get("op_name"), "provider": args.get("provider"),
                              "input_types": types}
    for node, by_run in sums.items():
        per_node[node]["time_us"] = [by_run.get(k, 0.0) for k in range(len(counted))]
    return per_node, len(counted)


def profile_nodes(path: str, make_options: Callable[[], Any], providers: list[str],
                  step_for: Callable[[Any], Callable[[], Any]], iterations: int, duration_s: float
                  ) -> dict[str, Any]:
    """Profile `iterations` calls (at least; at most `duration_s` beyond the first) of the model and return
    {"source", "runs", "nodes": [{name, op_type, domain, provider, inputs, outputs, precision, time_ms}]},
    time_ms being the median over the profiled calls (robust to a preempted call on a shared host; None for a
    node that never ran a kernel)."""
    import time

    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="harness-profile-") as tmp_dir:
        tmp = Path(tmp_dir)
        optimized = _named_optimized(path, make_options, providers, tmp)
        named, graph_nodes = optimized if optimized is not None else (None, None)
        opts = make_options()
        if named is not None:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.enable_profiling = True
        opts.profile_file_prefix = str(tmp / "profile")
        session = ort.InferenceSession(named or path, opts, providers=providers)
        step = step_for(session)
        t0 = time.perf_counter()
        for done in range(WARM_RUNS + max(1, iterations)):
            step()
            if done > WARM_RUNS and time.perf_counter() - t0 > duration_s:
                break
        per_node, runs = _node_events(session.end_profiling(), WARM_RUNS)
        nodes = graph_nodes if graph_nodes is not None else [
            {"name": n, "op_type": e["op_type"], "domain": "", "inputs": [], "outputs": []}
            for n, e in per_node.items()]
    out = []
    for n in nodes:
        ev = per_node.get(n["name"])
        op = (ev or {}).get("op_type") or n["op_type"]
        out.append({**n, "op_type": op, "provider": (ev or {}).get("provider"),
                    "precision": precision_of(op, (ev or {}).get("input_types") or []) if ev else None,
                    "time_ms": float(np.median(ev["time_us"])) / 1e3 if ev and runs else None})
    source = "onnxruntime profiler" + ("" if named is not None else " (optimised graph not saved: names as run)")
    return {"source": source, "runs": runs, "nodes": out}
