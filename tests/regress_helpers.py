"""Shared helpers for the regress/history tests (not a conftest: the lead owns that).

Real models, real bench runs: ONNX MLPs built with onnx.helper (a heavier one with the same file name is a
genuinely slower candidate of the same variant), and a tiny classification example whose accuracy and size can be
made worse through environment variables, for the gate tests.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from harness.cli import main as cli_main

# a knob per test: the example reads these when the bench builds it (in-process, see bench())
DEGRADE_ENV = "HARNESS_TEST_DEGRADE"     # std of noise added to the classifier's weights
WIDEN_ENV = "HARNESS_TEST_HIDDEN"        # hidden width (default 16): wider = larger file
NO_CALIBRATION_ENV = "HARNESS_TEST_NO_CALIBRATION"   # set: no calibration data, so int8-static export fails


def build_mlp(path: Path, width: int = 256, layers: int = 4, seed: int = 0) -> Path:
    """MatMul+Relu stack; latency grows with layers and width."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]),
                  helper.make_node("Relu", [f"h{i}"], [f"r{i}"])]
        prev = f"r{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def bench(db: Path, *args: str, tag: str = "t", rounds: int = 3, min_duration: float = 0.3,
          expect_ok: bool = True) -> str:
    """Run `harness bench` in-process with short settings; returns the new run id."""
    from harness.store import Store

    code = cli_main(["bench", *args, "--db", str(db), "--tag", tag, "--threads", "1", "--rounds", str(rounds),
                     "--min-duration", str(min_duration), "--min-iterations", "50", "--idle", "0",
                     "--no-progress"])
    if expect_ok:
        assert code == 0, f"bench exited {code}"
    return Store(db).query("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0]["run_id"]


def run_cli(*argv: str) -> int:
    return cli_main(list(argv))


def make_example():
    """A 2-layer classifier on seeded synthetic data; labels come from the undegraded model itself, so its
    accuracy is 1.0 and noise on its weights (DEGRADE_ENV) lowers it."""
    import torch

    from harness.examples.base import EvalData, Example

    hidden = int(os.environ.get(WIDEN_ENV, "16"))
    degrade = float(os.environ.get(DEGRADE_ENV, "0"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype(np.float32)

    def reference(width: int) -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.ReLU(), torch.nn.Linear(width, 4)).eval()

    with torch.no_grad():
        labels = reference(16)(torch.from_numpy(x)).argmax(1).numpy()

    def build():
        model = reference(16)
        if hidden != 16:         # same function, bigger file: pad with dead units
            wide = reference(hidden)
            with torch.no_grad():
                wide[0].weight.zero_(), wide[0].bias.zero_(), wide[2].weight.zero_()
                wide[0].weight[:16], wide[0].bias[:16] = model[0].weight, model[0].bias
                wide[2].weight[:, :16], wide[2].bias[:] = model[2].weight, model[2].bias
            model = wide
        if degrade:
            gen = torch.Generator().manual_seed(1)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn(p.shape, generator=gen) * degrade)
        return model

    return Example(
        name="tiny", task="classification", build_model=build, example_inputs=(torch.from_numpy(x[:1]),),
        input_names=["x"], output_names=["logits"],
        eval_data=lambda: EvalData(inputs={"x": x}, labels=labels), description="regress test classifier",
        calibration=None if os.environ.get(NO_CALIBRATION_ENV) else (lambda n: [{"x": x[i:i + 1]}
                                                                              for i in range(min(n, 32))]))
