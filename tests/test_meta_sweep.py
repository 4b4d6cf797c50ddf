"""`harness sweep`: every point is a normal variant with provenance, and a second sweep redoes nothing."""
from __future__ import annotations

import json
import shutil

from meta_fixtures import *  # noqa: F403
from meta_fixtures import RECIPES, sweep_config
from harness.meta.sensitivity import load_probe
from harness.meta.sweep import chunks, run_sweep
from harness.store import Store


def test_points_are_variants_with_provenance(meta_db):
    rows = Store(meta_db).query(
        "SELECT v.name, v.operation, v.params, v.base_id, v.root_id, r.tag, m.status FROM variants v "
        "JOIN runs r USING (run_id) JOIN measurements m USING (run_id, variant_id) ORDER BY v.name")
    names = {r["name"] for r in rows}
    assert set(RECIPES) <= names
    assert all(r["tag"] == "sweep" and r["status"] == "ok" for r in rows)
    pruned = next(r for r in rows if r["name"] == "prune-unstructured:0.9")
    assert pruned["operation"] == "prune-unstructured" and json.loads(pruned["params"])["sparsity"] == 0.9
    assert pruned["base_id"] == pruned["root_id"] is not None
    # each run's FP32 root carries the example's calibration inputs for the data-dependent features
    roots = Store(meta_db).query("SELECT path FROM variants WHERE base_id IS NULL")
    assert roots and all(load_probe(r["path"])["input"].shape == (256, 1, 8, 8) for r in roots)


def test_second_sweep_measures_nothing_new(meta_db, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(meta_db, db)
    before = Store(db).query("SELECT count(*) AS n FROM variants")[0]["n"]
    result = run_sweep(sweep_config(db), echo=lambda m: None)
    assert result.measured == [] and result.runs == []
    assert sorted(r for _, r in result.already) == sorted(RECIPES)
    assert Store(db).query("SELECT count(*) AS n FROM variants")[0]["n"] == before


def test_budget_stops_before_new_runs(meta_db, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(meta_db, db)
    result = run_sweep(sweep_config(db, recipes=(*RECIPES, "int8-static"), budget_s=1e-9), echo=lambda m: None)
    assert result.budget_hit and result.left == [("zoo-mlp", "int8-static")] and result.measured == []


def test_chains_share_a_run_with_their_prefix():
    parts = chunks(["fp32", "int8-static", "prune-structured:0.5", "prune-structured:0.5>fp16",
                    "fp16"], size=2)
    assert ["prune-structured:0.5", "prune-structured:0.5>fp16"] in parts
    assert all("fp32" not in p for p in parts)


def test_sweep_runs_time_with_its_own_settings(meta_db):
    """Each bench run of a sweep is timed with the sweep's rounds and per-round re-warm (many short rounds by
    default, so a chunk's root and variants see the same machine), recorded with the run."""
    from harness.meta.sweep import SweepConfig

    configs = [json.loads(r["config"]) for r in Store(meta_db).query("SELECT config FROM runs")]
    wanted = sweep_config(meta_db)
    assert configs and all(c["rounds"] == wanted.rounds and c["warmup_s"] == wanted.warmup_s for c in configs)
    default = SweepConfig(examples=("zoo-mlp",))
    assert default.rounds >= 10 and default.warmup_s < 0.1
