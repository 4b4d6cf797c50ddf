"""benchmarks/recommend.py runs its LOAO folds (predictor training and the inner-CV policy choice, of the zero-shot
and of the probe-anchored protocol) in worker processes: the folds must come out the same as in one process."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from harness.meta.dataset import MetaRow
from harness.meta.probes import with_probes

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "recommend.py"
RECIPES = ("fp32", "fp16", "int8-dynamic", "int8-static", "prune-unstructured:0.5", "prune-unstructured:0.9")


@pytest.fixture(scope="module")
def bench():
    # imported by its name from benchmarks/: the spawned worker processes import it the same way
    sys.path.insert(0, str(BENCH.parent))
    try:
        yield importlib.import_module("recommend")
    finally:
        sys.path.remove(str(BENCH.parent))
        sys.modules.pop("recommend", None)


def _rows():
    """Four architectures x six recipes with hand-made features and outcomes: LOAO leaves three to train on."""
    rows = []
    for a in range(4):
        for recipe in RECIPES:
            bits = 16 if recipe == "fp16" else 8 if "int8" in recipe else 32
            sparsity = float(recipe.split(":")[1]) if ":" in recipe else 0.0
            drop = 0.0 if recipe == "fp32" else 30 * sparsity ** 2 * (1 + a) + (0.4 * a if bits == 8 else 0.0)
            lat = 1.0 if bits == 32 else (0.5 + 0.15 * a if bits == 8 else 1.1)
            size = bits / 32 * (1 - sparsity / 2)
            rows.append(MetaRow(run_id=f"r{a}", variant_id=f"v{a}-{recipe}", model=f"m{a}", recipe=recipe,
                                device="cpu", operation=None, task="classification",
                                features={"log_fp32_latency_ms": 0.5 * a, "log_macs": 5.0 + a, "log_params": 4 + a,
                                          "op_Conv": float(a % 2), "op_Gemm": 1.0, "weight_bits": float(bits),
                                          "unstructured_sparsity": sparsity},
                                targets={"drop_pts": drop, "latency_ratio": lat, "size_ratio": size,
                                         "memory_ratio": 1.0, "energy_ratio": None},
                                base={}, measured={}))
    return rows


def _summary(folds, rows):
    """What a fold decides: the chosen policies and the estimates of every point (both protocols)."""
    out = []
    for pred, policy, ppred, ppolicy in folds:
        est = [round(p["drop_pts"].value, 9) for p in pred.predict_many([r.features for r in rows])]
        pest = None if ppred is None else [round(p["drop_pts"].value, 9)
                                            for p in ppred.predict_many([r.features for r in with_probes(rows)])]
        out.append((policy, est, ppolicy, pest))
    return out


def test_folds_in_two_processes_equal_one_process(bench):
    rows = _rows()
    bench._set_rows(rows, with_probes(rows))
    archs = sorted({r.model for r in rows})[:2]    # two folds are enough to show the order and the plumbing
    # in one process first: LightGBM has then run here, as the sweep's torch and onnxruntime have in the
    # benchmark before its workers start (a fork then hung them)
    serial = bench.loao_folds(archs, rounds=20, inner_cv=True, jobs=1, probe=True)
    pooled = bench.loao_folds(archs, rounds=20, inner_cv=True, jobs=2, probe=True)
    assert all(policy is not None and ppolicy is not None for _, policy, _, ppolicy in serial)
    assert _summary(pooled, rows) == _summary(serial, rows)
    # without --probe the probe-anchored half is not computed at all
    assert all(f[2] is None and f[3] is None
               for f in bench.loao_folds(archs[:1], rounds=20, inner_cv=False, jobs=1))
