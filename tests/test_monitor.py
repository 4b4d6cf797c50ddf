"""harness.monitor.LocalModelMonitor: C&C's behaviour (files, validation) plus the store record, and
`harness bench --monitor DIR` over what it saved."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from harness.monitor import LocalModelMonitor
from harness.store import Store, interop
from helpers import FAST, make_mlp_onnx, run_cli

TESTS = Path(__file__).resolve().parent


def _monitor(tmp_path, **kw) -> LocalModelMonitor:
    return LocalModelMonitor(str(tmp_path / "mon"), **kw)


def test_files_and_layout_are_compress_and_compares(tmp_path):
    mon = _monitor(tmp_path, checkpoint_type="pickle", outputs_type="numpy")
    mon.set_operation("Pruning", sparsity={"type": "continuous", "min": 0, "max": 1})
    mon.set_operation("Quantize", amount={"type": "nominal", "options": ["int8", "fp16"]})
    mon.set_metric("Accuracy", primary=True, format=".2~%", min=0, max=1)
    mon.set_metric("Latency", unit="ms")
    mon.save_model("base", {"Accuracy": 0.9, "Latency": 3.0}, checkpoint={"w": [1, 2]}, outputs=np.arange(4.0))
    mon.save_model("pruned", {"Accuracy": float("nan"), "Latency": None}, base_id="base",
                   operation={"name": "Pruning", "parameters": {"sparsity": 0.5}})
    doc = json.loads((tmp_path / "mon" / "models.json").read_text())
    assert doc["operations"][0] == {"name": "Pruning",
                                    "parameters": {"sparsity": {"type": "continuous", "min": 0, "max": 1}}}
    # C&C drops unset options but keeps primary=False
    assert doc["metrics"][1] == {"name": "Latency", "primary": False, "unit": "ms"}
    assert doc["models"][0] == {"id": "base", "metrics": {"Accuracy": 0.9, "Latency": 3.0}}
    assert doc["models"][1]["base"] == "base" and doc["models"][1]["operation"]["parameters"] == {"sparsity": 0.5}
    assert doc["models"][1]["metrics"] == {"Accuracy": None, "Latency": None}   # NaN written as null, not 0
    assert (tmp_path / "mon" / "models" / "base.pkl").is_file()
    assert np.array_equal(np.load(tmp_path / "mon" / "models" / "outputs" / "base.npy"), np.arange(4.0))
    assert mon.has_model_checkpoint("base") and not mon.has_model_checkpoint("pruned")
    assert mon.load_model_checkpoint("base") == {"w": [1, 2]} and mon.load_model_checkpoint("pruned") is None
    assert "pruned" in mon and "nope" not in mon
    # a second monitor on the same directory sees everything (how C&C's model server reads it)
    again = LocalModelMonitor(str(tmp_path / "mon"), checkpoint_type="pickle", outputs_type="numpy", record=False)
    assert again.make_info_dictionary() == doc
    assert np.array_equal(again.get_model_outputs("base"), np.arange(4.0))


def test_custom_file_names(tmp_path):
    mon = _monitor(tmp_path, metadata_filename="meta.json", model_dirname="ckpt", model_output_dirname="outs",
                   outputs_type="json")
    mon.set_metric("m")
    mon.save_model("a", {"m": 1}, outputs={"pred": [1, 2]})
    assert (tmp_path / "mon" / "meta.json").is_file() and not (tmp_path / "mon" / "models.json").exists()
    assert json.loads((tmp_path / "mon" / "outs" / "a.json").read_text()) == {"pred": [1, 2]}
    assert (tmp_path / "mon" / "ckpt").is_dir()


def test_validation_matches_compress_and_compare(tmp_path):
    mon = _monitor(tmp_path)
    with pytest.raises(ValueError, match="Unexpected operation parameter option 'step' for parameter 'sparsity'"):
        mon.set_operation("Pruning", sparsity={"type": "continuous", "step": 0.1})
    with pytest.raises(ValueError, match="Unknown metric 'Accuracy'. Define it first using set_metric()"):
        mon.save_model("a", {"Accuracy": 0.5})
    assert "a" not in mon and not interop_has_runs(tmp_path / "mon" / "harness.duckdb")


def interop_has_runs(db: Path) -> bool:
    return db.exists() and bool(Store(db).query("SELECT run_id FROM runs"))


def test_models_are_recorded_in_the_store_with_provenance(tmp_path):
    mon = _monitor(tmp_path)
    mon.set_operation("Pruning", sparsity={"type": "continuous", "min": 0, "max": 1})
    mon.set_metric("Accuracy", primary=True)
    mon.save_model("base", {"Accuracy": 0.9})
    mon.save_model("p50", {"Accuracy": 0.8}, base_id="base",
                   operation={"name": "Pruning", "parameters": {"sparsity": 0.5}})
    mon.save_model("p50", {"Accuracy": 0.85}, base_id="base",           # re-saved: replaced, as in models.json
                   operation={"name": "Pruning", "parameters": {"sparsity": 0.5}})
    mon.log_curve("p50", 0, "training", loss=1.0)
    mon.log_curve("p50", 1, "validation", loss=0.5, accuracy=0.85)
    store = Store(tmp_path / "mon" / "harness.duckdb")
    variants = {v["variant_id"]: v for v in interop.variants(store, mon.run_id)}
    assert set(variants) == {"base", "p50"}
    assert variants["p50"]["base_id"] == "base" and variants["p50"]["root_id"] == "base"
    assert variants["p50"]["operation"] == "Pruning" and json.loads(variants["p50"]["params"]) == {"sparsity": 0.5}
    values = interop.user_metrics(store, mon.run_id)
    assert [(r["variant_id"], r["value"]) for r in values] == [("base", 0.9), ("p50", 0.85)]
    assert len(interop.curves(store, mon.run_id)) == 3
    # a second session on the same directory appends to the same run
    LocalModelMonitor(str(tmp_path / "mon")).save_model("base2", {"Accuracy": 0.7})
    assert len(interop.variants(store, mon.run_id)) == 3
    runs = run_cli("runs", "--db", str(tmp_path / "mon" / "harness.duckdb"), check=True).stdout
    assert mon.run_id in runs
    cmp = run_cli("compare", mon.run_id, "--base", "base", "--db", str(tmp_path / "mon" / "harness.duckdb"),
                  check=True).stdout
    assert "Accuracy" in cmp and "0.85" in cmp


def test_an_unwritable_store_does_not_stop_training(tmp_path):
    mon = _monitor(tmp_path, db=str(tmp_path / "missing-dir" / "x.duckdb"), lock_timeout_s=0.2)
    mon.set_metric("m")
    with pytest.warns(UserWarning, match="models.json is up to date"):
        mon.save_model("a", {"m": 1})
    assert "a" in LocalModelMonitor(str(tmp_path / "mon"), record=False)


@pytest.mark.slow
def test_bench_monitor_measures_onnx_and_torch_checkpoints(tmp_path):
    import torch

    import monitor_factory

    mon = _monitor(tmp_path)
    mon.set_operation("Widen", hidden={"type": "continuous", "min": 64, "max": 512})
    mon.set_metric("Accuracy", primary=True, format=".2~%")
    small = make_mlp_onnx(tmp_path / "small.onnx")
    wide = make_mlp_onnx(tmp_path / "wide.onnx", hidden=512, seed=1)
    mon.save_model("mlp", {"Accuracy": 0.5}, checkpoint=str(small))
    mon.save_model("mlp-wide", {"Accuracy": 0.6}, base_id="mlp",
                   operation={"name": "Widen", "parameters": {"hidden": 512}}, checkpoint=str(wide))
    module = monitor_factory.make()
    mon.save_model("torchy", {"Accuracy": 0.4}, checkpoint=module.state_dict())
    mon.save_model("no-ckpt", {"Accuracy": 0.1}, base_id="mlp")
    assert (tmp_path / "mon" / "models" / "mlp.onnx").is_file() and (tmp_path / "mon" / "models" / "torchy.pth").is_file()
    db = tmp_path / "bench.duckdb"
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = run_cli("bench", "--monitor", str(tmp_path / "mon"), "--model-factory", "monitor_factory:make",
                   "--input-shape", "x=1x64", "--db", str(db), *FAST, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "no-ckpt: no checkpoint" in proc.stderr
    store = Store(db)
    run_id = store.resolve_run("latest")
    variants = {v["name"]: v for v in interop.variants(store, run_id)}
    assert set(variants) == {"mlp", "mlp-wide", "torchy"}
    assert variants["mlp-wide"]["base_id"] == variants["mlp"]["variant_id"]
    assert variants["mlp-wide"]["operation"] == "Widen"
    ms = interop.measurements(store, run_id)
    assert {m["variant_id"] for m in ms if m["status"] == "ok"} == {v["variant_id"] for v in variants.values()}
    assert all(m["p50_ms"] > 0 for m in ms)
    values = {(r["variant_id"], r["name"]): r["value"] for r in interop.user_metrics(store, run_id)}
    assert values[(variants["mlp-wide"]["variant_id"], "Accuracy")] == 0.6
    assert interop.run_row(store, run_id)["model"] == "mon"
    assert torch.load(tmp_path / "mon" / "models" / "torchy.pth", weights_only=True).keys() == module.state_dict().keys()


def test_bench_monitor_bad_usage(tmp_path):
    proc = run_cli("bench", "--monitor", str(tmp_path / "missing"), "--db", str(tmp_path / "b.duckdb"))
    assert proc.returncode == 1 and "no models.json" in proc.stderr and not (tmp_path / "b.duckdb").exists()
    proc = run_cli("bench", "--model-factory", "x:y", "--db", str(tmp_path / "b.duckdb"))
    assert proc.returncode == 2 and "--monitor" in proc.stderr
    mon = _monitor(tmp_path)
    mon.set_metric("m")
    mon.save_model("a", {"m": 1}, checkpoint={"w": 1})
    proc = run_cli("bench", "--monitor", str(tmp_path / "mon"), "--db", str(tmp_path / "b.duckdb"), *FAST)
    assert proc.returncode == 1 and "no measurable checkpoint" in proc.stderr
    assert "pass --model-factory" in proc.stderr
