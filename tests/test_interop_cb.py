"""Compression Board files: `harness import cb`, `harness export --format cb`, and its TensorBoard layout."""
from __future__ import annotations

import json

import pytest

from harness.interop.cb import MIB, import_cb
from harness.store import Store, interop
from helpers import run_cli
from interop_fixtures import CB_DOC, write_cb


def _import(tmp_path, doc=None):
    store = Store(tmp_path / "h.duckdb")
    return store, import_cb(store, write_cb(tmp_path / "bench.json", doc))


def test_import_units_are_honest_and_missing_sides_are_kept(tmp_path):
    store, result = _import(tmp_path)
    assert result.models == 4     # resnet18 fp32+int8, mobilenet_v2 fp32, tiny_int8_only int8
    assert any("mobilenet_v2" in n and "no int8 side" in n for n in result.notes)
    assert any("tiny_int8_only" in n and "no fp32 side" in n for n in result.notes)
    assert any("percent" in n for n in result.notes)
    variants = {v["variant_id"]: v for v in interop.variants(store, result.run_id)}
    assert set(variants) == {"resnet18/fp32", "resnet18/int8", "mobilenet_v2/fp32", "tiny_int8_only/int8"}
    int8 = variants["resnet18/int8"]
    assert int8["base_id"] == "resnet18/fp32" and int8["precision"] == "int8" and int8["model"] == "resnet18"
    assert variants["tiny_int8_only/int8"]["base_id"] is None
    assert "no fp32 side" in json.loads(variants["tiny_int8_only/int8"]["info"])["notes"][0]
    assert int8["size_bytes"] == round(11.3 * MIB)                      # MB -> bytes
    ms = {m["variant_id"]: m for m in interop.measurements(store, result.run_id)}
    fp32 = ms["resnet18/fp32"]
    assert fp32["avg_power_mw"] == 15000.0                              # a power, stored as one
    assert fp32["energy_mj"] is None and fp32["energy_per_inference_mj"] is None
    assert "average power" in fp32["energy_reason"]
    assert fp32["mean_ms"] == 41.2 and fp32["std_ms"] == 1.3 and fp32["p50_ms"] is None
    assert fp32["peak_rss_bytes"] == round(512.5 * MIB) and fp32["provider"] == "cpu"
    acc = {q["variant_id"]: q["value"] for q in interop.quality(store, result.run_id) if q["metric"] == "accuracy"}
    assert acc["resnet18/fp32"] == pytest.approx(0.897)
    user = {(r["variant_id"], r["name"]): r["value"] for r in interop.user_metrics(store, result.run_id)}
    assert user[("resnet18/int8", "f1_score")] == 0.887 and user[("resnet18/fp32", "sensitivity")] == 0.91
    assert interop.run_row(store, result.run_id)["device"] == "cpu"


def test_round_trip_through_export(tmp_path):
    db = tmp_path / "h.duckdb"
    path = write_cb(tmp_path / "bench.json")
    proc = run_cli("import", "cb", str(path), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "note: model 'mobilenet_v2': no int8 side" in proc.stdout
    out = tmp_path / "again.json"
    proc = run_cli("export", "latest", "--format", "cb", "-o", str(out), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    again = json.loads(out.read_text())
    assert set(again) == set(CB_DOC)
    for model, entry in CB_DOC.items():
        for side in ("fp32", "int8"):
            if side not in entry:
                assert side not in again[model]
                continue
            for key, value in entry[side].items():
                got = again[model][side][key]
                assert got == (pytest.approx(value, rel=1e-6) if isinstance(value, float) else value), (model, key)
        assert again[model]["model_info"] == entry.get("model_info", {})


@pytest.mark.parametrize("doc, key", [
    ([1, 2], "top level must be an object"),
    ({"resnet": [1]}, "key 'resnet' must be an object"),
    ({"resnet": {"model_info": {}}}, "key 'resnet' has neither"),
    ({"resnet": {"fp32": {"latency_mean_ms": "fast"}}}, "key 'resnet.fp32.latency_mean_ms'"),
    ({"resnet": {"fp32": {}, "int8": 3}}, "key 'resnet.int8'"),
])
def test_malformed_files_get_one_line_naming_the_key(tmp_path, doc, key):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    db = tmp_path / "h.duckdb"
    proc = run_cli("import", "cb", str(path), "--db", str(db))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and key in lines[0], proc.stderr
    assert not db.exists() or not Store(db).query("SELECT * FROM runs")


def test_export_cb_of_a_bench(default_bench_db, tmp_path):
    out = tmp_path / "cb.json"
    proc = run_cli("export", "latest", "--format", "cb", "-o", str(out), "--db", str(default_bench_db))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    store = Store(default_bench_db)
    run_id = store.resolve_run("latest")
    variants = {v["name"]: v for v in interop.variants(store, run_id)}
    int8 = sorted(n for n, v in variants.items() if v["precision"] == "int8" and v["status"] == "ok")
    assert sorted(doc) == sorted(f"digits/{n}" for n in int8)
    entry = doc["digits/int8-static"]
    assert entry["fp32"]["model_size_mb"] == pytest.approx(variants["fp32"]["size_bytes"] / MIB)
    assert entry["int8"]["latency_mean_ms"] > 0 and entry["int8"]["latency_p50_ms"] > 0
    assert 0.5 < entry["fp32"]["accuracy"] <= 1.0
    m = interop.measurements(store, run_id)
    if all(x["avg_power_mw"] is None for x in m):
        assert "energy_consumption_mw" not in entry["fp32"]        # no sensor here: nothing invented


def test_export_cb_needs_int8(tmp_path):
    from interop_fixtures import write_cc

    d = write_cc(tmp_path / "cc")
    db = tmp_path / "h.duckdb"
    run_cli("import", "cc", str(d), "--db", str(db), check=True)
    proc = run_cli("export", "latest", "--format", "cb", "-o", str(tmp_path / "x.json"), "--db", str(db))
    assert proc.returncode == 1 and "no int8 variant" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("export", "latest", "--format", "csv", "--outputs-type", "numpy", "--db", str(db))
    assert proc.returncode == 2 and "--outputs-type" in proc.stderr


def test_tensorboard_layout_of_a_cb_import(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store, result = _import(tmp_path)
    proc = run_cli("export-tensorboard", result.run_id, "--logdir", str(tmp_path / "tb"), "--db",
                   str(tmp_path / "h.duckdb"))
    assert proc.returncode == 0, proc.stderr
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    scalars = {t: acc.Scalars(t)[-1].value for t in acc.Tags()["scalars"]}
    f, i = CB_DOC["resnet18"]["fp32"], CB_DOC["resnet18"]["int8"]
    assert scalars["resnet18/model_size/fp32"] == pytest.approx(f["model_size_mb"], rel=1e-6)
    assert scalars["resnet18/latency/int8"] == pytest.approx(i["latency_mean_ms"])
    assert scalars["resnet18/accuracy/fp32"] == pytest.approx(f["accuracy"])      # percent, as the file had it
    c = "resnet18/compression/{}/int8"
    assert scalars[c.format("size_ratio")] == pytest.approx(f["model_size_mb"] / i["model_size_mb"], rel=1e-5)
    assert scalars[c.format("speedup")] == pytest.approx(f["latency_mean_ms"] / i["latency_mean_ms"], rel=1e-5)
    assert scalars[c.format("energy_ratio")] == pytest.approx(f["energy_consumption_mw"] / i["energy_consumption_mw"])
    assert scalars[c.format("memory_reduction_mb")] == pytest.approx(f["memory_usage_mb"] - i["memory_usage_mb"])
    assert scalars[c.format("accuracy_drop")] == pytest.approx(f["accuracy"] - i["accuracy"], abs=1e-4)
    assert scalars[c.format("accuracy_retention_pct")] == pytest.approx(100 * i["accuracy"] / f["accuracy"])
    assert scalars[c.format("size_reduction_pct")] == pytest.approx(
        100 * (1 - i["model_size_mb"] / f["model_size_mb"]), rel=1e-5)
    assert scalars["resnet18/power/fp32"] == 15000.0
    assert not any(t.startswith("resnet18/energy/") for t in scalars)     # no energy was measured: none shown
    assert "mobilenet_v2/latency/fp32" in scalars and "tiny_int8_only/latency/int8" in scalars
