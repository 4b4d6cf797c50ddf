"""Tiny torch models and Examples for the exporter, recipe and quality tests (random weights, built in code).

`tiny_example()` is also a valid `--example compression_fixtures:tiny_example` entry point when tests/ is on the
path: a user's own model looks exactly like this.
"""
from __future__ import annotations

import numpy as np

from harness.examples.base import EvalData, Example

N_EVAL = 48


def tiny_cnn(seed: int = 0):
    """conv-bn-relu -> conv-relu-pool -> flatten -> linear-relu -> linear: every layer but the last can shrink."""
    import torch
    import torch.nn as nn

    class TinyCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(16 * 4 * 4, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.pool(torch.relu(self.conv2(x)))
            return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = TinyCNN()
        model.bn1.running_mean.uniform_(-0.2, 0.2)
        model.bn1.running_var.uniform_(0.5, 1.5)
    return model.eval()


def residual_net(seed: int = 0):
    """A conv whose output feeds a residual add (must keep its width) next to one that may shrink."""
    import torch
    import torch.nn as nn

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=1)
            self.inner = nn.Conv2d(8, 8, 3, padding=1)
            self.outer = nn.Conv2d(8, 8, 3, padding=1)
            self.head = nn.Linear(8, 4)

        def forward(self, x):
            x = torch.relu(self.stem(x))
            y = self.outer(torch.relu(self.inner(x)))
            return self.head((x + y).mean(dim=(2, 3)))

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Residual().eval()


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 8, 8), dtype=np.float32)


def tiny_example(build=tiny_cnn, task: str = "classification", fine_tune=None, calibration=None) -> Example:
    import torch

    x = _images(N_EVAL, 1)
    labels = np.random.default_rng(2).integers(0, 10, N_EVAL)

    def default_calibration(n: int):
        imgs = _images(min(n, 16), 3)
        return [{"input": imgs[i:i + 1]} for i in range(len(imgs))]

    return Example(
        name="tiny", task=task, build_model=build, example_inputs=(torch.zeros(1, 1, 8, 8),),
        input_names=["input"], output_names=["logits"],
        eval_data=lambda: EvalData(inputs={"input": x}, labels=labels if task == "classification" else None,
                                   instances=x[:, 0], class_names=[str(i) for i in range(10)]),
        calibration=calibration or default_calibration, fine_tune=fine_tune,
        default_recipes=["fp32", "int8-static"])
