"""The digits members of the zoo: definitions, deterministic training and the weight cache (see __init__)."""
from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from harness.examples.base import EvalData, Example

SEED = 0
# the fine-tune after structured pruning: a quarter of the member's epochs at this learning rate. The FP32 root gets
# the same schedule once more after its training ("polish"), so that a fine-tuned variant's accuracy change measures
# the pruning, not the extra training: with the root trained for its epochs only, fine-tuned variants of members
# that had not converged gained up to 9.7 points over their root (zoo-se-cnn, 2026-12-02 sweep), a "negative
# drop" no deployment sees, since people compress converged models
FINE_TUNE_LR = 1e-3
CACHE_ENV = "HARNESS_ZOO_CACHE"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path("harness-artifacts") / "zoo-weights")


@lru_cache(maxsize=4)
def load_split(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits split of the `digits` example, images resized to size x size (bilinear), N x 1 x size x size."""
    from harness.examples.digits.model import load_split as digits_split

    x_train, y_train, x_test, y_test = digits_split()
    if size == 8:
        return x_train, y_train, x_test, y_test
    import torch
    import torch.nn.functional as F

    def resize(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return F.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear",
                                 align_corners=False).numpy().astype(np.float32)

    return resize(x_train), y_train, resize(x_test), y_test


def train(model, size: int, epochs: int, lr: float = 3e-3):
    """Deterministic training on CPU: fixed seed, fixed batch order, Adam."""
    import torch

    x_train, y_train, _, _ = load_split(size)
    threads = torch.get_num_threads()
    # one thread: on a shared 2-core host more threads spin against each other (10x slower measured)
    torch.set_num_threads(1)
    try:
        return _train(model, x_train, y_train, epochs, lr)
    finally:
        torch.set_num_threads(threads)


def _train(model, x_train, y_train, epochs: int, lr: float):
    from harness.examples.digits.model import fit

    return fit(model, x_train, y_train, epochs, lr, seed=SEED)


@dataclass(frozen=True)
class Member:
    name: str
    family: str
    size: int                     # input is size x size
    epochs: int
    net: Callable[[], object]     # builds the untrained torch module
    description: str

    @property
    def fine_tune_epochs(self) -> int:
        return max(1, self.epochs // 4)

    def key(self) -> str:
        """Cache key: changes whenever the definition or the training recipe does."""
        from harness.examples.digits.model import fit

        src = inspect.getsource(self.net) + inspect.getsource(_train) + inspect.getsource(fit)
        recipe = f"{self.size}|{self.epochs}|{SEED}|polish={self.fine_tune_epochs}@{FINE_TUNE_LR:g}"
        return hashlib.sha256(f"{src}|{recipe}".encode()).hexdigest()[:12]

    def fine_tune(self, module):
        """The fine-tune after structured pruning, and the FP32 root's polish after its training."""
        return train(module, self.size, epochs=self.fine_tune_epochs, lr=FINE_TUNE_LR)

    def build_model(self):
        import torch

        path = cache_dir() / f"{self.name}-{self.key()}.pt"
        torch.manual_seed(SEED)
        module = self.net()
        if path.exists():
            module.load_state_dict(torch.load(path, weights_only=True))
            return module.eval()
        with torch.random.fork_rng():
            train(module, self.size, self.epochs)
            self.fine_tune(module)     # the polish (see FINE_TUNE_LR)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(module.state_dict(), tmp)
        os.replace(tmp, path)   # atomic: a concurrent reader never sees half a file
        return module.eval()

    def example(self) -> Example:
        import torch

        size = self.size

        def eval_data() -> EvalData:
            _, _, x_test, y_test = load_split(size)
            return EvalData(inputs={"input": x_test}, labels=y_test, instances=x_test[:, 0],
                            class_names=[str(i) for i in range(10)])

        def calibration(n: int) -> list[dict[str, np.ndarray]]:
            x_train = load_split(size)[0]
            return [{"input": x_train[i:i + 1]} for i in range(min(n, len(x_train)))]

        return Example(
            name=self.name, task="classification", build_model=self.build_model,
            example_inputs=(torch.zeros(1, 1, size, size),), input_names=["input"], output_names=["logits"],
            eval_data=eval_data, calibration=calibration,
            fine_tune=self.fine_tune,
            description=self.description, default_recipes=["fp32", "int8-static", "fp16", "prune-structured:0.5"],
            meta={"family": self.family, "input_size": size},
        )


# -- architectures ---------------------------------------------------------------------------------------------
def _mlp():
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                         nn.Linear(64, 10))


def _deep_mlp():
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def _cnn():
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))


def _wide_cnn():
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(128 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10))


def _mobilenet():
    import torch.nn as nn

    def block(cin: int, cout: int, stride: int):
        # depthwise 3x3 then pointwise 1x1, each with BatchNorm + ReLU6 (MobileNet v1)
        return [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.ReLU6(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]

    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
                         *block(16, 32, 1), *block(32, 64, 2), *block(64, 128, 2), *block(128, 128, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def _resnet():
    import torch.nn as nn

    class Basic(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.short = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(y)) + self.short(x))

    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         Basic(16, 16, 1), Basic(16, 32, 2), Basic(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def _wide_mlp():
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def _vgg():
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(128 * 2 * 2, 10))


def _wide_mobilenet():
    import torch.nn as nn

    def block(cin: int, cout: int, stride: int):
        return [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.ReLU6(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]

    return nn.Sequential(nn.Conv2d(1, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
                         *block(32, 64, 1), *block(64, 128, 2), *block(128, 128, 1), *block(128, 256, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def _wide_resnet():
    import torch.nn as nn

    from_small = _resnet()
    basic = type(from_small[3])        # the residual block class of the small resnet
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                         basic(32, 32, 1), basic(32, 64, 2), basic(64, 128, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def _lenet():
    import torch.nn as nn

    # LeNet-5 shape: 5x5 convolutions, average pooling, tanh, three dense layers
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 2 * 2, 120), nn.Tanh(), nn.Linear(120, 84),
                         nn.Tanh(), nn.Linear(84, 10))


def _bn_cnn():
    import torch.nn as nn

    # a plain CNN with BatchNorm after every convolution, no bias, at 16x16
    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*conv(1, 24), nn.MaxPool2d(2), *conv(24, 48), nn.MaxPool2d(2), *conv(48, 96),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, 10))


def _dense_cnn():
    import torch
    import torch.nn as nn

    class Dense(nn.Module):
        """DenseNet-like: every layer sees the concatenation of the block's earlier outputs."""

        def __init__(self, cin: int, growth: int, layers: int) -> None:
            super().__init__()
            self.convs = nn.ModuleList(nn.Sequential(nn.Conv2d(cin + i * growth, growth, 3, padding=1), nn.ReLU())
                                       for i in range(layers))

        def forward(self, x):
            for conv in self.convs:
                x = torch.cat([x, conv(x)], dim=1)
            return x

    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), Dense(16, 12, 3), nn.MaxPool2d(2),
                         nn.Conv2d(52, 32, 1), nn.ReLU(), Dense(32, 12, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(68, 10))


def _narrow_mlp():
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 48), nn.ReLU(), nn.Linear(48, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def _mixer():
    import torch.nn as nn

    class Mixer(nn.Module):
        """MLP-Mixer-like: 4x4 patches of a 16x16 image as 16 tokens; token mixing then channel mixing (MatMul
        on 3-D tensors, LayerNorm), residual adds."""

        def __init__(self, dim: int = 32, tokens: int = 16) -> None:
            super().__init__()
            self.embed = nn.Conv2d(1, dim, 4, stride=4)
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.tok = nn.Sequential(nn.Linear(tokens, 32), nn.GELU(), nn.Linear(32, tokens))
            self.ch = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, dim))
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2)                 # (N, tokens, dim)
            x = x + self.tok(self.norm1(x).transpose(1, 2)).transpose(1, 2)
            x = x + self.ch(self.norm2(x))
            return self.head(x.mean(dim=1))

    return Mixer()


def _tiny_cnn():
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 2 * 2, 10))


def _se_cnn():
    import torch.nn as nn

    class SE(nn.Module):
        """Squeeze-and-excitation: channels re-weighted by a gate computed from their global average."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, c // 4), nn.ReLU(),
                                      nn.Linear(c // 4, c), nn.Sigmoid())

        def forward(self, x):
            return x * self.gate(x)[:, :, None, None]

    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), SE(32), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), SE(64), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def _bn_mlp():
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 192), nn.BatchNorm1d(192), nn.ReLU(), nn.Linear(192, 96),
                         nn.BatchNorm1d(96), nn.ReLU(), nn.Linear(96, 10))


def _inception():
    import torch
    import torch.nn as nn

    class Inception(nn.Module):
        """GoogLeNet-like: parallel 1x1, 1x1-then-3x3 and pool-then-1x1 branches, concatenated."""

        def __init__(self, c: int = 16) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.b1 = nn.Conv2d(c, 8, 1)
            self.b2 = nn.Sequential(nn.Conv2d(c, 8, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1))
            self.b3 = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), nn.Conv2d(c, 8, 1))
            self.head = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(32, 10))

        def forward(self, x):
            x = self.stem(x)
            return self.head(torch.cat([self.b1(x), self.b2(x), self.b3(x)], dim=1))

    return Inception()


def _attention():
    import torch
    import torch.nn as nn

    class Attention(nn.Module):
        """ViT-like: 4x4 patches of a 16x16 image as 16 tokens with learnt positions, one encoder block
        (two-head self-attention written out in MatMul/Softmax, then an MLP; pre-LayerNorm, residual adds)."""

        def __init__(self, dim: int = 32, heads: int = 2, tokens: int = 16) -> None:
            super().__init__()
            self.heads = heads
            self.embed = nn.Conv2d(1, dim, 4, stride=4)
            self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, dim))
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2) + self.pos           # (N, tokens, dim)
            n, t, d = x.shape
            q, k, v = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(n, t, d))
            x = x + self.mlp(self.norm2(x))
            return self.head(x.mean(dim=1))

    return Attention()


def _conv1d():
    import torch.nn as nn

    class Rows(nn.Module):
        """The image's 16 rows as 16 channels of a 1-D signal along the columns: 1-D convolutions only."""

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv1d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv1d(32, 64, 3, padding=1),
                                      nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(64, 64, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 10))

        def forward(self, x):
            return self.body(x.flatten(1, 2))                                 # (N, 1, 16, 16) -> (N, 16, 16)

    return Rows()


MEMBERS = {m.name: m for m in (
    Member("zoo-mlp", "mlp", 8, 15, _mlp, "3-layer MLP (64-128-64-10) on 8x8 digits"),
    Member("zoo-deep-mlp", "mlp", 8, 10, _deep_mlp, "5-layer MLP (64-256-256-128-64-10) on 8x8 digits"),
    Member("zoo-cnn", "cnn", 8, 10, _cnn, "plain 3-conv CNN on 8x8 digits"),
    Member("zoo-wide-cnn", "cnn", 32, 2, _wide_cnn, "wider 4-conv CNN on digits upsampled to 32x32 (ms latency)"),
    Member("zoo-mobilenet", "depthwise-separable", 16, 6, _mobilenet,
           "MobileNet-like depthwise-separable blocks with BatchNorm on digits at 16x16"),
    Member("zoo-resnet", "residual", 16, 4, _resnet, "residual basic blocks with BatchNorm on digits at 16x16"),
    Member("zoo-wide-mlp", "mlp", 32, 6, _wide_mlp, "MLP (1024-512-256-10) on digits upsampled to 32x32"),
    Member("zoo-vgg", "cnn", 16, 4, _vgg, "VGG-style 5-conv CNN on digits at 16x16"),
    Member("zoo-wide-mobilenet", "depthwise-separable", 32, 3, _wide_mobilenet,
           "wider MobileNet-like net (32-256 channels) on digits at 32x32"),
    Member("zoo-wide-resnet", "residual", 16, 4, _wide_resnet, "wider residual net (32-128 channels) at 16x16"),
    Member("zoo-lenet", "cnn", 16, 8, _lenet, "LeNet-5-like (5x5 convolutions, average pooling, tanh) at 16x16"),
    Member("zoo-bn-cnn", "cnn", 16, 4, _bn_cnn, "plain CNN with BatchNorm and global pooling at 16x16"),
    Member("zoo-dense-cnn", "dense", 16, 20, _dense_cnn, "DenseNet-like concatenating blocks at 16x16"),
    Member("zoo-narrow-mlp", "mlp", 16, 15, _narrow_mlp, "narrow MLP (256-48-32-10) on digits at 16x16"),
    Member("zoo-mixer", "mixer", 16, 10, _mixer, "MLP-Mixer-like token/channel mixing (LayerNorm, GELU) at 16x16"),
    Member("zoo-tiny-cnn", "cnn", 8, 15, _tiny_cnn, "tiny 2-conv CNN (8-16 channels) on 8x8 digits"),
    Member("zoo-se-cnn", "attention", 16, 20, _se_cnn, "CNN with squeeze-and-excitation gates at 16x16"),
    Member("zoo-bn-mlp", "mlp", 16, 8, _bn_mlp, "MLP with BatchNorm (256-192-96-10) at 16x16"),
    Member("zoo-resnet-32", "residual", 32, 6, _resnet, "the zoo-resnet net on digits upsampled to 32x32"),
    Member("zoo-mobilenet-8", "depthwise-separable", 8, 8, _mobilenet, "the zoo-mobilenet net on 8x8 digits"),
    Member("zoo-inception", "multi-branch", 16, 30, _inception,
           "GoogLeNet-like parallel 1x1 / 3x3 / pooling branches, concatenated, at 16x16"),
    Member("zoo-attention", "transformer", 16, 30, _attention,
           "ViT-like: 16 patch tokens, one self-attention encoder block, at 16x16"),
    Member("zoo-conv1d", "1-d conv", 16, 30, _conv1d, "1-D convolutions along the columns, the 16 rows as channels"),
)}


def make_mlp() -> Example:
    return MEMBERS["zoo-mlp"].example()


def make_deep_mlp() -> Example:
    return MEMBERS["zoo-deep-mlp"].example()


def make_cnn() -> Example:
    return MEMBERS["zoo-cnn"].example()


def make_wide_cnn() -> Example:
    return MEMBERS["zoo-wide-cnn"].example()


def make_mobilenet() -> Example:
    return MEMBERS["zoo-mobilenet"].example()


def make_resnet() -> Example:
    return MEMBERS["zoo-resnet"].example()


def make_wide_mlp() -> Example:
    return MEMBERS["zoo-wide-mlp"].example()


def make_vgg() -> Example:
    return MEMBERS["zoo-vgg"].example()


def make_wide_mobilenet() -> Example:
    return MEMBERS["zoo-wide-mobilenet"].example()


def make_wide_resnet() -> Example:
    return MEMBERS["zoo-wide-resnet"].example()


def make_lenet() -> Example:
    return MEMBERS["zoo-lenet"].example()


def make_bn_cnn() -> Example:
    return MEMBERS["zoo-bn-cnn"].example()


def make_dense_cnn() -> Example:
    return MEMBERS["zoo-dense-cnn"].example()


def make_narrow_mlp() -> Example:
    return MEMBERS["zoo-narrow-mlp"].example()


def make_mixer() -> Example:
    return MEMBERS["zoo-mixer"].example()


def make_tiny_cnn() -> Example:
    return MEMBERS["zoo-tiny-cnn"].example()


def make_se_cnn() -> Example:
    return MEMBERS["zoo-se-cnn"].example()


def make_bn_mlp() -> Example:
    return MEMBERS["zoo-bn-mlp"].example()


def make_resnet_32() -> Example:
    return MEMBERS["zoo-resnet-32"].example()


def make_mobilenet_8() -> Example:
    return MEMBERS["zoo-mobilenet-8"].example()


def make_inception() -> Example:
    return MEMBERS["zoo-inception"].example()


def make_attention() -> Example:
    return MEMBERS["zoo-attention"].example()


def make_conv1d() -> Example:
    return MEMBERS["zoo-conv1d"].example()
