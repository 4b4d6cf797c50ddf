"""A small real meta-dataset for the sweep/predict/recommend tests: one `harness sweep` of zoo-mlp over a few
recipes (real exports, real onnxruntime workers, real DuckDB), shared by the session.

Import with `from meta_fixtures import *  # noqa: F403`.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

RECIPES = ("fp32", "fp16", "int8-dynamic", "prune-unstructured:0.5", "prune-unstructured:0.9",
           "prune-structured:0.5")
__all__ = ["meta_db", "sweep_config", "RECIPES", "copy_meta_db"]


def sweep_config(db: Path, recipes=RECIPES, **kw):
    from harness.meta.sweep import SweepConfig

    return SweepConfig(examples=("zoo-mlp",), recipes=tuple(recipes), db=str(db),
                       artifacts_dir=str(Path(db).parent / "artifacts"), min_iterations=20, min_duration_s=0.05,
                       rounds=1, progress=False, **kw)


@pytest.fixture(scope="session")
def meta_db(tmp_path_factory) -> Path:
    from harness.meta.sweep import run_sweep

    d = tmp_path_factory.mktemp("meta")
    db = d / "meta.duckdb"
    old = os.environ.get("HARNESS_ZOO_CACHE")
    os.environ["HARNESS_ZOO_CACHE"] = str(d / "artifacts" / "zoo-weights")
    try:
        result = run_sweep(sweep_config(db), echo=lambda m: None)
    finally:
        if old is None:
            os.environ.pop("HARNESS_ZOO_CACHE", None)
        else:
            os.environ["HARNESS_ZOO_CACHE"] = old
    assert not result.failed, result.failed
    assert len(result.measured) == len(RECIPES)
    return db


def copy_meta_db(meta_db: Path, tmp_path_factory, name: str, train: bool = False) -> Path:
    """A module's own copy of the session's swept store (tests write predictors and runs into it), optionally
    with the predictor trained and stored."""
    import shutil

    path = tmp_path_factory.mktemp(name) / "meta.duckdb"
    shutil.copy(meta_db, path)
    if train:
        from harness.meta.predictor import train_and_store

        train_and_store(str(path), device="cpu")
    return path
