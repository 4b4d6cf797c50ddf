"""Helpers shared by the ONNX-level exporters: calibration checks, the optimised-graph fusion count, and a
guard that keeps third-party tools from littering the working directory."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.core.errors import ExportError, first_line
from harness.core.quantized_ops import INTEGER_COMPUTE_OPS

# onnxruntime kernels that compute in integers vs in floating point, after graph optimisation
INTEGER_OPS = INTEGER_COMPUTE_OPS
FLOAT_OPS = {"Conv", "FusedConv", "MatMul", "FusedMatMul", "Gemm", "FusedGemm", "ConvTranspose", "Attention",
             "MultiHeadAttention"}

_ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16,
                11: np.float64}


@contextlib.contextmanager
def scratch_dir(prefix: str = "harness-export-") -> Iterator[Path]:
    """A temp dir that is also the cwd while inside: some onnxruntime tools write scratch files into the cwd
    (quant_pre_process, older calibrators). Callers must pass absolute paths."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def require_onnx_source(source, exporter: str, ctx) -> Path:
    """The ONNX file a post-training step works on; every chain starts at fp32, so it is always there. A file
    that lists its weights as graph inputs is given as a copy that does not (`weights_not_inputs`)."""
    if source is None or not source.variant.path:
        raise ExportError(f"{exporter} needs an ONNX model to work on; start the recipe with fp32")
    path = Path(source.variant.path)
    if path.suffix != ".onnx":
        raise ExportError(f"{exporter} works on ONNX files, got {path.name}")
    return weights_not_inputs(path, Path(ctx.out_dir) / "weights-not-inputs")


def drop_initializer_inputs(model) -> int:
    """Graphs of ONNX IR < 4 (the ONNX model zoo's older files) must list every initializer as a graph input too,
    and the post-training tools then take the weights for inputs a caller may override: onnxruntime's dynamic
    quantizer stops ("Expected ... to be an initializer"), pruning finds no weights, and the fp16 converter leaves
    those inputs float32 around float16 weights, which onnxruntime refuses ("Tensor element type mismatch"). The
    weights are not inputs anyone feeds: they leave the input list, and the IR version becomes 4, which allows
    that. Returns how many inputs were dropped (the model is changed in place)."""
    weights = {i.name for i in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in weights]
    dropped = len(model.graph.input) - len(keep)
    if dropped:
        del model.graph.input[:]
        model.graph.input.extend(keep)
        model.ir_version = max(model.ir_version, 4)
    return dropped


def weights_not_inputs(path: Path, out_dir: Path) -> Path:
    """`path` itself, or when it lists weights as graph inputs (`drop_initializer_inputs`) a copy without them,
    under `out_dir` with the same file name (variants keep their names), written once per run and source."""
    import hashlib

    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    if not any(i.name in weights for i in model.graph.input):
        return path
    out = out_dir / hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8] / path.name
    if not out.exists():
        model = onnx.load(str(path))
        drop_initializer_inputs(model)
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(out))
    return out.resolve()


def graph_inputs(path: str | Path) -> dict[str, tuple[list[Any], Any]]:
    """{input name: (dims with None/str for symbolic axes, numpy dtype)} of an ONNX model's real inputs."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        t = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
        out[inp.name] = (dims, _ONNX_DTYPES.get(t.elem_type))
    return out


def check_calibration(batches: list[dict[str, np.ndarray]], path: str | Path) -> None:
    """Raise ExportError naming the input and the expected shape/dtype when calibration data does not fit."""
    if not batches:
        raise ExportError("calibration data is empty; the example's calibration(n) returned no batches")
    expected = graph_inputs(path)
    for i, batch in enumerate(batches):
        if not isinstance(batch, dict):
            raise ExportError(f"calibration batch {i} is a {type(batch).__name__}; expected a dict of "
                              f"input name -> array for inputs {', '.join(expected)}")
        missing = set(expected) - set(batch)
        if missing:
            raise ExportError(f"calibration batch {i} lacks input(s) {', '.join(sorted(missing))}; "
                              f"the model's inputs are {', '.join(expected)}")
        for name, (dims, dtype) in expected.items():
            arr = batch[name]
            shape_text = "x".join(str(d) if isinstance(d, int) and d > 0 else "N" for d in dims)
            dtype_text = np.dtype(dtype).name if dtype is not None else "the model's type"
            if not isinstance(arr, np.ndarray):
                raise ExportError(f"calibration input {name!r} is a {type(arr).__name__}; expected a numpy "
                                  f"array of shape {shape_text} and dtype {dtype_text}")
            if dtype is not None and arr.dtype != dtype:
                raise ExportError(f"calibration input {name!r} has dtype {arr.dtype}; expected "
                                  f"{dtype_text} (shape {shape_text})")
            fixed_ok = all(not (isinstance(d, int) and d > 0) or d == s for d, s in zip(dims, arr.shape))
            if arr.ndim != len(dims) or not fixed_ok:
                raise ExportError(f"calibration input {name!r} has shape {'x'.join(map(str, arr.shape))}; "
                                  f"expected {shape_text} (dtype {dtype_text})")


class ListReader:
    """onnxruntime CalibrationDataReader over a list of feed dicts (duck-typed: get_next is all it needs)."""

    def __init__(self, batches: list[dict[str, np.ndarray]]):
        self.batches = batches
        self._it = iter(batches)

    def get_next(self):
        return next(self._it, None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item

    def __len__(self) -> int:
        return len(self.batches)

    def rewind(self) -> None:
        self._it = iter(self.batches)


def optimized_op_counts(path: str | Path, providers: list[str] | None = None) -> Counter:
    """Op types in the graph onnxruntime actually runs: saves the optimised model in a temp dir and counts."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="harness-opt-") as tmp:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3    # the "hardware specific optimizations" notice is expected here
        ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
        model = onnx.load(opts.optimized_model_filepath)
    return Counter(node.op_type for node in model.graph.node)


def fusion_report(path: str | Path, providers: list[str] | None = None) -> dict[str, Any]:
    """How many compute ops run as integer kernels: {integer_ops, float_ops, fused_fraction, ops}.
    Raises ExportError when onnxruntime cannot load the file: a variant nobody can run is a failed export."""
    try:
        counts = optimized_op_counts(path, providers)
    except Exception as exc:
        raise ExportError(f"onnxruntime cannot load the exported model: {_ort_text(exc)}") from None
    integer = sum(n for op, n in counts.items() if op in INTEGER_OPS)
    floating = sum(n for op, n in counts.items() if op in FLOAT_OPS)
    total = integer + floating
    return {"integer_ops": integer, "float_ops": floating,
            "fused_fraction": integer / total if total else None,
            "ops": {op: n for op, n in sorted(counts.items()) if op in INTEGER_OPS | FLOAT_OPS}}


def check_loads(path: str | Path) -> None:
    """Raise ExportError unless onnxruntime's CPU provider can load the file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"onnxruntime cannot load the exported model: {_ort_text(exc)}") from None


def run_once(path: str | Path) -> None:
    """Raise ExportError unless the file runs once on zeros in onnxruntime's CPU provider (symbolic axes = 1)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feeds = {}
        for inp in sess.get_inputs():
            dims = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
            dtype = _ORT_TYPES.get(inp.type, np.float32)
            feeds[inp.name] = np.zeros(dims, dtype)
        sess.run(None, feeds)
    except Exception as exc:
        raise ExportError(f"onnxruntime cannot run the exported model: {_ort_text(exc)}") from None


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
              "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def _ort_text(exc: BaseException) -> str:
    """onnxruntime's own message without its C++ prefix and the temp path it loaded."""
    if "ONNXRuntimeError" not in str(exc):
        return first_line(exc)
    from harness.runtimes.onnxruntime_runtime import summarize_ort_error

    return summarize_ort_error(exc)


def explain_quantizer_error(exc: BaseException) -> str:
    """One line for a failure inside onnxruntime's quantizer, never its raw traceback text: a KeyError names a
    tensor the quantizer expected to have a calibrated range (or scale) for, which a bare "'140_scale'" does not
    tell anyone."""
    if isinstance(exc, KeyError):
        name = exc.args[0] if exc.args else "?"
        return (f"onnxruntime's quantizer found no range or scale for tensor {name!r} (KeyError): the graph holds "
                "ops it cannot calibrate through (already-quantized parts, custom ops or If/Loop bodies); "
                "exclude the nodes around it or give the float model")
    text = _ort_text(exc) if "ONNXRuntimeError" in str(exc) else first_line(exc)
    return f"onnxruntime's quantizer failed ({text})"


def is_x86(target_info: dict[str, Any]) -> bool:
    import platform

    machine = str(target_info.get("machine") or platform.machine()).lower()
    return machine in {"x86_64", "amd64", "i686", "x86"}


def output_path(ctx, base_path: str | Path | None, op: str, params: dict[str, Any]) -> Path:
    """`<base stem>.<op>-<params hash>.onnx` in the run's export dir: unique per chain and per config."""
    import hashlib
    import json

    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(base_path).stem if base_path else ctx.example.name
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:6]
    return Path(ctx.out_dir).resolve() / f"{stem}.{op}-{digest}.onnx"


@contextlib.contextmanager
def quiet_logging() -> Iterator[None]:
    """onnxruntime.quantization logs advice through the root logger on every call; keep run output clean."""
    import logging

    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
