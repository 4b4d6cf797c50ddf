"""Model inputs: names, shapes and dtypes read from the ONNX graph, and the arrays fed to every variant.

Every variant compared in a run gets the same inputs: real example data when the model comes with it, otherwise
seeded random data of the right dtype; which one is recorded (`inputs_source`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.errors import InputSpecError, ModelError, message_line

_ONNX_TO_NUMPY = {
    1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
    9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
}


UNNAMED = {"", "?", "-1", "0", "None", "none", "unk", "unknown"}


@dataclass(frozen=True)
class InputSpec:
    name: str
    dims: tuple[Any, ...]          # int for fixed dims, str (symbol) or None for dynamic ones
    dtype: str                     # numpy dtype name

    def dynamic_axes(self) -> list[int]:
        return [i for i, d in enumerate(self.dims) if not isinstance(d, int)]


def parse_shape_overrides(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """`["input_ids=1x128", "pixel=1x3x224x224"]` -> {name: shape}."""
    out: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, shape = item.partition("=")
        if not sep or not name or not re.fullmatch(r"\d+(x\d+)*", shape.strip()):
            raise InputSpecError(f"bad --input-shape {item!r}: expected NAME=DxDxD, e.g. input=1x3x224x224")
        out[name.strip()] = tuple(int(d) for d in shape.strip().split("x"))
    return out


def read_input_specs(path: str) -> list[InputSpec]:
    """Graph inputs that are not initializers, with their declared dims."""
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except Exception as exc:
        raise ModelError(f"{path} is not a valid ONNX model ({message_line(exc, 200)})") from None
    if not model.graph.node:
        raise ModelError(f"{path} is not a valid ONNX model (its graph has no nodes)")
    inits = {i.name for i in model.graph.initializer}
    specs = []
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        tensor = inp.type.tensor_type
        if not inp.type.HasField("tensor_type"):
            raise ModelError(f"{path}: input {inp.name!r} is not a tensor; only tensor inputs are supported")
        dtype = _ONNX_TO_NUMPY.get(tensor.elem_type)
        if dtype is None:
            raise ModelError(f"{path}: input {inp.name!r} has unsupported element type {tensor.elem_type}")
        dims: list[Any] = []
        for d in tensor.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            else:
                # "?", "-1" and "0" written as symbols mean "unknown": unnamed, not a symbol shared by every
                # axis that carries it
                dims.append(None if d.dim_param.strip() in UNNAMED else d.dim_param)
        specs.append(InputSpec(inp.name, tuple(dims), np.dtype(dtype).name))
    return specs


BATCH_NAMES = {"batch", "batch_size", "batchsize", "bs", "n", "nbatch", "num_batch", "batch_dim"}


def parse_dim_overrides(items: list[str] | None) -> dict[str, int]:
    """`["batch=1", "sequence=512"]` -> {symbol: size} (--dim)."""
    out: dict[str, int] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not re.fullmatch(r"\d+", value.strip()) or int(value) < 1:
            raise InputSpecError(f"bad --dim {item!r}: expected SYMBOL=N with N >= 1, e.g. --dim sequence=512")
        out[name.strip()] = int(value)
    return out


def batch_symbol(specs: list[InputSpec]) -> str | None:
    """The symbol that names the batch: one spelled like a batch anywhere in the inputs, else the symbol on the
    first input's first axis. Never a fixed axis of another input (a recurrent state [2, batch, 128] is not a
    batch of 2)."""
    for spec in specs:
        for d in spec.dims:
            if isinstance(d, str) and d.lower() in BATCH_NAMES:
                return d
    if specs and specs[0].dims and isinstance(specs[0].dims[0], str):
        return specs[0].dims[0]
    return None


def default_batch_size(specs: list[InputSpec], dims: dict[str, int] | None = None) -> int:
    """The batch a run uses when --batch-size is not given: --dim on the batch symbol, else the first input's
    fixed first axis, else 1."""
    symbol = batch_symbol(specs)
    if symbol is not None and dims and symbol in dims:
        return dims[symbol]
    if symbol is None and specs and specs[0].dims and isinstance(specs[0].dims[0], int):
        return specs[0].dims[0]
    return 1


def check_dim_symbols(specs: list[InputSpec], dims: dict[str, int] | None) -> None:
    """--dim must name symbols the graph's inputs carry (a typo would otherwise be silently ignored)."""
    symbols = {d for s in specs for d in s.dims if isinstance(d, str)}
    unused = set(dims or {}) - symbols
    if unused:
        have = ", ".join(sorted(symbols)) or "none (every dynamic axis is unnamed; use --input-shape)"
        raise InputSpecError(f"--dim names unknown symbol(s) {', '.join(sorted(unused))}; the model's dimension "
                             f"symbols are: {have}")


def _batch_axis(spec: InputSpec, index: int, symbol: str | None) -> int | None:
    """The axis of `spec` that carries the batch: the batch symbol, or (no symbol anywhere) an unnamed first
    axis; the first input's first axis when it is dynamic."""
    if symbol is not None:
        hits = [i for i, d in enumerate(spec.dims) if d == symbol]
        if hits:
            return hits[0]
        return None
    if spec.dims and spec.dims[0] is None:
        return 0
    if index == 0 and spec.dims and not isinstance(spec.dims[0], int):
        return 0
    return None


def resolve_shapes(specs: list[InputSpec], batch_size: int, overrides: dict[str, tuple[int, ...]],
                   dims: dict[str, int] | None = None) -> dict[str, tuple[int, ...]]:
    """Concrete shape per input for one batch size.

    A dynamic axis gets its size from, in order: --input-shape for that input (its batch axis still follows
    the batch size), --dim for its symbol (every input carrying the symbol), the batch size for the batch axis,
    or the size another input's --input-shape gave the same symbol. Whatever is left is reported at once, each
    with its input, axis and symbol (or "unnamed")."""
    dims = dict(dims or {})
    unknown = set(overrides) - {s.name for s in specs}
    if unknown:
        names = ", ".join(s.name for s in specs)
        raise InputSpecError(f"--input-shape names unknown input(s) {', '.join(sorted(unknown))}; "
                             f"the model's inputs are: {names}")
    check_dim_symbols(specs, dims)
    bsym = batch_symbol(specs)
    if bsym is not None and bsym in dims and dims[bsym] != batch_size:
        raise InputSpecError(f"--dim {bsym}={dims[bsym]} disagrees with batch size {batch_size}; "
                             f"give one of --dim {bsym}=N or --batch-size N")
    bound: dict[str, int] = dict(dims)
    if bsym is not None:
        bound[bsym] = batch_size
    # symbols bound by an --input-shape apply to the other inputs carrying them
    for spec in specs:
        if spec.name not in overrides:
            continue
        shape = overrides[spec.name]
        if len(shape) != len(spec.dims):
            raise InputSpecError(f"--input-shape {spec.name}: model input has rank {len(spec.dims)}, "
                                 f"got {len(shape)} dims")
        for i, (want, have) in enumerate(zip(spec.dims, shape)):
            if isinstance(want, int) and want != have:
                raise InputSpecError(f"--input-shape {spec.name}: dim {i} is fixed at {want} in the model, "
                                     f"got {have}")
            if isinstance(want, str) and want not in bound:
                bound[want] = have
    shapes: dict[str, tuple[int, ...]] = {}
    missing: list[tuple[InputSpec, int, Any]] = []
    for index, spec in enumerate(specs):
        baxis = _batch_axis(spec, index, bsym)
        given = overrides.get(spec.name)
        shape: list[int] = []
        for i, d in enumerate(spec.dims):
            if isinstance(d, int):
                shape.append(d)
            elif i == baxis:
                shape.append(batch_size)
            elif given is not None:
                shape.append(given[i])
            elif isinstance(d, str) and d in bound:
                shape.append(bound[d])
            else:
                missing.append((spec, i, d))
                shape.append(-1)
        if index == 0 and spec.dims and isinstance(spec.dims[0], int) and bsym is None and \
                spec.dims[0] != batch_size and given is None:
            raise InputSpecError(f"input {spec.name!r} has a fixed batch of {spec.dims[0]}; "
                                 f"--batch-size {batch_size} is not possible for this model")
        shapes[spec.name] = tuple(shape)
    if missing:
        raise InputSpecError(_missing_text(missing))
    return shapes


def _missing_text(missing: list[tuple[InputSpec, int, Any]]) -> str:
    parts, hints, seen = [], [], set()
    for spec, axis, d in missing:
        label = f"'{d}'" if d else "unnamed"
        parts.append(f"input {spec.name!r} has dynamic dimension {label} at axis {axis}")
        if d and d not in seen:
            seen.add(d)
            hints.append(f"--dim {d}=N")
        elif not d and spec.name not in seen:
            seen.add(spec.name)
            example = "x".join(str(x) if isinstance(x, int) else ("1" if j == 0 else "N")
                               for j, x in enumerate(spec.dims))
            hints.append(f"--input-shape {spec.name}={example}")
    # the per-input form always works, so name it too for the first input
    spec = missing[0][0]
    example = "x".join(str(x) if isinstance(x, int) else ("1" if j == 0 else "N") for j, x in enumerate(spec.dims))
    if f"--input-shape {spec.name}={example}" not in hints:
        hints.append(f"--input-shape {spec.name}={example}")
    if len(hints) == 2:     # one --dim (or one input) plus the per-input form
        return "; ".join(parts) + "; give its size with " + " or ".join(hints)
    return "; ".join(parts) + "; give the sizes with " + " ".join(hints[:-1]) + " (or " + hints[-1] + ")"


def random_inputs(specs: list[InputSpec], shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Seeded random data of the right dtype. Integer inputs named like masks get ones, token types zeros,
    other integer inputs (token ids) small non-negative ids so embedding lookups stay in range."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        shape, dtype = shapes[spec.name], np.dtype(spec.dtype)
        lname = spec.name.lower()
        if dtype.kind == "f":
            arr = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            arr = np.ones(shape, dtype=dtype)
        elif "mask" in lname:
            arr = np.ones(shape, dtype=dtype)
        elif "type" in lname or "segment" in lname or "position" in lname:
            arr = np.zeros(shape, dtype=dtype)
        else:
            high = 100 if dtype.itemsize > 1 else 2
            arr = rng.integers(0, high, size=shape).astype(dtype)
        feeds[spec.name] = arr
    return feeds


def example_inputs(data: dict[str, np.ndarray], specs: list[InputSpec], batch_size: int) -> dict[str, np.ndarray]:
    """The first `batch_size` real instances, repeated if the data set is smaller, cast to the graph's dtypes."""
    feeds = {}
    for spec in specs:
        if spec.name not in data:
            raise InputSpecError(f"example data has no input {spec.name!r} (it has {', '.join(data)})")
        arr = data[spec.name]
        reps = -(-batch_size // len(arr))
        arr = np.concatenate([arr] * reps)[:batch_size] if reps > 1 else arr[:batch_size]
        feeds[spec.name] = np.ascontiguousarray(arr.astype(np.dtype(spec.dtype), copy=False))
    return feeds
