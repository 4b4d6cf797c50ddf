"""The per-run HDF5 file of per-instance outputs, referenced from `runs.hdf5_path`.

Layout:
    /                        attrs: model, task, n_instances, format_version
    /labels                  (N,) int64, when the eval data has labels
    /instances               (N, H, W) float32 images, or (N,) strings (sentences)
    /class_names             (C,) strings
    /variants/<variant_id>/  attrs: name, base_id, root_id, precision, output_names (JSON)
        outputs/<k>          (N, ...) float32, model output k (logits or embeddings)
        predictions          (N,) int64 argmax, for classification
        drift/<reference>/   reference = base | root; attrs: reference_id
            flipped          (M,) int64 instance indices whose prediction changed
            <kind>           (N,) float64 per-instance comparison (difference, kl_divergence, cosine, ...)

The writer opens, appends and closes per variant, so a killed run leaves a readable file. `OutputsFile` is the
reader the dashboard uses; it also opens the file only for the duration of each call.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1


def _h5py():
    import h5py

    return h5py


def _replace(group, name: str, data, **kwargs) -> None:
    if name in group:
        del group[name]
    group.create_dataset(name, data=data, **kwargs)


def init_file(path: str | Path, model: str, task: str, eval_data) -> None:
    """Create the file with the eval set's labels, instances and class names (once per run)."""
    h5py = _h5py()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs.update({"model": model, "task": task, "n_instances": len(eval_data),
                        "format_version": FORMAT_VERSION})
        if eval_data.labels is not None:
            f.create_dataset("labels", data=np.asarray(eval_data.labels, dtype=np.int64))
        inst = eval_data.instances
        if inst is not None:
            if isinstance(inst, list) or (isinstance(inst, np.ndarray) and inst.dtype.kind in "OUS"):
                f.create_dataset("instances", data=[str(s) for s in inst], dtype=h5py.string_dtype())
            else:
                f.create_dataset("instances", data=np.asarray(inst, dtype=np.float32), compression="gzip")
        if eval_data.class_names:
            f.create_dataset("class_names", data=list(eval_data.class_names), dtype=h5py.string_dtype())
        f.create_group("variants")


def write_outputs(path: str | Path, variant, outputs: list[np.ndarray], output_names: list[str],
                  predictions: np.ndarray | None) -> None:
    h5py = _h5py()
    with h5py.File(path, "a") as f:
        g = f.require_group("variants").require_group(variant.variant_id)
        g.attrs.update({"name": variant.name, "base_id": variant.base_id or "", "root_id": variant.root_id or "",
                        "precision": variant.precision or "", "output_names": json.dumps(list(output_names))})
        outs = g.require_group("outputs")
        for k, arr in enumerate(outputs):
            _replace(outs, str(k), np.asarray(arr, dtype=np.float32), compression="gzip")
        if predictions is not None:
            _replace(g, "predictions", np.asarray(predictions, dtype=np.int64))


def write_drift(path: str | Path, variant_id: str, reference: str, reference_id: str,
                flipped: np.ndarray | None, per_instance: dict[str, np.ndarray]) -> None:
    h5py = _h5py()
    with h5py.File(path, "a") as f:
        g = f.require_group("variants").require_group(variant_id).require_group("drift")
        if reference in g:
            del g[reference]
        r = g.create_group(reference)
        r.attrs["reference_id"] = reference_id
        if flipped is not None:
            r.create_dataset("flipped", data=np.asarray(flipped, dtype=np.int64))
        for kind, values in per_instance.items():
            r.create_dataset(kind, data=np.asarray(values, dtype=np.float64))


class OutputsFile:
    """Read access to a run's outputs file; every call opens and closes the file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            from harness.core.errors import UsageError

            raise UsageError(f"no outputs file at {self.path}; was the run made with the quality pass on?")

    def _open(self):
        return _h5py().File(self.path, "r")

    def meta(self) -> dict[str, Any]:
        with self._open() as f:
            return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}

    def variants(self) -> dict[str, dict[str, Any]]:
        """{variant_id: {name, base_id, root_id, precision, output_names}} of variants with stored outputs."""
        with self._open() as f:
            out = {}
            for vid, g in f.get("variants", {}).items():
                a = dict(g.attrs)
                out[vid] = {"name": str(a.get("name", "")), "base_id": str(a.get("base_id", "")) or None,
                            "root_id": str(a.get("root_id", "")) or None, "precision": str(a.get("precision", "")),
                            "output_names": json.loads(a.get("output_names", "[]"))}
            return out

    def labels(self) -> np.ndarray | None:
        with self._open() as f:
            return f["labels"][()] if "labels" in f else None

    def class_names(self) -> list[str] | None:
        with self._open() as f:
            return [s.decode() if isinstance(s, bytes) else str(s) for s in f["class_names"][()]] \
                if "class_names" in f else None

    def instances(self) -> np.ndarray | list[str] | None:
        """Images as an (N, H, W) array, or sentences as a list of str."""
        with self._open() as f:
            if "instances" not in f:
                return None
            d = f["instances"]
            if d.dtype.kind in "OS":
                return [s.decode() if isinstance(s, bytes) else str(s) for s in d[()]]
            return d[()]

    def outputs(self, variant_id: str, index: int = 0) -> np.ndarray:
        with self._open() as f:
            return f[f"variants/{variant_id}/outputs/{index}"][()]

    def predictions(self, variant_id: str) -> np.ndarray | None:
        with self._open() as f:
            key = f"variants/{variant_id}/predictions"
            return f[key][()] if key in f else None

    def flipped(self, variant_id: str, reference: str = "root") -> np.ndarray | None:
        with self._open() as f:
            key = f"variants/{variant_id}/drift/{reference}/flipped"
            return f[key][()] if key in f else None

    def drift(self, variant_id: str, reference: str = "root") -> dict[str, np.ndarray]:
        """Per-instance comparison arrays against `reference` (base | root), flipped indices excluded."""
        with self._open() as f:
            key = f"variants/{variant_id}/drift/{reference}"
            if key not in f:
                return {}
            return {k: d[()] for k, d in f[key].items() if k != "flipped"}
