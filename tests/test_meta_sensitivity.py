"""Data-dependent meta-features: a two-layer graph small enough to work out which decisions a perturbation flips."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.meta.features import features
from harness.meta.predictor import _value
from harness.meta.sensitivity import (PROBE_MAX_SAMPLES, data_features, load_probe, perturbation_of, perturbed,
                                      probe_path, write_probe)

# x (N x 4) -> Gemm W1 (3 hidden) -> Relu -> Gemm W2 (2 classes) -> logits
# logit0 = relu(x0) + relu(0.1 x2), logit1 = relu(x1): hidden unit 2 (L1 norm 0.1) is the weakest channel
W1 = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0.1, 0]], np.float32)
W2 = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
# sample 0 is class 0 only thanks to hidden unit 2 (1.1 vs 1.05); sample 1 is class 0 by a wide margin (2 vs 1)
PROBE = np.array([[1, 1.05, 1, 0], [2, 1, 0, 0]], np.float32)


def two_layer(path) -> str:
    inits = [numpy_helper.from_array(W1, "w1"), numpy_helper.from_array(np.zeros(3, np.float32), "b1"),
             numpy_helper.from_array(W2, "w2"), numpy_helper.from_array(np.zeros(2, np.float32), "b2")]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture()
def model_with_probe(tmp_path):
    path = two_layer(tmp_path / "two-fp32.onnx")
    write_probe(path, [{"x": PROBE[:1]}, {"x": PROBE[1:]}])
    return path


def _weights(model) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def test_recipes_map_to_weight_perturbations():
    assert perturbation_of("fp32") == ()
    assert perturbation_of("prune-structured:0.5>int8-static") == (("structured", 0.5), ("int8", True))
    assert perturbation_of("prune-unstructured:0.7>int8-dynamic:per_channel=false") == (
        ("unstructured", 0.7), ("int8", False))
    assert perturbation_of("fp16") == (("fp16", True),)


def test_structured_zeroes_the_weakest_channel_of_layers_feeding_a_weight_layer(model_with_probe):
    model = onnx.load(model_with_probe)
    w = _weights(perturbed(model, (("structured", 0.34),)))
    expect = W1.copy()
    expect[2] = 0                       # 3 channels, keep ceil(3 x 0.66) = 2: the 0.1 row goes
    np.testing.assert_array_equal(w["w1"], expect)
    np.testing.assert_array_equal(w["w2"], W2)          # feeds the graph output: kept whole, as prune-structured does
    np.testing.assert_array_equal(_weights(model)["w1"], W1)      # a copy was perturbed, not the loaded model


def test_flips_are_counted_on_the_probe_inputs(model_with_probe):
    fp32 = data_features(model_with_probe, "fp32")
    assert fp32["data_flip_pct"] == 0 and fp32["data_output_err"] == 0
    # softmax gaps: (1.1, 1.05) -> 0.0125; (2, 1) -> 0.462
    assert fp32["data_low_margin_pct"] == 50
    gaps = [math.tanh(0.05 / 2), math.tanh(1 / 2)]
    assert fp32["data_margin_mean"] == pytest.approx(np.mean(gaps), rel=1e-6)
    structured = data_features(model_with_probe, "prune-structured:0.34")
    assert structured["data_flip_pct"] == 50           # sample 0 loses hidden unit 2 and becomes class 1
    # 18 weights of which 12 are zero: 70 % global sparsity prunes the 13th smallest magnitude, the 0.1
    assert data_features(model_with_probe, "prune-unstructured:0.7")["data_flip_pct"] == 50
    assert data_features(model_with_probe, "prune-unstructured:0.3")["data_flip_pct"] == 0
    # per-channel int8 represents these weights exactly; per tensor rounds 0.1 to a step of 1/127: no flip
    assert data_features(model_with_probe, "int8-static")["data_flip_pct"] == 0
    assert data_features(model_with_probe, "int8-static")["data_output_err"] == pytest.approx(0, abs=1e-7)
    assert 0 < data_features(model_with_probe, "int8-dynamic:per_channel=false")["data_output_err"] < 0.01


def test_rematching_the_channel_statistics_undoes_what_a_scale_and_shift_can(model_with_probe):
    """Zeroing hidden unit 2 turns logit 0 from (1.1, 2) into (1, 2) on the two probe samples: a per-channel
    scale and shift maps (1, 2) back onto (1.1, 2) exactly, so the re-matched model flips nothing where the plain
    one flips sample 0 (the exporter's BatchNorm re-estimation, and the easy part of a fine-tune)."""
    from harness.meta.sensitivity import _outputs

    model = onnx.load(model_with_probe)
    probe = load_probe(model_with_probe)
    key = (("structured", 0.34),)
    base = _outputs(model, probe)[0]
    plain = _outputs(perturbed(model, key), probe)[0]
    rematched = _outputs(perturbed(model, key, rematch_on=probe), probe)[0]
    np.testing.assert_allclose(plain, [[1.0, 1.05], [2.0, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(rematched, base, rtol=1e-5, atol=1e-6)
    w = _weights(perturbed(model, key, rematch_on=probe))
    assert w["w1"][2].tolist() == [0, 0, 0, 0]          # the unit stays removed; only the next layer moved
    f = data_features(model_with_probe, "prune-structured:0.34")
    assert f["data_flip_pct"] == 50 and f["data_rematched_flip_pct"] == 0
    assert f["data_rematched_output_err"] == pytest.approx(0, abs=1e-6) and f["data_output_err"] > 0.01
    # nothing structured in the recipe: the re-matched features are the plain ones
    g = data_features(model_with_probe, "prune-unstructured:0.7")
    assert g["data_rematched_flip_pct"] == g["data_flip_pct"] == 50
    assert data_features(model_with_probe, "fp32")["data_rematched_flip_pct"] == 0


def test_embedding_task_reports_cosine_drift(model_with_probe):
    f = data_features(model_with_probe, "prune-structured:0.34", task="embedding")
    x, w1, w2 = (a.astype(np.float64) for a in (PROBE, W1, W2))
    out = np.maximum(x @ w1.T, 0) @ w2.T
    cut = w1.copy()
    cut[2] = 0
    out2 = np.maximum(x @ cut.T, 0) @ w2.T
    cos = np.sum(out * out2, 1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(out2, axis=1))
    assert f["data_flip_pct"] == pytest.approx(100 * (1 - cos.mean()), rel=1e-5)
    assert "data_margin_mean" not in f


def test_without_probe_inputs_the_features_are_missing_not_zero(tmp_path):
    path = two_layer(tmp_path / "bare.onnx")
    assert data_features(path, "prune-unstructured:0.9") == {}
    f = features(path, "prune-unstructured:0.9", "cpu")
    assert not any(k.startswith("data_") for k in f)
    # the predictor reads an absent data_ feature as unknown, an absent one-hot as 0
    assert math.isnan(_value(f, "data_flip_pct")) and _value(f, "board_orin") == 0.0
    # a damaged probe file costs the features, nothing else
    probe_path(path).write_bytes(b"not an npz")
    assert load_probe(path) is None and data_features(path, "fp32") == {}


def test_features_carry_the_data_features(model_with_probe):
    f = features(model_with_probe, "prune-structured:0.34", "cpu")
    assert f["data_flip_pct"] == 50 and f["structured_amount"] == 0.34


def test_probe_is_capped(tmp_path):
    path = tmp_path / "m.onnx"
    write_probe(path, [{"x": np.zeros((100, 4), np.float32)} for _ in range(5)])
    assert load_probe(path)["x"].shape == (PROBE_MAX_SAMPLES, 4)
    big = np.zeros((3, 3, 1024, 1024), np.float32)           # 12 MB a sample: one is kept
    write_probe(path, [{"x": big}])
    assert load_probe(path)["x"].shape[0] == 1
    assert write_probe(path, []) is None


def test_engine_saves_real_inputs_only_next_to_a_root_it_exported(tmp_path):
    from types import SimpleNamespace

    from harness.core.variant import Variant
    from harness.engine import Engine

    out = tmp_path / "run"
    out.mkdir()
    root = out / "m-fp32.onnx"
    root.write_bytes(b"")
    lines: list[str] = []
    me = SimpleNamespace(echo=lines.append)
    variants = [Variant(name="fp32", variant_id="a", path=str(root))]
    real = SimpleNamespace(calibration=lambda n: [{"x": np.ones((1, 4), np.float32)}] * n)
    Engine._write_probe(me, real, variants, out)
    assert load_probe(root)["x"].shape == (256, 4)
    # a user's own file outside the run directory gets nothing beside it
    user = tmp_path / "mine.onnx"
    user.write_bytes(b"")
    Engine._write_probe(me, real, [Variant(name="mine", variant_id="b", path=str(user))], out)
    assert not probe_path(user).exists()
    # random calibration inputs are not saved; a failing calibration costs the features, not the run
    probe_path(root).unlink()
    Engine._write_probe(me, SimpleNamespace(calibration=real.calibration, calibration_is_random=True), variants, out)
    assert not probe_path(root).exists() and not lines

    def broken(n):
        raise RuntimeError("no data today")

    Engine._write_probe(me, SimpleNamespace(calibration=broken), variants, out)
    assert not probe_path(root).exists()
    assert len(lines) == 1 and "no probe inputs saved" in lines[0] and "no data today" in lines[0]
