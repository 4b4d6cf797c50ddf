"""Data-dependent meta-features: how the FP32 model's own outputs react to a recipe's weight perturbation.

The static weight statistics of harness.meta.features say how much weight a pruning level removes, but not what
that costs this network's predictions: two models losing the same weight norm can lose 5 or 75 accuracy points.
So, when real input data is at hand (the example's calibration data or the user's `--inputs FILE.npz`, never the
split accuracy is judged on), the model is run on those probe inputs with its weights perturbed the way the
recipe perturbs them, and the change of its outputs is a feature:

  data_flip_pct       % of probe inputs whose top-1 class changes (classification), else 100 x (1 - mean cosine)
  data_output_err     relative L2 change of the first output
  data_margin_mean    the FP32 model's mean gap between its top two softmax probabilities (how close to a
                      decision boundary the data sits), and data_low_margin_pct: % of inputs with a gap < 0.2
  data_rematched_flip_pct, data_rematched_output_err
                      the same two after a structured step has its channel statistics re-matched (below); equal
                      to the plain ones for a recipe without one

Perturbations, applied to a copy of the ONNX graph's weights (no export, no calibration, no timing):
  prune-unstructured:S   global magnitude pruning at S (harness.exporters.onnx_prune, the ONNX path's own code)
  prune-structured:A     the lowest-L1 A fraction of output channels zeroed in the layers that feed exactly one
                         weight layer through channel-preserving ops (the layers prune-structured shrinks), with
                         the BatchNormalization channels behind them; no fine-tune, so a fine-tuned recipe will
                         do better than this says (and the re-matched features below)
  int8 (static/dynamic)  symmetric int8 rounding of the weights, per channel or per tensor (activations are not
                         simulated)
  fp16                   weights rounded to float16
Chains apply their steps in order. These are features of a prediction, not measurements of the variant: the real
variant differs (activation quantization, fine-tuning, and prune-structured's re-estimation of the BatchNorm
statistics after pruning, which a graph with its BatchNorms folded into the weights cannot repeat by zeroing
alone). The channels zeroed here are the ones prune-structured removes: it ranks filters with their BatchNorm
folded in, as this graph holds them.

Re-matched: plain zeroing says a BatchNorm net is destroyed by a quarter of its channels (`zoo-wide-resnet`: 76 %
of the probe flips) when the exporter, which re-estimates the BatchNorm statistics, loses nothing; and it ranks
the fine-tuned outcomes of the zoo's structured pruning poorly (Pearson r 0.41 with the measured drop over the 95
fine-tuned structured points, alone or before int8-static, of the benchmark's store N). So each layer that lost
input channels then has every output channel rescaled and shifted to its FP32 mean and deviation on the probe
(`_rematch`): r 0.80 on the same points (`zoo-bn-cnn` at 0.75: 78 % flips, measured drop 32.8 points;
`zoo-wide-resnet` 41 %, 0.8 points; `zoo-deep-mlp` 27 %, 11.7).

The probe inputs live next to the FP32 root as `<root>.probe.npz` (written by the bench engine when the run has
real data); without that file these features are missing (NaN to the predictor), never invented.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

PROBE_SUFFIX = ".probe.npz"
PROBE_MAX_SAMPLES = 256
PROBE_MAX_BYTES = 8 * 1024**2     # at most 8 MB of inputs next to each root (a 224x224 image is 0.6 MB)
LOW_MARGIN = 0.2
DATA_PREFIX = "data_"


def probe_path(root_path: str | Path) -> Path:
    p = Path(root_path)
    return p.with_name(p.stem + PROBE_SUFFIX)


def write_probe(root_path: str | Path, batches: list[dict[str, np.ndarray]]) -> Path | None:
    """Save up to PROBE_MAX_SAMPLES samples (and PROBE_MAX_BYTES) of `batches` next to the root; None when
    there is nothing to save."""
    if not batches:
        return None
    names = list(batches[0])
    if any(list(b) != names for b in batches):
        return None
    arrays = {n: np.concatenate([np.asarray(b[n]) for b in batches], axis=0) for n in names}
    count = min(len(a) for a in arrays.values())
    per_sample = sum(a[:1].nbytes for a in arrays.values()) or 1
    n = max(1, min(count, PROBE_MAX_SAMPLES, PROBE_MAX_BYTES // per_sample))
    path = probe_path(root_path)
    np.savez_compressed(path, **{k: a[:n] for k, a in arrays.items()})
    return path


def load_probe(root_path: str | Path) -> dict[str, np.ndarray] | None:
    path = probe_path(root_path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:        # a damaged probe file only costs these features
        return None


# -- perturbations -----------------------------------------------------------------------------------------------
def perturbation_of(recipe: str) -> tuple:
    """The weight perturbation a recipe implies, as a hashable key: ((step, value), ...); () for none."""
    from harness.meta.features import parse_steps

    from harness.exporters.prune_structured import PruneStructuredConfig
    from harness.exporters.prune_unstructured import PruneUnstructuredConfig

    out = []
    for name, params in parse_steps(recipe):
        if name == "prune-unstructured":
            out.append(("unstructured", float(params.get("sparsity", PruneUnstructuredConfig.sparsity))))
        elif name == "prune-structured":
            out.append(("structured", float(params.get("amount", PruneStructuredConfig.amount))))
        elif name in ("int8-static", "int8-dynamic"):
            out.append(("int8", bool(params.get("per_channel", True))))
        elif name == "fp16":
            out.append(("fp16", True))
    return tuple(out)


def _replace(init, arr: np.ndarray) -> None:
    from onnx import numpy_helper

    new = numpy_helper.from_array(arr.astype(numpy_helper.to_array(init).dtype), init.name or None)
    init.ClearField("raw_data")
    init.CopyFrom(new)


def _int8_round(model, per_channel: bool) -> None:
    from onnx import numpy_helper

    from harness.exporters.onnx_prune import weight_initializers
    from harness.meta.features import int8_round

    for init in weight_initializers(model):
        _replace(init, int8_round(numpy_helper.to_array(init).astype(np.float64), per_channel))


def _fp16_round(model) -> None:
    from onnx import numpy_helper

    from harness.exporters.onnx_prune import weight_initializers

    for init in weight_initializers(model):
        _replace(init, numpy_helper.to_array(init).astype(np.float16).astype(np.float32))


def _structured_zero(model, amount: float) -> list:
    """Zero the output channels prune-structured removes (harness.meta.shrink), with their bias and the
    channels of the BatchNormalization nodes on the way: the removed channels then carry nothing. Returns the
    prunable layers (harness.meta.shrink.Prunable, nodes of `model`)."""
    from onnx import numpy_helper

    from harness.meta.shrink import dropped_channels, prunable_layers

    inits = {i.name: i for i in model.graph.initializer}

    def zero(name: str | None, drop, axis: int = 0) -> None:
        if name in inits:
            arr = numpy_helper.to_array(inits[name]).astype(np.float64)
            np.moveaxis(arr, axis, 0)[drop] = 0.0
            _replace(inits[name], arr)

    layers = prunable_layers(model.graph)
    for p in layers:
        drop = dropped_channels(numpy_helper.to_array(inits[p.node.input[1]]), amount, p.out_axis)
        if not len(drop):
            continue
        zero(p.node.input[1], drop, p.out_axis)
        zero(p.bias, drop)
        for bn in p.batchnorms:
            zero(bn.input[1], drop)          # scale
            zero(bn.input[2], drop)          # bias
    return layers


def _channel_stats(a: np.ndarray, op_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of a layer's output over every other axis: channels on axis 1
    for Conv and Gemm, on the last axis for a MatMul (torch's Linear on a 3-D input)."""
    a = np.moveaxis(np.asarray(a, dtype=np.float64), -1 if op_type == "MatMul" else 1, 0)
    a = a.reshape(a.shape[0], -1)
    return a.mean(axis=1), a.std(axis=1)


def _rematch(model, reference, layers: list, probe: dict[str, np.ndarray]) -> None:
    """After structured zeroing of `layers` (what `_structured_zero` returned for `model`): rescale and shift each
    output channel of every layer that lost input channels, in graph order, so that its mean and standard
    deviation on the probe inputs are the FP32 model's (`reference`) again.

    For a network with BatchNorm this is what prune-structured's re-estimation of the BatchNorm statistics does
    (a graph with its BatchNorms folded into the weights cannot repeat it by itself: removed channels shift the
    next layer's outputs, and the folded statistics no longer re-centre them); for one without, it is the cheapest
    part of what the fine-tune recovers. What is left after it is damage a scale and a shift cannot undo."""
    from onnx import numpy_helper

    from harness.meta.shrink import bias_of, users_of, weight_out_axis

    order = {n.output[0]: i for i, n in enumerate(model.graph.node)}
    consumers = sorted({p.consumer.output[0]: p.consumer for p in layers}.values(), key=lambda n: order[n.output[0]])
    if not consumers:
        return
    names = [c.output[0] for c in consumers]
    targets = [_channel_stats(a, c.op_type) for a, c in zip(_outputs(reference, probe, names)[1:], consumers)]
    inits = {i.name: i for i in model.graph.initializer}
    users, outputs = users_of(model.graph), {o.name for o in model.graph.output}
    for node, (mean_ref, std_ref) in zip(consumers, targets):
        mean, std = _channel_stats(_outputs(model, probe, [node.output[0]])[1], node.op_type)
        scale = np.where(std > 1e-8, std_ref / np.maximum(std, 1e-8), 1.0)
        shift = mean_ref - mean * scale
        axis = weight_out_axis(node)
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        _replace(inits[node.input[1]], w * np.expand_dims(scale, tuple(a for a in range(w.ndim) if a != axis)))
        bias = bias_of(node, users, inits, outputs)[0]
        if bias is None and node.op_type != "MatMul":     # a Conv/Gemm without one gets one for the shift
            bias = node.output[0] + "_rematch_bias"
            model.graph.initializer.append(numpy_helper.from_array(np.zeros(len(scale), np.float32), bias))
            inits[bias] = model.graph.initializer[-1]
            node.input.append(bias)
        if bias is None:
            continue                     # a MatMul without a bias Add after it: rescaled only
        b = numpy_helper.to_array(inits[bias]).astype(np.float64)
        _replace(inits[bias], b * scale + shift)


def perturbed(model, key: tuple, rematch_on: dict[str, np.ndarray] | None = None):
    """A copy of the ModelProto with the perturbation `key` (perturbation_of) applied to its weights; with
    `rematch_on` (probe inputs), the channel statistics are re-matched after a structured step (`_rematch`)."""
    import onnx

    from harness.exporters.onnx_prune import prune_model

    out = onnx.ModelProto.FromString(model.SerializeToString())
    for step, value in key:
        if step == "unstructured":
            prune_model(out, value)
        elif step == "structured":
            layers = _structured_zero(out, value)
            if rematch_on is not None:
                _rematch(out, model, layers, rematch_on)
        elif step == "int8":
            _int8_round(out, value)
        elif step == "fp16":
            _fp16_round(out)
    return out


# -- running the probe -------------------------------------------------------------------------------------------
def _outputs(model, probe: dict[str, np.ndarray], extra: list[str] | tuple = ()) -> list[np.ndarray]:
    """[the first graph output on the probe inputs as (samples, values), then the tensors named in `extra` as
    they are]."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    if extra:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        have = {o.name for o in model.graph.output}
        model.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                                  for n in extra if n not in have)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feed = {n: probe[n] for n in names if n in probe}
    if len(feed) != len(names):
        raise KeyError("probe inputs do not match the graph's inputs")
    outs = sess.run([sess.get_outputs()[0].name, *extra], feed)
    first = np.asarray(outs[0], dtype=np.float64).reshape(len(next(iter(feed.values()))), -1)
    return [first, *outs[1:]]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@lru_cache(maxsize=64)
def _baseline(path: str, mtime: float, probe_mtime: float, task: str):
    """(probe inputs, FP32 outputs on them, margin features) of one model: computed once, shared by its recipes;
    None when the probe is unreadable or onnxruntime cannot run the graph on it."""
    from harness.meta.features import model_features

    probe = load_probe(path)
    if probe is None:
        return None
    try:
        base = _outputs(model_features(path)[1], probe)[0]
    except Exception:        # a graph onnxruntime cannot run on these inputs: no data features
        return None
    feats: dict[str, float] = {}
    if base.shape[1] > 1 and task != "embedding":
        p = np.sort(_softmax(base), axis=1)
        gap = p[:, -1] - p[:, -2]
        feats["data_margin_mean"] = float(gap.mean())
        feats["data_low_margin_pct"] = float(100.0 * np.mean(gap < LOW_MARGIN))
    return probe, base, feats


@lru_cache(maxsize=512)
def _cached(path: str, mtime: float, probe_mtime: float, key: tuple, task: str) -> tuple[tuple[str, float], ...]:
    from harness.meta.features import model_features

    baseline = _baseline(path, mtime, probe_mtime, task)
    if baseline is None:
        return ()
    probe, base, margins = baseline
    feats = dict(margins)
    if not key:
        zero = {"data_flip_pct": 0.0, "data_output_err": 0.0, "data_rematched_flip_pct": 0.0,
                "data_rematched_output_err": 0.0}
        return tuple(sorted((feats | zero).items()))
    model = model_features(path)[1]
    try:
        out = _outputs(perturbed(model, key), probe)[0]
        feats |= _drift(out, base, task, "data")
        # with the channel statistics re-matched after a structured step (the same values when there is none)
        rematched = _outputs(perturbed(model, key, rematch_on=probe), probe)[0] if any(
            step == "structured" for step, _ in key) else out
        feats |= _drift(rematched, base, task, "data_rematched")
    except Exception:        # a graph the perturbation or onnxruntime cannot handle: no data features
        return ()
    return tuple(sorted(feats.items()))


def _drift(out: np.ndarray, base: np.ndarray, task: str, prefix: str) -> dict[str, float]:
    """{prefix}_flip_pct and {prefix}_output_err of perturbed outputs `out` against the FP32 ones."""
    if base.shape[1] > 1 and task != "embedding":
        flip = float(100.0 * np.mean(out.argmax(axis=1) != base.argmax(axis=1)))
    else:
        cos = np.sum(out * base, axis=1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(base, axis=1) + 1e-12)
        flip = float(100.0 * (1.0 - cos.mean()))
    return {f"{prefix}_flip_pct": flip,
            f"{prefix}_output_err": float(np.linalg.norm(out - base) / (np.linalg.norm(base) + 1e-12))}


def data_features(fp32_path: str, recipe: str, task: str = "classification") -> dict[str, float]:
    """The data_* features of a recipe on the FP32 model at `fp32_path`; {} when no probe inputs are stored
    next to it (the predictor then treats them as missing)."""
    p, probe = Path(fp32_path), probe_path(fp32_path)
    if not p.is_file() or not probe.is_file():
        return {}
    return dict(_cached(str(p.resolve()), p.stat().st_mtime, probe.stat().st_mtime, perturbation_of(recipe), task))
