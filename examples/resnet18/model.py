"""A ResNet-18-shaped network (plain torch, no torchvision) with seeded random weights, 224x224 RGB input.

Random weights give no accuracy (task "none"): the example is for latency, size and memory, and for checking
that int8-static fuses every convolution. Drift of its logits against FP32 is still reported.
"""
from __future__ import annotations

import numpy as np

from harness.examples.base import EvalData, Example

SEED = 0
SIZE = 224
EVAL_IMAGES = 8
DEFAULT_RECIPES = ("fp32", "int8-static", "fp16", "prune-unstructured:0.5", "prune-structured:0.5")


def _net(num_classes: int = 1000):
    import torch.nn as nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths, layers, cin = (64, 128, 256, 512), [], 64
            for i, w in enumerate(widths):
                stride = 1 if i == 0 else 2
                layers.append(nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w, 1)))
                cin = w
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18()


def build_model():
    import torch
    import torch.nn as nn

    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = _net()
        # random BatchNorm statistics, so folding them into the convolutions is not a no-op
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, SIZE, SIZE), dtype=np.float32)


def eval_data() -> EvalData:
    return EvalData(inputs={"input": _images(EVAL_IMAGES, SEED + 1)})


def calibration(n: int) -> list[dict[str, np.ndarray]]:
    # seeded random images: the weights are random too, so there is no real data distribution to match
    imgs = _images(min(n, 32), SEED + 2)
    return [{"input": imgs[i:i + 1]} for i in range(len(imgs))]


def make_example() -> Example:
    import torch

    return Example(
        name="resnet18",
        task="none",
        build_model=build_model,
        example_inputs=(torch.zeros(1, 3, SIZE, SIZE),),
        input_names=["input"],
        output_names=["logits"],
        eval_data=eval_data,
        calibration=calibration,
        description="ResNet-18-shaped CNN, random weights, 224x224: latency and size only (no accuracy)",
        default_recipes=list(DEFAULT_RECIPES),
    )
