"""Compression Board figures from store rows (by hand), and `harness compare` on a real default bench."""
from __future__ import annotations

import json

import pytest

from harness.core.comparison import against_base as compare
from harness.core.errors import UsageError
from helpers import run_cli


def _v(name, vid, size, base_id=None, status="ok", gz=None):
    return {"name": name, "variant_id": vid, "size_bytes": size, "gzip_bytes": gz or size, "status": status,
            "base_id": base_id, "operation": name, "precision": "x", "error": None if status == "ok" else "boom"}


def _m(vid, p50, p90, rss, bs=1, energy=None):
    return {"variant_id": vid, "status": "ok", "batch_size": bs, "threads": 1, "provider": "CPU",
            "p50_ms": p50, "p90_ms": p90, "peak_rss_bytes": rss, "maxrss_bytes": None,
            "device_memory_peak_bytes": None, "energy_per_inference_mj": energy}


VARIANTS = [_v("fp32", "a", 4000, gz=3600), _v("int8-static", "b", 1000, "a", gz=900),
            _v("prune", "c", 4000, "a", gz=2000), _v("broken", "d", None, "a", status="failed")]
MEASUREMENTS = [_m("a", 40.0, 50.0, 200, energy=10.0), _m("b", 10.0, 25.0, 150, energy=4.0),
                _m("a", 100.0, 120.0, 300, bs=8), _m("b", 50.0, 60.0, 240, bs=8), _m("c", 40.0, 50.0, 200)]
QUALITY = [{"variant_id": "a", "reference": "task", "metric": "accuracy", "value": 0.98},
           {"variant_id": "b", "reference": "task", "metric": "accuracy", "value": 0.95},
           {"variant_id": "c", "reference": "task", "metric": "accuracy", "value": 0.49},
           {"variant_id": "b", "reference": "root", "metric": "top1_agreement", "value": 0.97}]


def test_figures_by_hand():
    rows = compare(VARIANTS, MEASUREMENTS, QUALITY)
    by = {(r["name"], r["batch_size"]): r for r in rows}
    b1 = by[("int8-static", 1)]
    assert b1["size_ratio"] == 4.0 and b1["size_reduction_pct"] == 75.0 and b1["gzip_ratio"] == 4.0
    assert b1["speedup_p50"] == 4.0 and b1["speedup_p90"] == 2.0
    assert b1["memory_metric"] == "peak_rss_bytes" and b1["memory_reduction_pct"] == 25.0
    assert b1["quality_metric"] == "accuracy" and b1["quality_drop"] == pytest.approx(3.0)
    assert b1["quality_retention_pct"] == pytest.approx(95 / 98 * 100)
    assert b1["energy_reduction_pct"] == pytest.approx(60.0)
    assert b1["top1_agreement_root"] == 0.97
    # batch 8 is compared with the base's batch 8, and has no energy figure
    b8 = by[("int8-static", 8)]
    assert b8["speedup_p50"] == 2.0 and b8["memory_reduction_pct"] == pytest.approx(20.0)
    assert b8["energy_reduction_pct"] is None
    base = by[("fp32", 1)]
    assert base["is_base"] and base["speedup_p50"] == 1.0 and base["quality_drop"] == 0.0
    pruned = by[("prune", 1)]
    assert pruned["size_ratio"] == 1.0 and pruned["gzip_ratio"] == 1.8
    assert pruned["quality_retention_pct"] == pytest.approx(50.0)
    broken = by[("broken", None)]
    assert broken["status"] == "failed" and broken["speedup_p50"] is None and broken["size_ratio"] is None


def test_base_by_name_id_or_root():
    rows = compare(VARIANTS, MEASUREMENTS, QUALITY, base="int8-static")
    fp32 = next(r for r in rows if r["name"] == "fp32" and r["batch_size"] == 1)
    assert fp32["size_ratio"] == 0.25 and fp32["speedup_p50"] == 0.25
    renamed = [dict(v, name="root") if v["name"] == "fp32" else v for v in VARIANTS]
    assert compare(renamed, MEASUREMENTS, QUALITY)[0]["base_name"] == "root"   # fp32 falls back to the root
    with pytest.raises(UsageError, match="no measured variant named 'int4'"):
        compare(VARIANTS, MEASUREMENTS, QUALITY, base="int4")


def test_embedding_runs_compare_cosine():
    quality = [{"variant_id": "a", "reference": "task", "metric": "cosine_similarity", "value": 1.0},
               {"variant_id": "b", "reference": "task", "metric": "cosine_similarity", "value": 0.99}]
    b = next(r for r in compare(VARIANTS[:2], MEASUREMENTS[:2], quality) if r["name"] == "int8-static")
    assert b["quality_metric"] == "cosine_similarity" and b["quality_drop"] == pytest.approx(1.0)


# -- on a real default bench (digits, the full default recipe set) ----------------------------------------------

def test_default_bench_provenance_in_duckdb(default_bench_db):
    from harness.store import Store

    store = Store(default_bench_db)
    variants = {v["name"]: v for v in store.query("SELECT * FROM variants")}
    assert set(variants) == {"fp32", "int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5",
                             "prune-structured:0.5", "prune-structured:0.5>int8-static"}
    root = variants["fp32"]
    assert root["base_id"] is None and root["root_id"] == root["variant_id"]
    chain = variants["prune-structured:0.5>int8-static"]
    assert chain["base_id"] == variants["prune-structured:0.5"]["variant_id"]
    assert chain["root_id"] == root["variant_id"] and chain["operation"] == "int8-static"
    assert json.loads(chain["params"])["format"] == "auto"
    assert json.loads(variants["int8-static"]["info"])["fused_fraction"] == 1.0
    quality = store.query("SELECT v.name, q.reference, q.reference_id, q.metric, q.value FROM quality q "
                          "JOIN variants v USING (run_id, variant_id)")
    acc = {q["name"]: q["value"] for q in quality if q["metric"] == "accuracy"}
    assert set(acc) == set(variants) and acc["fp32"] > 0.9
    chain_drift = {(q["reference"], q["metric"]): q for q in quality if q["name"] == chain["name"]}
    assert chain_drift[("base", "top1_agreement")]["reference_id"] == chain["base_id"]
    assert chain_drift[("root", "kl_divergence")]["reference_id"] == root["variant_id"]
    layers = store.query("SELECT v.name, l.layer, l.change_hist FROM layers l JOIN variants v USING "
                         "(run_id, variant_id) WHERE l.layer = 'conv2.weight'")
    hist = {r["name"]: json.loads(r["change_hist"]) if r["change_hist"] else None for r in layers}
    assert hist["fp32"] is None and hist["prune-structured:0.5"]["reshaped"] is True
    assert sum(hist["int8-static"]["counts"]) == 32 * 16 * 9


def test_default_bench_outputs_file(default_bench_db):
    from harness.store.outputs_file import OutputsFile
    from harness.store import Store

    store = Store(default_bench_db)
    run = store.query("SELECT hdf5_path FROM runs")[0]
    names = {v["variant_id"]: v["name"] for v in store.query("SELECT variant_id, name FROM variants")}
    f = OutputsFile(run["hdf5_path"])
    assert set(f.variants()) == set(names)
    labels = f.labels()
    assert f.instances().shape == (len(labels), 8, 8)
    fp32 = next(k for k, n in names.items() if n == "fp32")
    assert f.outputs(fp32).shape == (len(labels), 10)


def test_compare_cli(default_bench_db):
    proc = run_cli("compare", "latest", "--db", str(default_bench_db), check=True)
    assert "speedup p50" in proc.stdout and "prune-structured:0.5>int8-static" in proc.stdout
    proc = run_cli("compare", "latest", "--db", str(default_bench_db), "--json", check=True)
    data = json.loads(proc.stdout)
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["fp32"]["is_base"] and rows["fp32"]["speedup_p50"] == 1.0
    assert rows["int8-static"]["size_ratio"] > 2.5
    assert rows["prune-structured:0.5"]["size_ratio"] > 2.5
    assert rows["prune-unstructured:0.5"]["gzip_ratio"] > 1.3
    assert all(r["speedup_p50"] > 0 for r in rows.values())
    proc = run_cli("compare", "latest", "--db", str(default_bench_db), "--base", "int4")
    assert proc.returncode == 2 and "no measured variant named 'int4'" in proc.stderr
