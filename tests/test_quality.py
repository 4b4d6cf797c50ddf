"""Quality pass rows, the per-run HDF5 file and its reader, and per-layer statistics of real exported files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from compression_fixtures import tiny_example
from harness.examples.base import EvalData, Example
from harness.exporters.base import ExportContext
from harness.exporters.recipes import build_variants
from harness.store.outputs_file import OutputsFile
from harness.quality import QualityPass
from harness.core.variant import Variant

LABELS = np.array([0, 1, 2, 1])
ROOT_LOGITS = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0], [0, 3.0, 0]])   # all correct
BASE_LOGITS = np.array([[3.0, 0, 0], [0, 3.0, 0], [3.0, 0, 0], [0, 3.0, 0]])   # flips instance 2
CHILD_LOGITS = np.array([[0, 3.0, 0], [0, 3.0, 0], [3.0, 0, 0], [0, 3.0, 0]])  # flips 0 vs base; 0, 2 vs root


def _example(task="classification"):
    return Example(name="toy", task=task, build_model=lambda: None, example_inputs=(), input_names=["input"],
                   output_names=["logits"])


def _variants():
    root = Variant("fp32", "r00t", None, root_id="r00t")
    base = Variant("prune", "ba5e", None, base_id="r00t", root_id="r00t", precision="fp32")
    child = Variant("prune>int8", "c41d", None, base_id="ba5e", root_id="r00t", precision="int8")
    return root, base, child


def _rows(rows, reference):
    return {r["metric"]: r for r in rows if r["reference"] == reference}


@pytest.fixture()
def classified(tmp_path):
    data = EvalData(inputs={"input": np.zeros((4, 2, 2), np.float32)}, labels=LABELS,
                    instances=np.arange(16, dtype=np.float32).reshape(4, 2, 2), class_names=["a", "b", "c"])
    path = tmp_path / "run" / "outputs.h5"
    qp = QualityPass(_example(), data, str(path))
    root, base, child = _variants()
    for v, logits in ((root, ROOT_LOGITS), (base, BASE_LOGITS), (child, CHILD_LOGITS)):
        qp.add(v, [logits.astype(np.float32)])
    by_id = {v.variant_id: v for v in (root, base, child)}
    rows = {v.name: qp.rows("run1", v, by_id) for v in (root, base, child)}
    qp.close()
    return rows, path


def test_task_metrics(classified):
    rows, _ = classified
    task = _rows(rows["prune>int8"][0], "task")
    assert task["accuracy"]["value"] == 0.5
    assert json.loads(task["accuracy"]["detail"]) == {"correct": 2, "n": 4}
    per = json.loads(task["per_class_accuracy"]["detail"])
    assert per["classes"] == {"a": 0.0, "b": 1.0, "c": 0.0} and per["counts"] == {"a": 1, "b": 2, "c": 1}
    assert task["per_class_accuracy"]["value"] == 0.0
    assert _rows(rows["fp32"][0], "task")["accuracy"]["value"] == 1.0


def test_drift_against_base_and_root(classified):
    rows, _ = classified
    q, _ = rows["prune>int8"]
    vs_base, vs_root = _rows(q, "base"), _rows(q, "root")
    assert vs_base["top1_agreement"]["value"] == 0.75 and vs_base["top1_agreement"]["reference_id"] == "ba5e"
    assert vs_root["top1_agreement"]["value"] == 0.5 and vs_root["top1_agreement"]["reference_id"] == "r00t"
    assert vs_base["flip_count"]["value"] == 1 and json.loads(vs_base["flip_count"]["detail"])["flipped"] == [0]
    assert json.loads(vs_root["flip_count"]["detail"])["flipped"] == [0, 2]
    assert vs_base["max_abs_diff"]["value"] == 3.0
    assert vs_base["logits_mse"]["value"] == pytest.approx((9 + 9) / 3 / 4)
    for kind in ("difference", "abs_difference", "ratio", "mse", "kl_divergence", "difference_argmax",
                 "abs_difference_argmax", "ratio_argmax", "mse_argmax", "kl_divergence_argmax"):
        assert kind in vs_base and kind in vs_root
    assert vs_root["kl_divergence"]["value"] > vs_base["kl_divergence"]["value"] > 0
    # the root has no drift rows; everything is tagged with the run and variant
    assert {r["reference"] for r in rows["fp32"][0]} == {"task"}
    assert all(r["run_id"] == "run1" and r["variant_id"] == "c41d" for r in q)


def test_hdf5_round_trip(classified):
    _, path = classified
    f = OutputsFile(path)
    assert f.meta()["model"] == "toy" and f.meta()["n_instances"] == 4
    assert f.labels().tolist() == LABELS.tolist()
    assert f.class_names() == ["a", "b", "c"]
    np.testing.assert_array_equal(f.instances(), np.arange(16, dtype=np.float32).reshape(4, 2, 2))
    assert set(f.variants()) == {"r00t", "ba5e", "c41d"}
    assert f.variants()["c41d"] == {"name": "prune>int8", "base_id": "ba5e", "root_id": "r00t",
                                    "precision": "int8", "output_names": ["logits"]}
    np.testing.assert_array_equal(f.outputs("c41d"), CHILD_LOGITS.astype(np.float32))
    assert f.predictions("c41d").tolist() == [1, 1, 0, 1]
    assert f.flipped("c41d", "base").tolist() == [0] and f.flipped("c41d", "root").tolist() == [0, 2]
    d = f.drift("c41d", "root")
    assert d["kl_divergence"].shape == (4,) and d["kl_divergence"][1] == pytest.approx(0.0)
    assert f.flipped("r00t") is None and f.drift("r00t") == {}


def test_file_is_readable_after_each_variant(tmp_path):
    """A run killed after the first variant still leaves a file the dashboard can read."""
    data = EvalData(inputs={"input": np.zeros((4, 1), np.float32)}, labels=LABELS)
    path = tmp_path / "outputs.h5"
    qp = QualityPass(_example(), data, str(path))
    qp.add(_variants()[0], [ROOT_LOGITS])
    assert OutputsFile(path).predictions("r00t").tolist() == [0, 1, 2, 1]


def test_embedding_quality_is_cosine_and_sentences_round_trip(tmp_path):
    sentences = ["a cat", "ein Hund", "ümlaut ok"]
    data = EvalData(inputs={"input_ids": np.zeros((3, 4), np.int64)}, instances=sentences)
    path = tmp_path / "outputs.h5"
    qp = QualityPass(_example("embedding"), data, str(path))
    root, base, _ = _variants()
    emb = np.array([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    var = np.array([[0.0, 2.0], [2.0, 2.0], [4.0, 3.0]])
    qp.add(root, [emb])
    qp.add(base, [var])
    rows, _ = qp.rows("r", base, {"r00t": root, "ba5e": base})
    task = _rows(rows, "task")
    assert task["cosine_similarity"]["value"] == pytest.approx((0 + 1 + 24 / 25) / 3)
    assert json.loads(task["cosine_similarity"]["detail"])["min"] == pytest.approx(0.0)
    vs_root = _rows(rows, "root")
    assert {"cosine_similarity", "mse", "max_abs_diff", "difference", "abs_difference", "ratio"} <= set(vs_root)
    assert "top1_agreement" not in vs_root and "accuracy" not in task
    assert OutputsFile(path).instances() == sentences
    assert OutputsFile(path).predictions("ba5e") is None


def test_unwritable_hdf5_does_not_stop_the_pass(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    data = EvalData(inputs={"input": np.zeros((4, 1), np.float32)}, labels=LABELS)
    qp = QualityPass(_example(), data, str(blocker / "outputs.h5"))
    root = _variants()[0]
    qp.add(root, [ROOT_LOGITS])
    rows, layers = qp.rows("r", root, {"r00t": root})
    assert _rows(rows, "task")["accuracy"]["value"] == 1.0 and layers == []


def test_missing_outputs_give_no_rows():
    qp = QualityPass(_example(), None, None)
    root = _variants()[0]
    assert qp.rows("r", root, {"r00t": root}) == ([], [])


# -- per-layer statistics on real files --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_variants(tmp_path_factory):
    ex = tiny_example()
    recipes = ["int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5", "prune-structured:0.5"]
    variants = build_variants(ex, recipes, ExportContext(ex, tmp_path_factory.mktemp("v"), "cpu",
                                                         {"machine": "x86_64"}))
    return {v.name: v for v in variants}


def _layer_rows(variants, name):
    from harness.layers import layer_rows

    v = variants[name]
    base = next(b for b in variants.values() if b.variant_id == v.base_id)
    return {r["layer"]: r for r in layer_rows("r", v.variant_id, v.path, base.path)}


def test_layers_of_the_root_have_no_change(tiny_variants):
    from harness.layers import layer_rows

    root = tiny_variants["fp32"]
    rows = {r["layer"]: r for r in layer_rows("r", root.variant_id, root.path, None)}
    # (conv1's BatchNorm is folded into it on export, which renames that initializer)
    assert rows["conv2.weight"]["param_count"] == 16 * 8 * 3 * 3 and rows["conv2.weight"]["kind"] == "Conv.weight"
    assert rows["conv2.bias"]["kind"] == "Conv.bias"
    assert rows["fc1.weight"]["param_count"] == 32 * 256 and rows["fc1.weight"]["kind"] == "Gemm.weight"
    assert all(r["change_hist"] is None for r in rows.values())


@pytest.mark.parametrize("name", ["int8-static", "int8-dynamic", "fp16"])
def test_quantized_layers_are_dequantized_and_matched(tiny_variants, name):
    rows = _layer_rows(tiny_variants, name)
    for layer in ("conv2.weight", "fc1.weight", "fc2.weight"):
        r = rows[layer]
        hist = json.loads(r["change_hist"])
        assert sum(hist["counts"]) == r["param_count"]
        # quantization moves weights a little: nothing near a full relative change on average
        assert 0 < r["change_mean_rel"] < 0.1, (name, layer, r["change_mean_rel"])


def test_unstructured_layers_show_sparsity_and_unit_change(tiny_variants):
    rows = _layer_rows(tiny_variants, "prune-unstructured:0.5")
    weights = [r for k, r in rows.items() if k.endswith("weight")]
    total = sum(r["param_count"] for r in weights)
    assert sum(r["zeros"] for r in weights) / total == pytest.approx(0.5, abs=0.01)
    fc1 = rows["fc1.weight"]
    hist = json.loads(fc1["change_hist"])
    # kept weights do not change; a zeroed one changes by |w| / (|w| + eps), just below 1.0
    assert hist["counts"][0] == fc1["param_count"] - fc1["zeros"]
    assert fc1["change_max_rel"] < 1.0 and hist["counts"][-3] > 0.8 * fc1["zeros"]
    assert fc1["change_mean_rel"] == pytest.approx(fc1["sparsity"], abs=0.02)


def test_structured_layers_are_reshaped(tiny_variants):
    rows = _layer_rows(tiny_variants, "prune-structured:0.5")
    hist = json.loads(rows["conv2.weight"]["change_hist"])
    assert hist == {"reshaped": True, "base_shape": [16, 8, 3, 3], "shape": [8, 4, 3, 3]}
    assert rows["conv2.weight"]["change_mean_rel"] is None
    assert rows["fc2.bias"]["change_mean_rel"] == 0.0     # untouched (no fine-tune in this example)
