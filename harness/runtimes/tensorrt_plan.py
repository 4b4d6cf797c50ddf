"""The TensorRT decisions that need no TensorRT: version branching, calibration batching, what the ONNX graph
already says about precision, and per-layer precision from the engine inspector's JSON. Kept apart from the
builder so they are tested on every host."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from harness.core.errors import ExportError, ExportSkipped
from harness.core.import_utils import is_cuda_python_available, is_pycuda_available, is_tensorrt_available

PRECISIONS = ("fp32", "fp16", "int8")
MIN_VERSION = (8, 5)            # the named-tensor API (set_tensor_address / execute_async_v3) arrived in 8.5
STRONG_TYPING_SINCE = (9, 1)    # NetworkDefinitionCreationFlag.STRONGLY_TYPED
WEAK_TYPING_REMOVED_IN = 11     # no FP16/INT8 builder flags, no calibrators


class TensorrtUnavailable(ExportSkipped):
    """TensorRT (or a CUDA binding for it) is not installed: the TensorRT variants are skipped, not failed."""


def skip_reason() -> str | None:
    """Why TensorRT variants cannot be built here, or None when they can."""
    if not is_tensorrt_available():
        return ("TensorRT is not installed: on a GPU host pip install 'harness[tensorrt]'; on Jetson it comes "
                "with JetPack (python3-libnvinfer)")
    if not (is_cuda_python_available() or is_pycuda_available()):
        return "TensorRT is installed but neither cuda-python nor pycuda is: pip install cuda-python"
    return None


def parse_version(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text)
    if not parts:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(p) for p in parts[:3])


@dataclass(frozen=True)
class BuildPlan:
    """How to build on this TensorRT: weak typing with builder flags (+ calibrator), or a strongly typed network
    whose precisions come from the ONNX graph itself (Q/DQ nodes, FP16 tensors)."""

    typing: str                       # "weak" | "strong"
    flags: tuple[str, ...] = ()       # trt.BuilderFlag names
    calibrate: bool = False           # feed IInt8EntropyCalibrator2
    explicit_batch_flag: bool = False # TensorRT < 10 needs EXPLICIT_BATCH for ONNX
    note: str = ""


def plan_build(version: Sequence[int], precision: str, graph_qdq: bool, graph_fp16: bool,
               strongly_typed: str = "auto") -> BuildPlan:
    """Choose the build path for `precision` on TensorRT `version` given what the ONNX graph holds."""
    if precision not in PRECISIONS:
        raise ExportError(f"TensorRT precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if strongly_typed not in ("auto", "yes", "no"):
        raise ExportError(f"strongly_typed must be auto, yes or no, not {strongly_typed!r}")
    v = tuple(version)
    if v[:2] < MIN_VERSION:
        raise ExportError(f"TensorRT {'.'.join(map(str, v))} is too old: harness needs >= 8.5")
    explicit = v[0] < 10
    if v[0] >= WEAK_TYPING_REMOVED_IN:
        if strongly_typed == "no":
            raise ExportError(f"TensorRT {v[0]} has no weak typing; drop strongly_typed=no")
        if precision == "int8" and not graph_qdq:
            raise ExportError(f"TensorRT {v[0]} has no INT8 calibration: build from the Q/DQ ONNX of the "
                              f"int8-static exporter (symmetric S8S8), e.g. recipe 'int8-static>tensorrt'")
        if precision == "fp16" and not graph_fp16:
            raise ExportError(f"TensorRT {v[0]} removed the FP16 builder flag: build from an FP16 ONNX "
                              f"(the fp16 exporter, or ModelOpt AutoCast), e.g. recipe 'fp16>tensorrt'")
        return BuildPlan("strong", note="TensorRT >= 11: always strongly typed")
    can_strong = v[:2] >= STRONG_TYPING_SINCE
    if strongly_typed == "yes" and not can_strong:
        raise ExportError(f"TensorRT {'.'.join(map(str, v))} has no strongly typed networks (needs >= 9.1)")
    want_strong = strongly_typed == "yes" or (strongly_typed == "auto" and can_strong and (
        (precision == "int8" and graph_qdq) or (precision == "fp16" and graph_fp16)))
    if want_strong:
        return BuildPlan("strong", explicit_batch_flag=explicit, note="precisions from the ONNX graph")
    flags: list[str] = []
    if precision in ("fp16", "int8"):
        flags.append("FP16")           # INT8 builds fall back to FP16 (not FP32) for layers without INT8 kernels
    if precision == "int8":
        flags.append("INT8")
    calibrate = precision == "int8" and not graph_qdq
    note = "Q/DQ scales from the graph (explicit quantization)" if precision == "int8" and graph_qdq else ""
    return BuildPlan("weak", tuple(flags), calibrate, explicit, note)


def onnx_precision_info(path: str) -> dict[str, bool]:
    """Does the graph carry Q/DQ nodes (explicit INT8) or FP16 tensors (already half precision)?"""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    ops = {n.op_type for n in model.graph.node}
    fp16 = onnx.TensorProto.FLOAT16
    graph_fp16 = any(i.data_type == fp16 for i in model.graph.initializer) or any(
        v.type.tensor_type.elem_type == fp16 for v in [*model.graph.input, *model.graph.output])
    return {"qdq": bool(ops & {"QuantizeLinear", "DequantizeLinear"}), "fp16": graph_fp16}


def rebatch(batches: Sequence[dict[str, np.ndarray]], batch_size: int,
            max_batches: int | None = None) -> list[dict[str, np.ndarray]]:
    """Calibration data as equal batches of `batch_size` (the calibrator reports one fixed batch size).

    Batches of any size are concatenated in order and cut again; a short tail is dropped, never padded, so no
    invented sample enters the calibration statistics."""
    if batch_size < 1:
        raise ExportError("calibration batch size must be >= 1")
    if not batches:
        raise ExportError("INT8 calibration needs calibration data; the example provides none")
    names = list(batches[0])
    full = {n: np.concatenate([np.asarray(b[n]) for b in batches]) for n in names}
    total = len(next(iter(full.values())))
    count = total // batch_size
    if max_batches is not None:
        count = min(count, max_batches)
    if count == 0:
        raise ExportError(f"{total} calibration samples are fewer than one batch of {batch_size}")
    return [{n: np.ascontiguousarray(full[n][i * batch_size:(i + 1) * batch_size]) for n in names}
            for i in range(count)]


_PRECISION_RE = re.compile(r"\b(FP32|FP16|BF16|FP8|FP4|Int8|INT8|Int4|INT4|Int32|INT32|Int64|Bool)\b")


def layer_precisions(inspector_json: str) -> list[dict[str, Any]]:
    """Per-layer (name, type, output precision) from `get_engine_information(LayerInformationFormat.JSON)`.

    Engines built with ProfilingVerbosity.DETAILED list each layer's outputs with a "Format/Datatype" text such as
    "Row major linear FP16 format"; with less verbosity layers are bare names and precision is None."""
    data = json.loads(inspector_json)
    out = []
    for layer in data.get("Layers", []):
        if isinstance(layer, str):
            out.append({"name": layer, "type": None, "precision": None})
            continue
        outputs = layer.get("Outputs") or []
        text = " ".join(str(o.get("Format/Datatype", "")) for o in outputs if isinstance(o, dict))
        m = _PRECISION_RE.search(text)
        out.append({"name": layer.get("Name"), "type": layer.get("LayerType"),
                    "precision": m.group(1).upper() if m else None})
    return out


def precision_counts(layers: Sequence[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(layer["precision"] or "unknown" for layer in layers))
