"""The Variant record: one model file to measure, with its provenance (base, operation, params)."""
from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import ModelError, message_line


@dataclass(frozen=True)
class Variant:
    """An exported (or user-supplied) model file and where it came from.

    variant_id is the content hash of the file, so the same bytes get the same id in every run; a variant whose
    export failed has no file and gets the hash of its recipe instead. base_id/root_id link the provenance tree.
    """

    name: str
    variant_id: str
    path: str | None
    format: str = "onnx"
    precision: str = "fp32"
    model: str | None = None
    base_id: str | None = None
    root_id: str | None = None
    operation: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"                  # ok | failed | skipped
    error: str | None = None
    size_bytes: int | None = None
    gzip_bytes: int | None = None
    param_count: int | None = None
    sparsity: float | None = None
    export_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def with_(self, **changes: Any) -> "Variant":
        return replace(self, **changes)

    def row(self, run_id: str, created_at) -> dict[str, Any]:
        return {
            "run_id": run_id, "variant_id": self.variant_id, "name": self.name, "model": self.model,
            "format": self.format, "precision": self.precision, "path": self.path, "base_id": self.base_id,
            "root_id": self.root_id, "operation": self.operation,
            "params": json.dumps(self.params, sort_keys=True, default=str), "size_bytes": self.size_bytes,
            "gzip_bytes": self.gzip_bytes, "param_count": self.param_count, "sparsity": self.sparsity,
            "status": self.status, "error": self.error, "export_s": self.export_s,
            "info": json.dumps(self.info, sort_keys=True, default=str), "created_at": created_at,
        }


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    for file in _model_files(Path(path)):
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def recipe_hash(*parts: Any) -> str:
    return "x" + hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:15]


def _model_files(path: Path) -> list[Path]:
    """The model file plus any ONNX external-data files stored beside it (they are part of its size)."""
    files = [path]
    if path.suffix == ".onnx":
        files += sorted(p for p in path.parent.glob(path.name + ".data"))
    return files


def size_stats(path: str | Path) -> tuple[int, int]:
    """(size_bytes, gzip_bytes) of the model including external data; gzip shows what pruning saves on disk."""
    files = _model_files(Path(path))
    size = sum(f.stat().st_size for f in files)
    compressor = gzip.compress
    gz = sum(len(compressor(f.read_bytes(), compresslevel=6)) for f in files)
    return size, gz


def onnx_weight_stats(path: str | Path) -> tuple[int, float]:
    """(parameter count, fraction of exact zeros) over the graph's floating-point and integer weight initializers.

    Integer initializers of rank >= 1 count too (quantized weights); scalar scales/zero points do not."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"{path} is not a readable ONNX model: {message_line(exc, 200)}") from None
    count = zeros = 0
    for init in model.graph.initializer:
        if len(init.dims) == 0 or int(np.prod(init.dims)) <= 1:
            continue
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind not in "fiu":
            continue
        # 1-D integer tensors are shapes/indices, not weights
        if arr.dtype.kind in "iu" and arr.ndim < 2:
            continue
        count += arr.size
        zeros += int(np.count_nonzero(arr == 0))
    return count, (zeros / count if count else 0.0)


def describe_file(path: str | Path) -> dict[str, Any]:
    """Size, gzip size, parameter count and sparsity of an ONNX file (fields of Variant)."""
    size, gz = size_stats(path)
    out: dict[str, Any] = {"size_bytes": size, "gzip_bytes": gz}
    if str(path).endswith(".onnx"):
        out["param_count"], out["sparsity"] = onnx_weight_stats(path)
    return out


def variant_from_file(path: str | Path, name: str | None = None, **fields: Any) -> Variant:
    """A Variant for an existing model file (a user's ONNX model or an exporter's output)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"not a file: {path}")
    stats = describe_file(path)
    stats.update(fields)
    return Variant(name=name or path.stem, variant_id=file_hash(path), path=str(path.resolve()), **stats)
