"""Shared fixtures: small real ONNX models and one real default bench shared by the session.

Nothing here fakes a measurement: models run in real onnxruntime sessions and results go to real DuckDB files.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import FAST, make_mlp_onnx, run_cli


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    make_mlp_onnx(d / "mlp.onnx")
    make_mlp_onnx(d / "mlp_wide.onnx", hidden=512, seed=1)
    make_mlp_onnx(d / "seq.onnx", extra_dim="seq_len", in_features=32)
    make_mlp_onnx(d / "fixed3.onnx", batch=3)
    return d


@pytest.fixture(scope="session")
def default_bench_db(tmp_path_factory) -> Path:
    """One real default `harness bench` (the digits example), shared read-only by tests."""
    d = tmp_path_factory.mktemp("default_bench")
    db = d / "bench.duckdb"
    run_cli("bench", "--db", str(db), "--tag", "test", *FAST, cwd=d, check=True)
    return db


@pytest.fixture(scope="session", autouse=True)
def _peak_cache(tmp_path_factory):
    """Measured CPU peaks go to a cache of this test session (once per session), not the user's ~/.cache."""
    import os

    os.environ["HARNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("harness_cache"))
    yield
