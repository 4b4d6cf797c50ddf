"""The default example: a small CNN trained deterministically on scikit-learn's bundled 8x8 digits in seconds."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from harness.examples.base import EvalData, Example

SEED = 0
EPOCHS = 20
# the default set: every exporter once, and a chain (pruned, then quantized)
DEFAULT_RECIPES = ("fp32", "int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5", "prune-structured:0.5",
                   "prune-structured:0.5>int8-static")


def _net():
    import torch.nn as nn

    class DigitsCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.relu = nn.ReLU()
            self.fc1 = nn.Linear(64 * 2 * 2, 64)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x):
            x = self.relu(self.conv1(x))
            x = self.pool(self.relu(self.conv2(x)))
            x = self.pool(self.relu(self.conv3(x)))
            return self.fc2(self.relu(self.fc1(x.flatten(1))))

    return DigitsCNN()


@lru_cache(maxsize=1)
def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits as (x_train, y_train, x_test, y_test); images scaled to [0, 1], shape N x 1 x 8 x 8, fixed split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(len(x) * 0.8)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def train(model, epochs: int = EPOCHS, lr: float = 3e-3, on_epoch=None):
    """Deterministic full training run (CPU, fixed seeds, fixed batch order). `on_epoch(epoch, mean_loss)` is
    called after each epoch."""
    x_train, y_train, _, _ = load_split()
    return fit(model, x_train, y_train, epochs, lr, on_epoch)


def fit(model, x_train, y_train, epochs: int, lr: float = 3e-3, on_epoch=None, seed: int = SEED):
    """The one training loop of the digits models (this example and the zoo): Adam, batches of 64 in a seeded
    order, so the same call trains the same weights."""
    import torch

    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        total, batches = 0.0, 0
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total, batches = total + float(loss.detach()), batches + 1
        if on_epoch is not None:
            on_epoch(epoch, total / max(batches, 1))
    model.eval()
    return model


def build_model():
    import torch

    torch.manual_seed(SEED)
    with torch.random.fork_rng():
        return train(_net())


def fine_tune(model, log=None):
    """A few epochs at a lower rate: enough to recover accuracy after channels are removed. `log(split, metric,
    step, value)` receives the curve: training loss per epoch, and accuracy on the held-out split (the one the
    quality pass evaluates) as validation."""
    import torch

    def on_epoch(epoch, loss):
        if log is None:
            return
        log("training", "loss", epoch, loss)
        _, _, x_test, y_test = load_split()
        model.eval()
        with torch.no_grad():
            pred = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
        model.train()
        log("validation", "accuracy", epoch, float(np.mean(pred == y_test)))

    return train(model, epochs=5, lr=1e-3, on_epoch=on_epoch)


def eval_data() -> EvalData:
    _, _, x_test, y_test = load_split()
    return EvalData(inputs={"input": x_test}, labels=y_test, instances=x_test[:, 0],
                    class_names=[str(i) for i in range(10)])


def calibration(n: int) -> list[dict[str, np.ndarray]]:
    x_train, _, _, _ = load_split()
    return [{"input": x_train[i:i + 1]} for i in range(min(n, len(x_train)))]


def make_example() -> Example:
    import torch

    return Example(
        name="digits",
        task="classification",
        build_model=build_model,
        example_inputs=(torch.zeros(1, 1, 8, 8),),
        input_names=["input"],
        output_names=["logits"],
        eval_data=eval_data,
        calibration=calibration,
        fine_tune=fine_tune,
        description="3-conv CNN on scikit-learn's 8x8 digits (1797 images, 20% held out for evaluation)",
        default_recipes=list(DEFAULT_RECIPES),
    )
