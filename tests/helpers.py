"""Helpers shared by the test modules: a CLI runner, quick bench settings, small ONNX models built in code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

# quick settings for benches inside tests; the figures are never asserted, only their presence and shape
FAST = ["--min-duration", "0.2", "--min-iterations", "20", "--rounds", "2", "--warmup", "2", "--idle", "0",
        "--no-progress"]


def run_cli(*args: str, cwd: Path | str | None = None, timeout: float = 600, env: dict | None = None,
            check: bool | None = None) -> subprocess.CompletedProcess:
    """Run `harness ...` in a fresh interpreter, as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"harness {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_mlp_onnx(path: Path, in_features: int = 64, hidden: int = 128, out: int = 10, batch: object = "batch",
                  extra_dim: object = None, seed: int = 0, layers: int = 2) -> Path:
    """A small MatMul/Add/Relu network built with the onnx helper API (no torch needed).

    batch: a symbol for a dynamic batch axis or an int for a fixed one; extra_dim adds a second (sequence) axis.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    shape_in = [batch] + ([extra_dim] if extra_dim is not None else []) + [in_features]
    shape_out = [batch] + ([extra_dim] if extra_dim is not None else []) + [out]
    nodes, inits = [], []
    prev, width = "x", in_features
    for i in range(layers):
        w_out = out if i == layers - 1 else hidden
        w = numpy_helper.from_array(rng.standard_normal((width, w_out)).astype(np.float32) * 0.1, f"w{i}")
        b = numpy_helper.from_array(np.zeros(w_out, np.float32), f"b{i}")
        inits += [w, b]
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"mm{i}"]))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"add{i}"]))
        if i < layers - 1:
            nodes.append(helper.make_node("Relu", [f"add{i}"], [f"relu{i}"]))
            prev = f"relu{i}"
        else:
            nodes.append(helper.make_node("Identity", [f"add{i}"], ["y"]))
        width = w_out
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape_in)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape_out)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
