"""A zoo of small architectures trained on scikit-learn's bundled digits, for the meta-dataset of `harness sweep`.

Each member is an `harness.examples.base.Example` (so `harness bench --example zoo-resnet` works too). They differ in
family, so a predictor can be tested on an architecture it has not seen:

  zoo-mlp         3-layer MLP on the flattened 8x8 image
  zoo-deep-mlp    5-layer wider MLP
  zoo-cnn         plain 3-conv CNN at 8x8 (the shape of the `digits` example)
  zoo-wide-cnn    wider 4-conv CNN at 32x32 (digits upsampled): millisecond latency on a CPU
  zoo-mobilenet   depthwise-separable blocks with BatchNorm at 16x16 (MobileNet-like)
  zoo-resnet      residual basic blocks with BatchNorm at 16x16
  zoo-wide-mlp    MLP on the 32x32 image (1024-512-256-10)
  zoo-vgg         VGG-style 5-conv CNN at 16x16
  zoo-wide-mobilenet  wider depthwise-separable net at 32x32
  zoo-wide-resnet     wider residual net (32-128 channels) at 16x16
  zoo-lenet       LeNet-5-like (5x5 convolutions, average pooling, tanh) at 16x16
  zoo-bn-cnn      plain CNN with BatchNorm and global pooling at 16x16
  zoo-dense-cnn   DenseNet-like concatenating blocks at 16x16
  zoo-narrow-mlp  narrow MLP (256-48-32-10) at 16x16
  zoo-mixer       MLP-Mixer-like token/channel mixing (LayerNorm, GELU, MatMul on 3-D tensors) at 16x16
  zoo-tiny-cnn    tiny 2-conv CNN (8-16 channels) on 8x8
  zoo-se-cnn      CNN with squeeze-and-excitation gates at 16x16
  zoo-bn-mlp      MLP with BatchNorm at 16x16
  zoo-resnet-32   the zoo-resnet net at 32x32
  zoo-mobilenet-8 the zoo-mobilenet net at 8x8
  zoo-inception   GoogLeNet-like parallel branches (1x1, 1x1-3x3, pool-1x1), concatenated, at 16x16
  zoo-attention   ViT-like: 16 patch tokens, one self-attention encoder block (MatMul, Softmax) at 16x16
  zoo-conv1d      1-D convolutions along the columns, the 16 rows as channels
  zoo-minilm      MiniLM-L6 sentence embeddings (the `minilm` example; text, no labels: drift only)

Training is deterministic (fixed seeds, fixed batch order, CPU) and takes seconds; the weights are cached under
the artifacts directory (`HARNESS_ZOO_CACHE`, set by `harness sweep` to `<artifacts>/zoo-weights`; default
`./harness-artifacts/zoo-weights`), keyed by a hash of the member's definition.
"""
from __future__ import annotations

ZOO: dict[str, str] = {
    "zoo-mlp": "harness.examples.zoo.models:make_mlp",
    "zoo-deep-mlp": "harness.examples.zoo.models:make_deep_mlp",
    "zoo-cnn": "harness.examples.zoo.models:make_cnn",
    "zoo-wide-cnn": "harness.examples.zoo.models:make_wide_cnn",
    "zoo-mobilenet": "harness.examples.zoo.models:make_mobilenet",
    "zoo-resnet": "harness.examples.zoo.models:make_resnet",
    "zoo-wide-mlp": "harness.examples.zoo.models:make_wide_mlp",
    "zoo-vgg": "harness.examples.zoo.models:make_vgg",
    "zoo-wide-mobilenet": "harness.examples.zoo.models:make_wide_mobilenet",
    "zoo-wide-resnet": "harness.examples.zoo.models:make_wide_resnet",
    "zoo-lenet": "harness.examples.zoo.models:make_lenet",
    "zoo-bn-cnn": "harness.examples.zoo.models:make_bn_cnn",
    "zoo-dense-cnn": "harness.examples.zoo.models:make_dense_cnn",
    "zoo-narrow-mlp": "harness.examples.zoo.models:make_narrow_mlp",
    "zoo-mixer": "harness.examples.zoo.models:make_mixer",
    "zoo-tiny-cnn": "harness.examples.zoo.models:make_tiny_cnn",
    "zoo-se-cnn": "harness.examples.zoo.models:make_se_cnn",
    "zoo-bn-mlp": "harness.examples.zoo.models:make_bn_mlp",
    "zoo-resnet-32": "harness.examples.zoo.models:make_resnet_32",
    "zoo-mobilenet-8": "harness.examples.zoo.models:make_mobilenet_8",
    "zoo-inception": "harness.examples.zoo.models:make_inception",
    "zoo-attention": "harness.examples.zoo.models:make_attention",
    "zoo-conv1d": "harness.examples.zoo.models:make_conv1d",
    "zoo-minilm": "harness.examples.minilm.model:make_example",
}

# the digits members: trained in seconds, labelled (accuracy), the default set of `harness sweep`
DIGITS_ZOO = tuple(name for name in ZOO if name != "zoo-minilm")
