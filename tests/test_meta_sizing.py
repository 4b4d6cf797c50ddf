"""Sizes of not-yet-measured variants computed by size-only exports (harness.meta.sizing): the same size as the
real export, stored and reused, and used by `harness recommend` instead of the predicted size."""
from __future__ import annotations

import json
import shutil

import pytest

from helpers import run_cli
from meta_fixtures import *  # noqa: F403
from harness.store import Store


def test_size_only_recipe_keeps_the_shapes_and_drops_the_slow_parts():
    from harness.meta.sizing import size_only_recipe

    assert size_only_recipe("fp16") == "fp16"
    assert size_only_recipe("prune-structured:0.5>int8-static:per_channel=false") == (
        "prune-structured:amount=0.5,fine_tune=false,recalibrate_bn=false"
        ">int8-static:calibration_count=4,calibration_method=minmax,per_channel=false")
    # a recipe the user configured keeps every parameter that shapes the graph
    assert "amount=0.25" in size_only_recipe("prune-structured:amount=0.25,fine_tune=true")


@pytest.fixture(scope="module")
def swept(meta_db):
    """The fixture sweep's zoo-mlp: its FP32 root point and every recipe's measured (real export) size."""
    from harness.meta.dataset import latest_points, measured

    pts = latest_points(measured(Store(meta_db), device="cpu", model="zoo-mlp"))
    root = next(p for p in pts if p["variant_id"] == p["root_id"])
    return root, {p["name"]: p["size_bytes"] for p in pts if p["name"] != "fp32"}


@pytest.fixture()
def zoo_cache(meta_db, monkeypatch):
    monkeypatch.setenv("HARNESS_ZOO_CACHE", str(meta_db.parent / "artifacts" / "zoo-weights"))


def test_size_only_exports_have_the_real_exports_size(swept, zoo_cache, tmp_path):
    """Every recipe of the sweep, structured pruning with fine-tuning included, comes out of the size-only export
    at the size its real export was stored with (the claim benchmarks/recommend.py rests on)."""
    from harness.examples import load_example
    from harness.meta.sizing import compute_sizes

    root, real = swept
    example = load_example("zoo-mlp")
    sizes = compute_sizes(example, root["root_path"], sorted(real), out_dir=tmp_path, module=example.build_model)
    assert not sizes.reasons, sizes.reasons
    assert set(sizes.bytes) == set(real)
    for recipe, size in real.items():
        assert abs(sizes.bytes[recipe] - size) <= 0.001 * size, (recipe, sizes.bytes[recipe], size)
    assert sizes.bytes["prune-structured:0.5"] < 0.6 * root["root_size_bytes"]    # it did shrink
    assert list(tmp_path.iterdir()) == []          # nothing left behind


def test_without_a_torch_module_torch_recipes_get_a_reason(swept, tmp_path):
    from harness.examples import load_example
    from harness.meta.sizing import compute_sizes

    root, real = swept
    sizes = compute_sizes(load_example("zoo-mlp"), root["root_path"], ["int8-static", "prune-structured:0.25"],
                          out_dir=tmp_path)
    assert set(sizes.bytes) == {"int8-static"}
    assert "PyTorch module" in sizes.reasons["prune-structured:0.25"]


def test_sizes_are_stored_once_and_reused(meta_db, swept, zoo_cache, tmp_path_factory):
    from harness.meta import sizing
    from harness.store.meta import stored_sizes

    db = copy_meta_db(meta_db, tmp_path_factory, "sizes")
    store = Store(db)
    store.migrate()
    root, _ = swept
    recipes = ["int8-static", "prune-structured:0.25", "prune-unstructured:0.7>fp16"]
    assert sizing.sizes_for(store, "zoo-mlp", root, recipes, "cpu", compute=False).bytes == {}
    first = sizing.sizes_for(store, "zoo-mlp", root, recipes, "cpu")
    assert set(first.bytes) == set(recipes)
    assert stored_sizes(store, root["root_id"], "cpu")[0] == first.bytes
    calls = []
    real = sizing.compute_sizes
    try:
        sizing.compute_sizes = lambda *a, **k: calls.append(a) or real(*a, **k)
        again = sizing.sizes_for(store, "zoo-mlp", root, recipes, "cpu")
    finally:
        sizing.compute_sizes = real
    assert again.bytes == first.bytes and calls == []
    # another device's sizes are its own (int8 formats differ by target)
    assert sizing.sizes_for(store, "zoo-mlp", root, recipes, "jetson", compute=False).bytes == {}


def test_recommend_computes_the_sizes_of_predicted_candidates(meta_db, tmp_path_factory):
    """`harness recommend --model` gives predicted candidates their exported size (no interval around it), says so,
    and keeps accuracy predicted (latency is timed: tests/test_meta_timed_latency.py); a size limit is then
    checked on the exact size."""
    db = copy_meta_db(meta_db, tmp_path_factory, "recsize")
    shutil.copytree(meta_db.parent / "artifacts" / "zoo-weights", db.parent / "zoo-weights")
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--json",
                   env={"HARNESS_ZOO_CACHE": str(db.parent / "zoo-weights")})
    assert proc.returncode == 0, proc.stderr
    cands = json.loads(proc.stdout)
    predicted = [c for c in cands if c["source"] == "predicted"]
    assert predicted and all(c["size_source"] == "computed" for c in predicted)
    assert all(c["interval"]["size_mb"] == [c["size_mb"], c["size_mb"]] for c in predicted)
    assert all(c["interval"]["latency_ms"][0] < c["interval"]["latency_ms"][1] for c in predicted)
    assert {c["size_source"] for c in cands if c["source"] == "measured"} == {"measured"}
    # the exact size decides a size limit: a limit just above a predicted candidate's size admits it on size
    c = min(predicted, key=lambda c: c["size_mb"])
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--json",
                   "--max-size-mb", str(c["size_mb"] * 1.0001))
    again = {x["recipe"]: x for x in json.loads(proc.stdout)}
    assert not any("size" in v for v in again[c["recipe"]]["violations"])
    table = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp")
    assert "size computed by exporting them" in table.stdout
    # the second call found the sizes stored: nothing exported again
    assert "computing the size" not in table.stderr


def test_a_users_onnx_file_is_sized_from_the_file(meta_db, tmp_path_factory):
    """A user's ONNX root (no example, no torch module) is size-exported with random calibration calls."""
    from harness.meta.sizing import export_source, sizes_for

    db = copy_meta_db(meta_db, tmp_path_factory, "usersize")
    store = Store(db)
    store.migrate()
    from harness.meta.dataset import latest_points, measured

    root = next(p for p in latest_points(measured(store, device="cpu", model="zoo-mlp"))
                if p["variant_id"] == p["root_id"])
    example, module = export_source("mine", root | {"operation": "user"})
    assert module is None and example.calibration_is_random
    sizes = sizes_for(store, "mine", root | {"operation": "user"}, ["int8-dynamic", "fp16"], "cpu")
    assert set(sizes.bytes) == {"int8-dynamic", "fp16"}
    # a custom example harness cannot rebuild: no size, and why
    none, why = export_source("not-an-example", root)
    assert none is None and "module:function" in why


def test_the_dashboard_shows_stored_sizes_and_exports_nothing(meta_db, zoo_cache, tmp_path_factory):
    from harness.meta.sizing import sizes_for
    from harness.reports.recommend_view import RecommendView

    db = copy_meta_db(meta_db, tmp_path_factory, "viewsize", train=True)
    store = Store(db)
    store.migrate()

    def predicted_rows():
        view = RecommendView(str(db))
        view.load()
        view.model = "zoo-mlp"
        return view, view.frame[view.frame["source"] == "predicted"]

    view, rows = predicted_rows()
    assert len(rows) and set(rows["size_source"]) == {"predicted"} and set(rows["latency_source"]) == {"predicted"}
    assert "some sizes are predicted" in view.message.object
    from harness.meta.dataset import latest_points, measured

    root = next(p for p in latest_points(measured(store, device="cpu", model="zoo-mlp"))
                if p["variant_id"] == p["root_id"])
    from harness.meta.timed_latency import TrialTiming

    # what `harness recommend --model` does (timed briefly here)
    sizes_for(store, "zoo-mlp", root, list(rows["recipe"]), "cpu",
              timing=TrialTiming(rounds=2, min_iterations=3, min_duration_s=0.0, warmup_s=0.0))
    view, rows = predicted_rows()
    assert set(rows["size_source"]) == {"computed"} and set(rows["latency_source"]) == {"timed"}
    assert "some sizes are predicted" not in view.message.object


def computed_weights_onnx(path):
    """A classifier whose weight tensor is computed at run time (ConstantOfShape), as in onnx's light_shufflenet:
    no weight initializer for prune-unstructured to prune, so that recipe cannot be made from it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("ConstantOfShape", ["wshape"], ["w"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.1])),
             helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])]
    inits = [numpy_helper.from_array(np.array([16, 4], np.int64), "wshape"),
             numpy_helper.from_array(np.linspace(-1, 1, 4).astype(np.float32), "b")]
    graph = helper.make_graph(nodes, "computed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_recipe_whose_export_fails_on_the_model_is_no_candidate(meta_db, tmp_path_factory):
    """The size-only export runs the recipe's own exporters on the model's graph: when it fails, the recipe cannot
    be made from this model, so recommend leaves it out (and says why) instead of predicting it; predict notes it."""
    db = copy_meta_db(meta_db, tmp_path_factory, "failsize")
    onnx_file = computed_weights_onnx(db.parent / "computed.onnx")
    assert run_cli("bench", str(onnx_file), "--recipe", "fp32", "--db", str(db), "--min-iterations", "20").returncode == 0
    proc = run_cli("recommend", "--db", str(db), "--model", "computed", "--json")
    assert proc.returncode == 0, proc.stderr
    cands = {c["recipe"]: c for c in json.loads(proc.stdout)}
    assert "fp16" in cands and cands["fp16"]["size_source"] == "computed"
    assert not any(r.startswith("prune-unstructured") for r in cands)
    assert "cannot be made from computed: their export fails" in proc.stderr
    assert "prune-unstructured" in proc.stderr
    store = Store(db)
    from harness.meta.dataset import latest_points, measured
    from harness.meta.sizing import sizes_for

    root = next(p for p in latest_points(measured(store, device="cpu", model="computed")))
    stored = sizes_for(store, "computed", root, ["prune-unstructured:0.5", "fp16"], "cpu", compute=False)
    assert set(stored.failed) == {"prune-unstructured:0.5"} and set(stored.bytes) == {"fp16"}
    # a model benched without labels: its measured root has no accuracy for the ranking policy to weigh, and
    # still fits a limit it meets (it was dropped from the policy's order: "no candidate fits")
    limit = str(cands["fp32"]["size_mb"] * 1.01)
    proc = run_cli("recommend", "--db", str(db), "--model", "computed", "--max-size-mb", limit, "--json")
    assert proc.returncode == 0, proc.stderr
    fits = [c for c in json.loads(proc.stdout) if c["feasible"]]
    assert fits[0]["recipe"] == "fp32" and fits[0]["rank"] == 1
    predicted = json.loads(run_cli("predict", "--db", str(db), "--model", "computed", "--recipe",
                                   "prune-unstructured:0.5", "--json").stdout)
    assert any("cannot be made from it" in n for n in predicted["notes"])
