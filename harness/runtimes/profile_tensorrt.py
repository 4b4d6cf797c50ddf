"""Time and precision per layer of a TensorRT engine (inside the measurement worker). UNVERIFIED: written to the
TensorRT 10/11 Python API documentation and tested on documented inspector output only; no GPU with TensorRT
was available where this was written, and rows it produces say so (`time_source`).

- Precision: `IEngineInspector.get_engine_information(LayerInformationFormat.JSON)` lists each engine layer with
  its inputs and outputs and their "Format/Datatype" ("Row major linear FP32", "Channel major FP16 format",
  "... Int8 ..."); the precision a layer ran in is that of its output (its first input for a layer whose output
  is a conversion). Full detail needs the engine built with `ProfilingVerbosity.DETAILED`; otherwise only names
  come back, and precision is unknown (null), not guessed.
- Time: an `IProfiler` set on the execution context receives `report_layer_time(name, ms)` for every layer of
  every synchronous inference.
- Names: TensorRT names a fused layer after the ONNX nodes it fused, joined by " + " (`/0/Conv + /1/Relu`); a
  node entry is made per fused ONNX name so each is matched to its root layer (time goes to the first).
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

SOURCE = "tensorrt IProfiler + IEngineInspector (unverified: no TensorRT GPU where this was written)"


def datatype_precision(text: str | None) -> str | None:
    """The precision named in an inspector "Format/Datatype" string, or None."""
    if not text:
        return None
    for token, precision in (("int8", "int8"), ("int4", "int4"), ("fp8", "fp8"), ("bf16", "bf16"),
                             ("fp16", "fp16"), ("half", "fp16"), ("fp32", "fp32"), ("float", "fp32")):
        if token in text.lower():
            return precision
    return None


def inspector_nodes(info: dict[str, Any], times_ms: dict[str, float], runs: int) -> list[dict[str, Any]]:
    """Node dicts (as harness.profiling.layer_rows takes them) from inspector JSON and accumulated layer times."""
    nodes = []
    for layer in info.get("Layers") or []:
        if isinstance(layer, str):       # ProfilingVerbosity below DETAILED: names only
            layer = {"Name": layer}
        name = layer.get("Name", "")
        outputs = layer.get("Outputs") or []
        inputs = layer.get("Inputs") or []
        fmt = next((o.get("Format/Datatype") for o in outputs if isinstance(o, dict)), None)
        precision = datatype_precision(fmt)
        if layer.get("LayerType") in ("Scale", "Reformat") and inputs:
            precision = datatype_precision(inputs[0].get("Format/Datatype")) or precision
        parts = [p.strip() for p in re.split(r" \+ ", name) if p.strip()] or [name]
        total = times_ms.get(name)
        for k, part in enumerate(parts):
            nodes.append({"name": part, "op_type": layer.get("LayerType") or "?",
                          "inputs": [i.get("Name", "") for i in inputs if isinstance(i, dict)],
                          "outputs": [o.get("Name", "") for o in outputs if isinstance(o, dict)],
                          "precision": precision, "provider": "tensorrt",
                          "time_ms": (total / runs if total is not None and runs and k == 0 else None)})
    return nodes


def profile_engine(trt, engine, context, step: Callable[[], Any], iterations: int) -> dict[str, Any]:
    """Profile `iterations` synchronous inferences of a loaded engine."""
    class LayerTimes(trt.IProfiler):
        def __init__(self):
            trt.IProfiler.__init__(self)
            self.ms: dict[str, float] = {}

        def report_layer_time(self, layer_name, ms):
            self.ms[layer_name] = self.ms.get(layer_name, 0.0) + float(ms)

    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    profiler = LayerTimes()
    context.profiler = profiler
    try:
        for _ in range(max(1, iterations)):
            step()
    finally:
        context.profiler = None
    return {"source": SOURCE, "runs": max(1, iterations), "nodes": inspector_nodes(info, profiler.ms,
                                                                                  max(1, iterations))}
