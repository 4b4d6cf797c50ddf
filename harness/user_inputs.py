"""A user's real inputs for an ONNX file: `--inputs FILE.npz` (one array per graph input, leading axis = calls)
and `--labels FILE.npy` (one integer class per instance).

Array shape = (N, *feed_shape): call i feeds `array[i]` to the graph, so a scalar input (a sample rate) is an
array of shape (N,), and a recurrent state [2, batch, 128] an array (N, 2, batch, 128). The calls feed the timed
loop (cycled), the calibration of static INT8 and the quality pass. Everything is checked against the graph
before anything is written; each mismatch is one line naming the input, what the graph declares and what the
file holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import InputSpecError, message_line
from harness.inputs import InputSpec, batch_symbol


def declared(spec: InputSpec) -> str:
    """`float32 [batch, sequence]`, `int64 scalar` — the graph's declaration as a user reads it."""
    if not spec.dims:
        return f"{spec.dtype} scalar"
    return f"{spec.dtype} [{', '.join('?' if d is None else str(d) for d in spec.dims)}]"


@dataclass
class CallInputs:
    """The calls of an npz file, checked against one graph's inputs."""

    path: str
    calls: list[dict[str, np.ndarray]]
    batch_size: int
    symbols: dict[str, int] = field(default_factory=dict)   # symbol -> size, as the file fixes them
    labels: np.ndarray | None = None
    labels_path: str | None = None

    def __len__(self) -> int:
        return len(self.calls)

    @property
    def source(self) -> str:
        return f"inputs:{Path(self.path).name} ({len(self.calls)} calls)"

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.calls[0].items()}

    def batches(self, batch_size: int | None = None) -> list[dict[str, np.ndarray]]:
        """The quality pass runs every call once (the batch is part of each call already)."""
        return self.calls


def _open_npz(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise InputSpecError(f"--inputs {path}: file not found")
    with open(p, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise InputSpecError(f"--inputs {path} holds a single array, not an .npz of named arrays; write it with "
                             "np.savez(path, input_name=array, ...)")
    if not magic.startswith(b"PK"):
        raise InputSpecError(f"--inputs {path} is not a readable .npz file (not a zip archive); write it with "
                             "np.savez(path, input_name=array, ...)")
    try:
        with np.load(p, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise InputSpecError(f"--inputs {path} holds a single array, not an .npz of named arrays; "
                                     "write it with np.savez(path, input_name=array, ...)")
            return {name: np.asarray(data[name]) for name in data.files}
    except InputSpecError:
        raise
    except ValueError as exc:
        if "object arrays" in str(exc).lower() or "pickle" in str(exc).lower():
            raise InputSpecError(f"--inputs {path} holds object arrays; save plain numeric arrays "
                                 "(np.savez(path, name=np.asarray(x, dtype=...)))") from None
        raise InputSpecError(f"--inputs {path} is not a readable .npz file ({message_line(exc, 120)})") from None
    except (OSError, EOFError, Exception) as exc:   # zipfile.BadZipFile, truncated files...
        raise InputSpecError(f"--inputs {path} is not a readable .npz file ({message_line(exc, 120)}); write "
                             "it with np.savez(path, input_name=array, ...)") from None


def load_inputs(path: str, specs: list[InputSpec], dims: dict[str, int] | None = None,
                overrides: dict[str, tuple[int, ...]] | None = None) -> CallInputs:
    """Read and check an npz of calls against the graph's inputs (and any --dim / --input-shape given)."""
    arrays = _open_npz(path)
    dims = dims or {}
    overrides = overrides or {}
    names = [s.name for s in specs]
    if not arrays:
        raise InputSpecError(f"--inputs {path} holds no arrays; the model's inputs are: {', '.join(names)}")
    for name in arrays:
        if name not in names:
            raise InputSpecError(f"--inputs {path}: array {name!r} matches no input of the model; its inputs "
                                 f"are: {', '.join(f'{s.name} ({declared(s)})' for s in specs)}")
    counts: dict[str, int] = {}
    bound: dict[str, tuple[int, str, int]] = {}     # symbol -> (size, input, axis)
    for spec in specs:
        if spec.name not in arrays:
            raise InputSpecError(f"--inputs {path} has no array for input {spec.name!r}: the graph declares "
                                 f"{declared(spec)}; the file holds {', '.join(arrays)}")
        arr = arrays[spec.name]
        holds = f"{arr.dtype} array of shape {tuple(arr.shape)}"
        want_shape = "(N,)" if not spec.dims else \
            "(N, " + ", ".join("?" if d is None else str(d) for d in spec.dims) + ")"
        if arr.dtype != np.dtype(spec.dtype):
            raise InputSpecError(f"--inputs {path}: input {spec.name!r} is declared {declared(spec)}; the file "
                                 f"holds a {holds} (convert it with .astype(np.{spec.dtype}))")
        if arr.ndim != len(spec.dims) + 1:
            raise InputSpecError(f"--inputs {path}: input {spec.name!r} is declared {declared(spec)}, so the "
                                 f"file needs shape {want_shape} with the leading axis indexing calls; it holds "
                                 f"a {holds}")
        if arr.shape[0] < 1:
            raise InputSpecError(f"--inputs {path}: input {spec.name!r} holds no calls (shape {tuple(arr.shape)})")
        counts[spec.name] = arr.shape[0]
        for axis, (d, have) in enumerate(zip(spec.dims, arr.shape[1:])):
            where = f"input {spec.name!r} axis {axis}"
            if isinstance(d, int) and d != have:
                raise InputSpecError(f"--inputs {path}: {where} is fixed at {d} in the graph ({declared(spec)}); "
                                     f"the file holds {have} (array shape {tuple(arr.shape)}, N first)")
            if isinstance(d, str):
                if d in dims and dims[d] != have:
                    raise InputSpecError(f"--inputs {path}: {where} ('{d}') is {have} in the file but "
                                         f"--dim {d}={dims[d]}")
                if d in bound and bound[d][0] != have:
                    size, other, oaxis = bound[d]
                    raise InputSpecError(f"--inputs {path}: {where} carries symbol '{d}' = {have} in the file, "
                                         f"but input {other!r} axis {oaxis} gives '{d}' = {size}; arrays sharing "
                                         "a symbol must agree")
                bound.setdefault(d, (have, spec.name, axis))
        if spec.name in overrides and tuple(overrides[spec.name]) != tuple(arr.shape[1:]):
            raise InputSpecError(f"--inputs {path}: input {spec.name!r} has shape {tuple(arr.shape[1:])} per call "
                                 f"in the file but --input-shape gives "
                                 f"{'x'.join(map(str, overrides[spec.name]))}; drop --input-shape")
    if len(set(counts.values())) > 1:
        text = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise InputSpecError(f"--inputs {path}: arrays hold different numbers of calls ({text}); the leading "
                             "axis of every array counts the same calls")
    n = next(iter(counts.values()))
    bsym = batch_symbol(specs)
    if bsym is not None and bsym in bound:
        batch = bound[bsym][0]
    elif specs and specs[0].dims:
        batch = int(arrays[specs[0].name].shape[1])
    else:
        batch = 1
    # arr[i:i+1].reshape keeps 0-d arrays 0-d (arr[i] of a (N,) array is a numpy scalar, which onnxruntime
    # refuses, and ascontiguousarray would make it shape (1,))
    calls = [{s.name: arrays[s.name][i:i + 1].reshape(arrays[s.name].shape[1:]).copy() for s in specs}
             for i in range(n)]
    return CallInputs(path=str(path), calls=calls, batch_size=batch,
                      symbols={k: v[0] for k, v in bound.items()})


def load_labels(path: str, inputs: CallInputs) -> np.ndarray:
    """Integer labels, one per instance: shape (N,) when each call has one instance, (N*batch,) or (N, batch)."""
    p = Path(path)
    if not p.is_file():
        raise InputSpecError(f"--labels {path}: file not found")
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise InputSpecError(f"--labels {path} is not a readable .npy file ({message_line(exc, 120)}); write it "
                             "with np.save(path, labels)") from None
    if not isinstance(arr, np.ndarray):
        raise InputSpecError(f"--labels {path} is an .npz; give one integer array saved with np.save(path, labels)")
    if arr.dtype.kind not in "iu":
        raise InputSpecError(f"--labels {path} holds {arr.dtype} values; labels are class indices (integers)")
    n, b = len(inputs), inputs.batch_size
    if arr.shape in {(n * b,), (n, b)} or (b == 1 and arr.shape == (n,)):
        return arr.reshape(-1).astype(np.int64)
    raise InputSpecError(f"--labels {path} holds shape {tuple(arr.shape)}; {inputs.path} has {n} calls of batch "
                         f"{b}, so labels need shape ({n * b},)" + (f" or ({n}, {b})" if b > 1 else ""))


def label_output(outputs: list[tuple[str, list[Any], int]]) -> str | None:
    """The first graph output that can be class scores: floating point, rank 2 ([batch, classes])."""
    for name, dims, elem in outputs:
        if elem in (1, 10, 11, 16) and len(dims) == 2 and not (isinstance(dims[1], int) and dims[1] < 2):
            return name
    return None
