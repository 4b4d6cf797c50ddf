"""Every exporter on a tiny real torch CNN: files that onnxruntime runs, provenance, recorded facts, failures."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from compression_fixtures import residual_net, tiny_cnn, tiny_example
from harness.exporters.base import ExportContext
from harness.exporters.recipes import build_variants

X86 = {"machine": "x86_64"}
RECIPES = ["fp32", "int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5", "prune-structured:0.5",
           "prune-structured:0.5>int8-static"]


def run_onnx(path, x):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The default recipe set on the tiny CNN, exported with the cwd set to an empty directory."""
    cwd = tmp_path_factory.mktemp("cwd")
    out = tmp_path_factory.mktemp("variants")
    tuned = []
    ex = tiny_example(fine_tune=lambda m: tuned.append(m) or m)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        variants = build_variants(ex, RECIPES, ExportContext(ex, out, "cpu", X86))
    finally:
        os.chdir(old)
    return {v.name: v for v in variants}, cwd, ex, tuned


def test_every_exporter_succeeds_and_runs(exported):
    variants, _, ex, _ = exported
    assert list(variants) == RECIPES
    x = ex.eval_data().inputs["input"][:4]
    ref = run_onnx(variants["fp32"].path, x)
    for name, v in variants.items():
        assert v.ok, (name, v.error)
        assert Path(v.path).is_file() and v.size_bytes > 0
        out = run_onnx(v.path, x)
        assert out.shape == ref.shape and out.dtype == np.float32
        assert np.max(np.abs(out - ref)) < (0.5 if "structured:" in name else 0.2), name


def test_no_temp_files_left_in_cwd(exported):
    _, cwd, _, _ = exported
    assert list(Path(cwd).iterdir()) == []


def test_provenance_of_single_steps_and_the_chain(exported):
    variants, *_ = exported
    root = variants["fp32"]
    assert root.base_id is None and root.root_id == root.variant_id
    for name in RECIPES[1:6]:
        assert variants[name].base_id == root.variant_id and variants[name].root_id == root.variant_id
        assert variants[name].operation == name.split(":")[0]
    chain = variants["prune-structured:0.5>int8-static"]
    assert chain.base_id == variants["prune-structured:0.5"].variant_id
    assert chain.root_id == root.variant_id
    assert chain.params["calibration_method"] == "minmax"


def test_int8_static_u8s8_on_x86_fully_fused(exported):
    v = exported[0]["int8-static"]
    assert v.precision == "int8"
    assert v.info["format"] == "u8s8" and v.info["activation_type"] == "QUInt8"
    assert v.info["calibration_count"] == 16 and v.info["calibration_requested"] == 100
    assert v.info["fused_fraction"] == 1.0 and v.info["fusion"]["float_ops"] == 0
    assert v.size_bytes < exported[0]["fp32"].size_bytes / 2   # tiny model: names and scales weigh in


def test_int8_dynamic_warns_on_conv_nets(exported):
    v = exported[0]["int8-dynamic"]
    assert v.precision == "int8" and v.params["per_channel"] is True
    assert any("ConvInteger" in w for w in v.info["warnings"])


def test_fp16_halves_the_file_and_keeps_float32_io(exported):
    import onnx

    v, root = exported[0]["fp16"], exported[0]["fp32"]
    assert v.precision == "fp16"
    assert 0.4 < v.size_bytes / root.size_bytes < 0.6
    model = onnx.load(v.path)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)


def test_unstructured_pruning_shrinks_only_gzip(exported):
    v, root = exported[0]["prune-unstructured:0.5"], exported[0]["fp32"]
    assert v.sparsity == pytest.approx(0.5, abs=0.03)     # biases are not pruned
    assert v.size_bytes == root.size_bytes
    assert v.gzip_bytes < 0.75 * root.gzip_bytes
    assert "no speed" in v.info["note"]


def test_structured_pruning_removes_channels_and_fine_tunes(exported):
    v, root = exported[0]["prune-structured:0.5"], exported[0]["fp32"]
    tuned = exported[3]
    assert v.info["layers"] == {"conv1": {"before": 8, "after": 4}, "conv2": {"before": 16, "after": 8},
                                "fc1": {"before": 32, "after": 16}, "fc2": {"before": 10, "after": 10}}
    assert v.param_count < root.param_count / 2.5 and v.size_bytes < root.size_bytes / 2.5
    assert v.info["fine_tuned"] is True and len(tuned) == 1


def test_structured_pruning_keeps_residual_widths(tmp_path):
    import torch

    from harness.exporters.prune_structured import prune_channels

    model = residual_net()
    x = torch.rand(2, 1, 6, 6)
    report = prune_channels(model, 0.5)
    # stem feeds the add and inner; outer feeds the add: only inner can shrink
    assert report == {"inner": {"before": 8, "after": 4}, "outer": {"before": 8, "after": 8}}
    assert model(x).shape == (2, 4)


def test_structured_pruning_is_exact_when_only_dead_channels_go():
    """Filters that are all zero contribute nothing (relu(0) = 0): removing them must not change the output,
    which checks that the next layer's input channels were sliced to match."""
    import torch
    import torch.nn as nn

    from harness.exporters.prune_structured import prune_channels

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(1, 4, 3, padding=1)
            self.b = nn.Conv2d(4, 3, 3, padding=1)
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(torch.mean(self.b(torch.relu(self.a(x))), dim=(2, 3)))

    torch.manual_seed(0)
    model = Net().eval()
    with torch.no_grad():
        model.a.weight[[0, 2]] = 0.0
        model.a.bias[[0, 2]] = 0.0
        x = torch.rand(3, 1, 5, 5)
        before = model(x)
        assert prune_channels(model, 0.5) == {"a": {"before": 4, "after": 2}, "b": {"before": 3, "after": 3}}
        assert model.b.in_channels == 2
        torch.testing.assert_close(model(x), before)


def test_structured_pruning_ranks_filters_with_their_batchnorm_folded_in():
    """A BatchNorm with gamma = beta = 0 silences its channels whatever the filter's raw weights: folded-l1 removes
    exactly those (the output does not change), raw L1 keeps them for their large weights and removes live ones."""
    import torch
    import torch.nn as nn

    from harness.exporters.prune_structured import prune_channels

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.b = nn.Conv2d(4, 3, 3, padding=1)
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(torch.mean(self.b(torch.relu(self.bn(self.a(x)))), dim=(2, 3)))

    def net():
        torch.manual_seed(0)
        model = Net().eval()
        with torch.no_grad():
            model.a.weight[[0, 2]] *= 100.0          # the largest raw filters ...
            model.bn.weight[[0, 2]] = 0.0            # ... silenced by their BatchNorm
            model.bn.bias[[0, 2]] = 0.0
            model.bn.running_var.uniform_(0.5, 2.0)
        return model

    x = torch.rand(3, 1, 5, 5)
    with torch.no_grad():
        before = net()(x)
        folded, raw = net(), net()
        prune_channels(folded, 0.5)                   # folded-l1 is the default
        prune_channels(raw, 0.5, "l1")
        torch.testing.assert_close(folded(x), before)
        assert not torch.allclose(raw(x), before, atol=1e-4)
    assert folded.bn.num_features == 2
    with pytest.raises(Exception, match="unknown criterion 'l2'"):
        prune_channels(net(), 0.5, "l2")


def test_batchnorm_statistics_are_re_estimated_after_pruning(tmp_path):
    """After recalibration each BatchNorm holds the mean and variance of what reaches it on the calibration data;
    the exporter does it before fine-tuning and records how many samples it used."""
    import torch

    from harness.exporters.prune_structured import prune_channels, recalibrate_batchnorm

    model = tiny_cnn()
    prune_channels(model, 0.5)
    imgs = np.random.default_rng(5).random((21, 1, 8, 8), dtype=np.float32)
    batches = [{"input": imgs[i:i + 1]} for i in range(len(imgs))]
    # chunks of 8: 8 + 8 + 5 samples, the cumulative average over the three chunks
    assert recalibrate_batchnorm(model, batches, ["input"], chunk=8) == 21
    assert not model.training and model.bn1.momentum == 0.1
    with torch.no_grad():
        acts = [model.conv1(torch.from_numpy(imgs[i:i + 8])) for i in (0, 8, 16)]
    means = torch.stack([a.mean(dim=(0, 2, 3)) for a in acts])
    vars_ = torch.stack([a.var(dim=(0, 2, 3), unbiased=True) for a in acts])
    torch.testing.assert_close(model.bn1.running_mean, means.mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.bn1.running_var, vars_.mean(0), rtol=1e-4, atol=1e-5)
    assert recalibrate_batchnorm(residual_net(), batches, ["input"]) == 0       # no BatchNorm: nothing to do

    def pruned(example, recipe, out):
        return build_variants(example, ["fp32", recipe], ExportContext(example, tmp_path / out, "cpu", X86))[-1]

    v = pruned(tiny_example(), "prune-structured:0.5", "on")
    assert v.status == "ok" and v.info["criterion"] == "folded-l1"
    assert v.info["bn_recalibration_samples"] == 16     # the example's 16 calibration samples
    assert not any("BatchNorm" in w for w in v.info["warnings"])
    v = pruned(tiny_example(calibration=lambda n: []), "prune-structured:0.5", "none")
    assert v.info["bn_recalibration_samples"] == 0
    assert "BatchNorm statistics not re-estimated" in v.info["warnings"][0]
    v = pruned(tiny_example(), "prune-structured:amount=0.5,recalibrate_bn=false,criterion=l1", "off")
    assert v.params["criterion"] == "l1" and v.info["bn_recalibration_samples"] == 0
    assert not any("BatchNorm" in w for w in v.info["warnings"])


def test_target_decides_the_int8_format(tmp_path):
    ex = tiny_example()
    for target, info, fmt in (("jetson", {"machine": "aarch64"}, "s8s8"), ("nvidia-gpu", X86, "s8s8"),
                              ("cpu", {"machine": "aarch64"}, "s8s8"), ("cpu", X86, "u8s8")):
        v = build_variants(ex, ["int8-static"], ExportContext(ex, tmp_path / target, target, info))[1]
        assert v.ok and v.info["format"] == fmt, (target, info)
        assert v.info["activation_symmetric"] is (fmt == "s8s8")
    # overridable
    v = build_variants(ex, ["int8-static:format=s8s8,per_channel=false"],
                       ExportContext(ex, tmp_path / "o", "cpu", X86))[1]
    assert v.info["format"] == "s8s8" and v.params["per_channel"] is False


@pytest.mark.parametrize("bad, words", [
    (lambda n: [{"input": np.zeros((1, 1, 6, 6), np.float32)}], ["'input'", "1x6x6", "Nx1x8x8", "float32"]),
    (lambda n: [{"input": np.zeros((1, 1, 8, 8), np.float64)}], ["'input'", "float64", "float32", "Nx1x8x8"]),
    (lambda n: [{"image": np.zeros((1, 1, 8, 8), np.float32)}], ["lacks input", "input"]),
    (lambda n: [], ["empty"]),
])
def test_bad_calibration_data_is_a_clear_error(tmp_path, bad, words):
    ex = tiny_example(calibration=bad)
    variants = build_variants(ex, ["int8-static", "fp16"], ExportContext(ex, tmp_path, "cpu", X86))
    failed = variants[1]
    assert failed.status == "failed" and failed.path is None
    for w in words:
        assert w in failed.error, failed.error
    assert variants[2].ok                      # the run goes on


def test_export_failures_are_recorded_and_the_run_goes_on(tmp_path):
    ex = tiny_example()
    variants = build_variants(ex, ["int8-static:format=u4u4", "int8-static>prune-structured", "fp16"],
                              ExportContext(ex, tmp_path, "cpu", X86))
    by = {v.name: v for v in variants}
    assert by["int8-static:format=u4u4"].status == "failed"
    assert "unknown format 'u4u4'" in by["int8-static:format=u4u4"].error
    bad_chain = by["int8-static>prune-structured"]
    assert bad_chain.status == "failed" and "torch model" in bad_chain.error
    assert bad_chain.base_id == by["int8-static"].variant_id
    assert by["fp16"].ok and by["fp32"].ok


@pytest.mark.parametrize("method, recorded", [("entropy", "Entropy"), ("percentile", "Percentile")])
def test_calibration_methods(tmp_path, method, recorded):
    ex = tiny_example()
    v = build_variants(ex, [f"int8-static:calibration_method={method},calibration_count=8"],
                       ExportContext(ex, tmp_path, "cpu", X86))[1]
    assert v.ok, v.error
    assert v.info["calibration_method"] == recorded and v.info["calibration_count"] == 8


def int8_weight_range(path) -> tuple[int, int]:
    """The lowest and highest stored int8 weight of a QDQ model (its INT8 initializers)."""
    import onnx
    from onnx import numpy_helper

    vals = [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
            if t.data_type == onnx.TensorProto.INT8 and np.prod(t.dims) > 1]
    return int(min(v.min() for v in vals)), int(max(v.max() for v in vals))


@pytest.mark.parametrize("target, info, expected", [
    ("cpu", {"machine": "x86_64", "isa": ["avx2"]}, True),                  # AVX2 only: vpmaddubsw saturates
    ("cpu", {"machine": "x86_64", "isa": ["avx2", "avx512f", "avx512_vnni"]}, False),
    ("cpu", {"machine": "x86_64", "isa": ["avx2", "avx_vnni"]}, False),
    ("cpu", {"machine": "x86_64"}, True),                                   # ISA unknown: the safe side
    ("cpu", {"machine": "aarch64", "isa": ["asimddp"]}, False),
    ("jetson", {"machine": "aarch64"}, False),
    ("nvidia-gpu", {"machine": "x86_64", "isa": ["avx2"]}, False),          # TensorRT/CUDA kernels
])
def test_int8_static_weights_are_7_bit_on_x86_without_vnni(target, info, expected, tmp_path):
    from harness.exporters.int8_static import resolve_reduce_range

    ctx = ExportContext(tiny_example(), tmp_path, target, info)
    assert resolve_reduce_range(None, ctx)[0] is expected
    assert resolve_reduce_range(not expected, ctx) == (not expected, "as configured")


def test_int8_static_stores_7_bit_weights_unless_told_otherwise(exported, tmp_path):
    v = exported[0]["int8-static"]         # exported for an x86 target whose ISA is unknown
    assert v.info["reduce_range"] is True and "unknown ISA" in v.info["reduce_range_reason"]
    lo, hi = int8_weight_range(v.path)
    assert -64 <= lo and hi <= 64 and hi - lo > 64          # 7 bits, and used
    ex = tiny_example()
    full = {v.name: v for v in build_variants(ex, ["int8-static:reduce_range=false"],
                                               ExportContext(ex, tmp_path, "cpu", X86))}
    w = full["int8-static:reduce_range=false"]
    assert w.info["reduce_range"] is False and w.info["reduce_range_reason"] == "as configured"
    assert max(abs(x) for x in int8_weight_range(w.path)) > 64
