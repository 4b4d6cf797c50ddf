"""`LocalModelMonitor`: a drop-in for Compress and Compare's class of the same name that also records every
saved model into a harness store.

Same constructor (a directory plus C&C's optional file-name and type arguments), same methods, arguments and
validation, same files: `models.json`, checkpoints under `models/` and per-instance outputs under
`models/outputs/`. In addition each `save_model` writes the model as a variant (provenance: base, operation,
parameters, tag; its metrics as user metrics) of one run per monitor directory in the store given by `db`
(default `<directory>/harness.duckdb`), so models logged from a training script appear in `harness runs`, the
dashboard and `harness compare`, and `harness bench --monitor DIR` can measure their checkpoints on a device.

Differences from C&C, each deliberate:
  - a checkpoint that is a path to an `.onnx` file (or an `onnx.ModelProto`) is stored as `models/<id>.onnx`,
    which `harness bench --monitor` can measure directly;
  - NaN or infinite metric values are written as null, not 0 (a 0 would read as a measured zero);
  - `log_curve` records training / validation curves (shown in TensorBoard under {model}/training/ and
    {model}/validation/);
  - a store that cannot be written (held by a running bench past the lock timeout) does not stop training: a
    warning is issued and models.json stays the record (`harness import cc DIR` brings it in later).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from harness.interop import cc

PARAM_OPTION_KEYS = ("min", "max", "format", "options", "type")


class LocalModelMonitor:
    """A local directory of models, their operations and metrics (C&C's format), mirrored into a harness store."""

    def __init__(self, monitor_directory, metadata_filename="models.json", model_dirname="models",
                 model_output_dirname="models/outputs", checkpoint_type="torch", outputs_type="pickle",
                 db: str | os.PathLike | None = None, record: bool = True, lock_timeout_s: float = 60.0):
        self.monitor_directory = monitor_directory
        self.model_dirname = model_dirname
        self.model_output_dirname = model_output_dirname
        self.metadata_filename = metadata_filename
        self.checkpoint_type = checkpoint_type
        self.outputs_type = outputs_type
        for sub in ("", model_dirname, model_output_dirname):
            os.makedirs(os.path.join(monitor_directory, sub), exist_ok=True)
        self.operations: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.record = record
        self.db = Path(db) if db is not None else Path(monitor_directory) / "harness.duckdb"
        self.lock_timeout_s = lock_timeout_s
        self._store = None
        self.load_metadata()

    # -- C&C's API -------------------------------------------------------------------------------------------------
    def _metadata_path(self) -> str:
        return os.path.join(self.monitor_directory, self.metadata_filename)

    def make_info_dictionary(self) -> dict[str, Any]:
        """All operations, metrics and models as a JSON-serialisable dictionary (models.json's content)."""
        return cc.clean_json({"operations": list(self.operations.values()), "metrics": list(self.metrics.values()),
                              "models": list(self.models.values())})

    def load_metadata(self) -> None:
        if not os.path.exists(self._metadata_path()):
            return
        with open(self._metadata_path()) as f:
            metadata = json.load(f)
        self.operations = {op["name"]: op for op in metadata["operations"]}
        self.metrics = {m["name"]: m for m in metadata["metrics"]}
        self.models = {m["id"]: m for m in metadata["models"]}

    def save_metadata(self) -> None:
        # write then rename, so a training script killed mid-write never leaves a truncated models.json
        tmp = self._metadata_path() + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.make_info_dictionary(), f, indent=2)
        os.replace(tmp, self._metadata_path())

    def set_operation(self, name, **parameters) -> None:
        """Declare an operation and its parameters, e.g. `set_operation("Pruning", sparsity={"type":
        "continuous", "min": 0, "max": 1})`. Parameter specs take only type, min, max, options and format."""
        for param_name, param_options in parameters.items():
            if not isinstance(param_options, dict):
                raise ValueError(f"Operation parameter '{param_name}' must be a dict of options "
                                 f"({', '.join(PARAM_OPTION_KEYS)})")
            for option_name in param_options:
                if option_name not in PARAM_OPTION_KEYS:
                    raise ValueError(
                        f"Unexpected operation parameter option '{option_name}' for parameter '{param_name}'")
        self.operations[name] = {"name": name, "parameters": parameters}
        self.save_metadata()

    def set_metric(self, name, primary=False, format=None, unit=None, min=None, max=None) -> None:  # noqa: A002
        """Declare a metric (d3 `format` string, `unit`, `min`/`max` of its axis)."""
        spec = {"name": name, "primary": primary, "format": format, "unit": unit, "min": min, "max": max}
        self.metrics[name] = {k: v for k, v in spec.items() if v is not None}
        self.save_metadata()

    def save_model(self, id, metrics, base_id=None, operation=None, checkpoint=None, outputs=None) -> None:  # noqa: A002
        """Add (or replace) a model: its metrics (each declared with set_metric first), the model it was derived
        from and the operation applied, and optionally its checkpoint and per-instance outputs."""
        for metric_name in metrics:
            if metric_name not in self.metrics:
                raise ValueError(f"Unknown metric '{metric_name}'. Define it first using set_metric().")
        model = {"id": id, "base": base_id, "operation": operation, "metrics": metrics}
        self.models[id] = {k: v for k, v in model.items() if v is not None}
        self.save_metadata()
        if checkpoint is not None:
            self._save_checkpoint(id, checkpoint)
        if outputs is not None:
            self._save_outputs(id, outputs)
        if self.record:
            self._record(id)

    def _model_path(self, id, suffix: str) -> str:  # noqa: A002
        return os.path.join(self.monitor_directory, self.model_dirname, f"{id}{suffix}")

    def _output_path(self, id, suffix: str) -> str:  # noqa: A002
        return os.path.join(self.monitor_directory, self.model_output_dirname, f"{id}{suffix}")

    def _save_checkpoint(self, id, checkpoint) -> None:  # noqa: A002
        onnx_path = self._model_path(id, ".onnx")
        if isinstance(checkpoint, (str, os.PathLike)) and str(checkpoint).endswith(".onnx"):
            if not os.path.isfile(checkpoint):
                raise ValueError(f"checkpoint {checkpoint} is not a file")
            if os.path.abspath(checkpoint) != os.path.abspath(onnx_path):
                shutil.copyfile(checkpoint, onnx_path)
            return
        if type(checkpoint).__name__ == "ModelProto":
            import onnx

            onnx.save(checkpoint, onnx_path)
            return
        if self.checkpoint_type == "pickle":
            import pickle

            with open(self._model_path(id, ".pkl"), "wb") as f:
                pickle.dump(checkpoint, f)
        elif self.checkpoint_type == "torch":
            import torch

            torch.save(checkpoint, self._model_path(id, ".pth"))

    def _save_outputs(self, id, outputs) -> None:  # noqa: A002
        if self.outputs_type == "pickle":
            import pickle

            with open(self._output_path(id, ".pkl"), "wb") as f:
                pickle.dump(outputs, f)
        elif self.outputs_type == "json":
            with open(self._output_path(id, ".json"), "w") as f:
                json.dump(outputs, f)
        elif self.outputs_type == "numpy":
            import numpy as np

            np.save(self._output_path(id, ".npy"), outputs)

    def has_model_checkpoint(self, id) -> bool:  # noqa: A002
        suffix = {"pickle": ".pkl", "torch": ".pth"}.get(self.checkpoint_type)
        return suffix is not None and os.path.exists(self._model_path(id, suffix))

    def load_model_checkpoint(self, id, **load_kwargs):  # noqa: A002
        """The model's checkpoint, or None if it has none."""
        if self.checkpoint_type == "pickle":
            import pickle

            path = self._model_path(id, ".pkl")
            if not os.path.exists(path):
                return None
            with open(path, "rb") as f:
                return pickle.load(f, **load_kwargs)
        if self.checkpoint_type == "torch":
            import torch

            path = self._model_path(id, ".pth")
            return torch.load(path, **load_kwargs) if os.path.exists(path) else None
        return None

    def get_model_outputs(self, id):  # noqa: A002
        """The model's stored outputs, or None."""
        if self.outputs_type == "pickle":
            import pickle

            path = self._output_path(id, ".pkl")
            if not os.path.exists(path):
                return None
            with open(path, "rb") as f:
                return pickle.load(f)
        if self.outputs_type == "json":
            path = self._output_path(id, ".json")
            if not os.path.exists(path):
                return None
            with open(path) as f:
                return json.load(f)
        if self.outputs_type == "numpy":
            import numpy as np

            path = self._output_path(id, ".npy")
            return np.load(path) if os.path.exists(path) else None
        return None

    def __contains__(self, model_id) -> bool:
        return model_id in self.models

    # -- harness additions -----------------------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """The store run holding this directory's models (one per directory, stable across sessions)."""
        key = os.path.abspath(self.monitor_directory).encode()
        return f"monitor-{hashlib.sha256(key).hexdigest()[:12]}"

    def checkpoint_path(self, id) -> Path | None:  # noqa: A002
        return cc.find_checkpoint(Path(self.monitor_directory), self.model_dirname, str(id))

    def log_curve(self, id, step: int, split: str = "training", **values: float) -> None:  # noqa: A002
        """Record points of a training curve for model `id`, e.g. `log_curve("pruned", epoch, "validation",
        loss=0.3, accuracy=0.91)`. `split` is "training" or "validation"."""
        if split not in ("training", "validation"):
            raise ValueError(f"split must be 'training' or 'validation', not {split!r}")
        if not self.record:
            return
        rows = [{"run_id": self.run_id, "variant_id": str(id), "split": split, "metric": str(k), "step": int(step),
                 "value": None if v is None else float(v)} for k, v in values.items()]
        try:
            from harness.store import interop

            self._ensure_run()
            interop.add_curve_points(self._get_store(), rows)
        except Exception as exc:   # noqa: BLE001 - training must go on; see the module docstring
            self._warn(exc)

    def _get_store(self):
        if self._store is None:
            from harness.store import Store

            self._store = Store(self.db, lock_timeout_s=self.lock_timeout_s)
        return self._store

    def _ensure_run(self) -> None:
        from harness.store import interop

        name = Path(os.path.abspath(self.monitor_directory)).name
        interop.ensure_run(self._get_store(), cc.run_row(
            self.run_id, model=name, source="monitor",
            config={"source": "monitor", "directory": os.path.abspath(self.monitor_directory),
                    "metadata_filename": self.metadata_filename, "model_dirname": self.model_dirname},
            notes=[]))

    def _record(self, id) -> None:  # noqa: A002
        from harness.store import interop
        from harness.store.store import utcnow

        try:
            self._ensure_run()
            run_id = self.run_id
            model = cc.clean_json(self.models[id])
            by_id = {str(k): v for k, v in self.models.items()}
            specs = {k: v.get("parameters") or {} for k, v in self.operations.items()}
            name = Path(os.path.abspath(self.monitor_directory)).name
            variant = cc.variant_row(run_id, dict(model, id=str(id)), by_id, utcnow(), model_name=name,
                                     source="monitor", checkpoint=self.checkpoint_path(id), operation_specs=specs)
            values = [cc.metric_value_row(run_id, str(id), k, v, "monitor")
                      for k, v in (self.models[id].get("metrics") or {}).items()]
            interop.replace_variant(self._get_store(), run_id, variant, values,
                                    [cc.metric_def_row(run_id, m) for m in self.metrics.values()],
                                    [cc.operation_def_row(run_id, o) for o in self.operations.values()])
        except Exception as exc:   # noqa: BLE001 - training must go on; see the module docstring
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        from harness.core.errors import message_line

        warnings.warn(f"harness: model not recorded in {self.db}: {message_line(exc)}; models.json is up to "
                      f"date, `harness import cc {self.monitor_directory}` brings it in later", stacklevel=3)
