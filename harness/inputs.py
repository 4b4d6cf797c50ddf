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
                dims.append(d.dim_param or None)
        specs.append(InputSpec(inp.name, tuple(dims), np.dtype(dtype).name))
    return specs


def default_batch_size(specs: list[InputSpec]) -> int:
    """The model's own batch when its first input declares a fixed one, else 1."""
    for spec in specs:
        if spec.dims and isinstance(spec.dims[0], int):
            return spec.dims[0]
    return 1


def resolve_shapes(specs: list[InputSpec], batch_size: int,
                   overrides: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Concrete shape per input for one batch size; a dynamic dim other than the batch axis needs an override."""
    unknown = set(overrides) - {s.name for s in specs}
    if unknown:
        names = ", ".join(s.name for s in specs)
        raise InputSpecError(f"--input-shape names unknown input(s) {', '.join(sorted(unknown))}; "
                             f"the model's inputs are: {names}")
    shapes = {}
    for spec in specs:
        if spec.name in overrides:
            shape = list(overrides[spec.name])
            if len(shape) != len(spec.dims):
                raise InputSpecError(f"--input-shape {spec.name}: model input has rank {len(spec.dims)}, "
                                     f"got {len(shape)} dims")
            for i, (want, have) in enumerate(zip(spec.dims, shape)):
                if isinstance(want, int) and want != have:
                    raise InputSpecError(f"--input-shape {spec.name}: dim {i} is fixed at {want} in the model, "
                                         f"got {have}")
            if spec.dims and not isinstance(spec.dims[0], int):
                shape[0] = batch_size
        else:
            shape = []
            for i, d in enumerate(spec.dims):
                if isinstance(d, int):
                    shape.append(d)
                elif i == 0:
                    shape.append(batch_size)
                else:
                    label = f"'{d}'" if d else "unnamed"
                    example = "x".join(str(x) if isinstance(x, int) else ("1" if j == 0 else "N")
                                       for j, x in enumerate(spec.dims))
                    raise InputSpecError(
                        f"input {spec.name!r} has dynamic dimension {label} at axis {i}; "
                        f"give its size with --input-shape {spec.name}={example}")
        if spec.dims and isinstance(spec.dims[0], int) and spec.dims[0] != batch_size and \
                spec.name not in overrides:
            raise InputSpecError(f"input {spec.name!r} has a fixed batch of {spec.dims[0]}; "
                                 f"--batch-size {batch_size} is not possible for this model")
        shapes[spec.name] = tuple(shape)
    return shapes


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
