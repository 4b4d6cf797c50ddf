"""Compress and Compare files: `harness import cc`, `harness export --format cc`, and the round trip."""
from __future__ import annotations

import json
import pickle

import pytest

from harness.interop import ImportFormatError
from harness.interop.cc import import_cc
from harness.store import Store, interop
from helpers import run_cli
from interop_fixtures import CC_DOC, write_cc


def _models(doc):
    return {m["id"]: m for m in doc["models"]}


def test_import_keeps_every_model_provenance_metric_and_definition(tmp_path):
    d = write_cc(tmp_path / "cc")
    store = Store(tmp_path / "h.duckdb")
    result = import_cc(store, d)
    assert result.models == len(CC_DOC["models"])
    # the missing base is reported, the model kept
    assert any("orphan" in n and "deleted-model" in n for n in result.notes)
    variants = {v["variant_id"]: v for v in interop.variants(store, result.run_id)}
    assert set(variants) == {m["id"] for m in CC_DOC["models"]}
    chain = variants["p1-t-sp-t-q"]
    assert chain["base_id"] == "p1-t-sp-t" and chain["root_id"] == "base"
    assert chain["operation"] == "Quantize" and json.loads(chain["params"]) == {"amount": "int8"}
    assert chain["tag"] == "Quantize (int8)"
    assert variants["orphan"]["base_id"] == "deleted-model"
    assert "deleted-model" in json.loads(variants["orphan"]["info"])["notes"][0]
    assert variants["base"]["base_id"] is None and variants["base"]["operation"] is None
    values = {(r["variant_id"], r["name"]): r for r in interop.user_metrics(store, result.run_id)}
    assert values[("base", "Model Size")]["value"] == 1017000
    assert values[("p1", "Latency")]["value"] is None            # null stays null, not 0
    defs = {d["name"]: d for d in interop.metric_defs(store, result.run_id)}
    assert defs["Top-1 Accuracy"]["format"] == ".2~%" and defs["Top-1 Accuracy"]["is_primary"] is True
    assert defs["Latency"]["unit"] == "ms" and defs["Latency"]["max"] is None
    ops = {o["name"]: json.loads(o["parameters"]) for o in interop.operation_defs(store, result.run_id)}
    assert ops["Selective Pruning"]["layers"] == {"type": "ordinal", "options": ["attention", "feedforward"]}
    assert ops["Quantize"]["amount"]["type"] == "nominal"


def test_round_trip_keeps_ids_bases_operations_metrics(tmp_path):
    d = write_cc(tmp_path / "cc")
    db = tmp_path / "h.duckdb"
    proc = run_cli("import", "cc", str(d / "models.json"), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "note: model 'orphan'" in proc.stdout
    out = tmp_path / "out"
    proc = run_cli("export", "latest", "--format", "cc", "-o", str(out), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "models.json").read_text())
    original, again = _models(CC_DOC), _models(doc)
    assert set(again) == set(original)
    for mid, m in original.items():
        assert again[mid].get("base") == m.get("base"), mid
        assert again[mid].get("operation") == m.get("operation"), mid
        assert again[mid]["metrics"] == m["metrics"], mid
        assert again[mid].get("tag") == m.get("tag"), mid
        assert again[mid].get("notes") == m.get("notes"), mid       # keys harness does not use, kept
    assert doc["operations"] == CC_DOC["operations"]
    names = [m["name"] for m in doc["metrics"]]
    assert names == [m["name"] for m in CC_DOC["metrics"]]     # no harness figures: the import measured nothing
    # and the exported directory imports again to the same models
    store = Store(db)
    second = import_cc(store, out)
    assert {v["variant_id"] for v in interop.variants(store, second.run_id)} == set(original)


def test_import_shows_in_runs_and_compare(tmp_path):
    d = write_cc(tmp_path / "cc")
    db = tmp_path / "h.duckdb"
    run_cli("import", "cc", str(d), "--db", str(db), "--tag", "cc", check=True)
    runs = run_cli("runs", "--db", str(db), check=True).stdout
    assert "cc" in runs and "unmeasured" in runs
    proc = run_cli("compare", "cc@latest", "--base", "base", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "p1-t-sp-t-q" in proc.stdout and "Top-1 Accuracy" in proc.stdout


@pytest.mark.parametrize("doc, key", [
    ({"operations": [], "metrics": []}, "missing key 'models'"),
    ({"models": {"id": "a"}}, "'models' must be a list"),
    ({"models": [{"metrics": {}}]}, "models[0].id"),
    ({"models": [{"id": "a", "operation": "prune"}]}, "models[0].operation"),
    ({"models": [{"id": "a", "metrics": [1, 2]}]}, "models[0].metrics"),
    ({"metrics": [{"name": "x", "min": "zero"}], "models": []}, "metrics[0].min"),
    ({"operations": [{"name": "P", "parameters": {"s": 3}}], "models": []}, "operations[0].parameters.s"),
])
def test_malformed_files_get_one_line_naming_the_key(tmp_path, doc, key):
    d = write_cc(tmp_path / "cc", doc)
    db = tmp_path / "h.duckdb"
    proc = run_cli("import", "cc", str(d), "--db", str(db))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error:") and key in lines[0], proc.stderr
    with pytest.raises(ImportFormatError):
        import_cc(Store(db), d)


def test_not_json_is_a_clear_error(tmp_path):
    (tmp_path / "models.json").write_text("{not json")
    proc = run_cli("import", "cc", str(tmp_path), "--db", str(tmp_path / "h.duckdb"))
    assert proc.returncode == 1 and "is not JSON" in proc.stderr and "Traceback" not in proc.stderr


def test_export_of_a_bench_declares_harness_metrics_and_writes_outputs(default_bench_db, tmp_path):
    out = tmp_path / "cc"
    proc = run_cli("export", "latest", "--format", "cc", "-o", str(out), "--db", str(default_bench_db))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "models.json").read_text())
    declared = {m["name"]: m for m in doc["metrics"]}
    for name in ("Latency p50", "Latency p90", "Model Size", "Peak Memory", "Energy per Inference", "Accuracy",
                 "Top-1 Agreement with Base", "KL Divergence from Base"):
        assert name in declared, sorted(declared)
    assert declared["Latency p50"]["unit"] == "ms"
    models = _models(doc)
    assert "fp32" in models and models["int8-static"]["base"] == "fp32"
    assert models["int8-static"]["operation"]["name"] == "int8-static"
    assert models["fp32"]["metrics"]["Latency p50"] > 0
    assert 0.5 < models["fp32"]["metrics"]["Accuracy"] <= 1.0
    # every metric a model carries is declared (C&C's save_model would refuse it otherwise)
    for m in doc["models"]:
        assert set(m["metrics"]) <= set(declared), m["id"]
    # every operation a model uses is declared, with specs of C&C's kinds
    ops = {o["name"]: o for o in doc["operations"]}
    for m in doc["models"]:
        if "operation" in m:
            assert m["operation"]["name"] in ops
            for p, spec in ops[m["operation"]["name"]]["parameters"].items():
                assert spec["type"] in ("continuous", "nominal", "ordinal")
    # checkpoints and per-instance outputs in the monitor's layout
    assert (out / "models" / "fp32.onnx").is_file()
    with open(out / "models" / "outputs" / "fp32.pkl", "rb") as f:
        outputs = pickle.load(f)
    assert outputs["outputs"][0].shape[0] == len(outputs["labels"]) == len(outputs["predictions"])
    # C&C's loader (our drop-in reads the same files) sees every model
    from harness.monitor import LocalModelMonitor

    mon = LocalModelMonitor(str(out), record=False)
    assert set(mon.models) == set(models) and mon.get_model_outputs("fp32") is not None
    assert mon.make_info_dictionary()["metrics"] == doc["metrics"]
