"""A model factory for `harness bench --monitor DIR --model-factory monitor_factory:make` in the tests."""
from __future__ import annotations


def make():
    import torch

    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
