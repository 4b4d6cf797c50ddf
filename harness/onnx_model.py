"""A user's ONNX file, standing where an `Example` stands for the shipped models.

The exporters ask the example for a name, calibration data and (torch-only steps) a torch module; the quality
pass asks for eval data and output names. An ONNX file has no torch module (`has_torch_module = False`: steps
that need one are stored as skipped with what to do instead), and its data is the user's `--inputs` npz, or
seeded random calls of the right dtype and shape, recorded as such.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import ExportError, InputSpecError, UsageError
from harness.inputs import (InputSpec, check_dim_symbols, default_batch_size, random_inputs, read_input_specs,
                            resolve_shapes)
from harness.user_inputs import CallInputs, label_output, load_inputs, load_labels

# the standard recipes for a model given as an ONNX file (--recipe default); TensorRT joins on GPU targets
DEFAULT_RECIPES = ("int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5")
GPU_DEVICES = {"nvidia-gpu", "jetson"}
RANDOM_CALLS = 8              # seeded random calls for the quality pass when no --inputs is given
RANDOM_CALIBRATION = 32       # seeded random calibration calls for int8-static when no --inputs is given


def default_recipes(device: str) -> list[str]:
    return [*DEFAULT_RECIPES, *(["tensorrt"] if device in GPU_DEVICES else [])]


@dataclass
class RandomCalls:
    """Seeded random calls for one graph; `batches(b)` makes them for batch size b (the quality pass)."""

    specs: list[InputSpec]
    shapes_for: Any                      # callable(batch_size) -> {input: shape}
    seed: int
    count: int = RANDOM_CALLS
    labels: None = None
    class_names: None = None
    instances: None = None

    @property
    def source(self) -> str:
        return f"random(seed={self.seed}, {self.count} calls)"

    def __len__(self) -> int:
        return self.count

    def batches(self, batch_size: int) -> list[dict[str, np.ndarray]]:
        shapes = self.shapes_for(batch_size)
        return [random_inputs(self.specs, shapes, self.seed + i) for i in range(self.count)]


@dataclass
class OnnxFileModel:
    """Everything the exporters and the quality pass need from a model that came as an ONNX file."""

    name: str
    path: str
    specs: list[InputSpec]
    outputs: list[tuple[str, list[Any], int]]          # (name, dims, ONNX element type)
    shapes_for: Any                                    # callable(batch_size) -> {input: shape}
    batch_size: int
    seed: int = 0
    inputs: CallInputs | None = None
    label_output: str | None = None                    # the class-score output --labels are checked against
    has_torch_module: bool = False
    per_output_drift: bool = True
    fine_tune: None = None
    example_inputs: None = None
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return "classification" if self.inputs is not None and self.inputs.labels is not None else "none"

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def output_names(self) -> list[str]:
        return [o[0] for o in self.outputs]

    @property
    def label_output_index(self) -> int:
        names = self.output_names
        return names.index(self.label_output) if self.label_output in names else 0

    # -- what the exporters use -----------------------------------------------------------------------------
    def build_model(self):
        raise ExportError(f"{self.name} is an ONNX file: there is no PyTorch module to build; give a model "
                          "factory (--example mypkg.mymodel:make_example) for torch-only recipes")

    @property
    def calibration_is_random(self) -> bool:
        return self.inputs is None

    @property
    def calibration_source(self) -> str:
        if self.inputs is not None:
            return self.inputs.source
        return f"random(seed={self.seed}, {RANDOM_CALIBRATION} calls of batch {self.batch_size})"

    def calibration(self, n: int) -> list[dict[str, np.ndarray]]:
        if self.inputs is not None:
            return self.inputs.calls[:n]
        shapes = self.shapes_for(self.batch_size)
        return [random_inputs(self.specs, shapes, self.seed + 1000 + i) for i in range(min(n, RANDOM_CALIBRATION))]

    # -- what the quality pass uses -------------------------------------------------------------------------
    def eval_data(self):
        if self.inputs is not None:
            return self.inputs
        return RandomCalls(self.specs, self.shapes_for, self.seed)


def read_outputs(path: str) -> list[tuple[str, list[Any], int]]:
    """(name, dims with symbols/None, ONNX element type) of every graph output."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    out = []
    for o in model.graph.output:
        t = o.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
                for d in t.shape.dim]
        out.append((o.name, dims, t.elem_type))
    return out


def model_name(path: str) -> str:
    return Path(path).stem


def load_models(config, names: list[str]) -> list[OnnxFileModel]:
    """The bench config's ONNX files, each checked against --input-shape, --dim, --batch-size, --inputs and
    --labels (InputSpecError / UsageError / ModelError before anything is written)."""
    c = config
    if c.labels and not c.inputs:
        raise UsageError("--labels needs --inputs: the labels name the class of each instance of its calls")
    models = []
    for path, name in zip(c.models, names):
        specs = read_input_specs(path)  # raises ModelError for missing/non-ONNX/corrupt files
        check_dim_symbols(specs, c.dims)
        outputs = read_outputs(path)
        inputs = load_inputs(c.inputs, specs, c.dims, c.input_shapes) if c.inputs else None
        label_out = None
        if inputs is not None:
            if c.batch_sizes and c.batch_sizes != (inputs.batch_size,):
                raise InputSpecError(f"--batch-size {','.join(map(str, c.batch_sizes))} but the calls in "
                                     f"{c.inputs} have batch {inputs.batch_size}; with --inputs the batch is the "
                                     "file's: drop --batch-size")
            if c.labels:
                inputs.labels, inputs.labels_path = load_labels(c.labels, inputs), c.labels
                label_out = label_output(outputs)
                if label_out is None:
                    raise InputSpecError(f"--labels given, but no output of {name} looks like class scores (a "
                                         "float [batch, classes] output); its outputs: "
                                         + ", ".join(f"{o[0]} {o[1]}" for o in outputs))
            batch = inputs.batch_size
        else:
            batch = default_batch_size(specs, c.dims)
            for b in c.batch_sizes or (batch,):
                resolve_shapes(specs, b, c.input_shapes, c.dims)  # raises InputSpecError early

        def shapes_for(b, specs=specs):
            return resolve_shapes(specs, b, c.input_shapes, c.dims)

        models.append(OnnxFileModel(name=name, path=str(path), specs=specs, outputs=outputs, shapes_for=shapes_for,
                                    batch_size=batch, seed=c.seed, inputs=inputs, label_output=label_out))
    return models
