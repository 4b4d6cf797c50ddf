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


def _cand(recipe, drop, lat=1.0, size=1.0):
    return {"recipe": recipe, "drop": drop, "lat": lat, "size": size}


def test_top5_within_one_image_counts_a_configuration_the_measurement_cannot_order(bench):
    one = bench.one_image_pts()
    assert one == pytest.approx(100.0 / 360)     # the digits test split every zoo model is judged on
    best = _cand("int8-static", 0.0)
    near = _cand("int8-dynamic", one)             # one image short of the best
    far = _cand("prune-unstructured:0.9", 2 * one)
    over = _cand("fp16", 0.0, lat=1.2)            # as good, but breaks the latency limit
    cands = [best, near, far, over]
    limit = (1.0, None)
    s = bench.scored(cands, [near, far], limit, "m0", one)
    assert (s.regret, s.hit, s.hit_tied, s.infeasible) == (pytest.approx(one), False, True, False)
    # two images short is not a tie; a candidate that breaks a limit never makes a hit, however good
    s = bench.scored(cands, [over, far], limit, "m0", one)
    assert (s.hit, s.hit_tied, s.infeasible) == (False, False, True)
    assert s.regret == pytest.approx(2 * one)     # an infeasible top pick costs the worst feasible drop
    assert bench.scored([over], [over], limit, "m0", one) is None     # nothing feasible: not scored


def test_architecture_bootstrap_interval(bench):
    def res(arch, regrets):
        return [bench.Scored(r, True, False, (None, None), arch, True) for r in regrets]

    # every architecture alike: no spread whatever is resampled
    same = {"loao": res("a", [1.0, 1.0]) + res("b", [1.0]), "lomo": res("a", [0.0]) + res("b", [0.0])}
    assert bench.cluster_ci(same, lambda r: r.regret) == pytest.approx((0.5, 0.5))
    # one architecture with a collapse: the interval holds the point estimate and spans both kinds of zoo
    split = {"loao": res("a", [0.0] * 5) + res("b", [0.0] * 5) + res("c", [9.0] * 5) + res("d", [0.0] * 5)}
    lo, hi = bench.cluster_ci(split, lambda r: r.regret)
    assert lo < 9.0 / 4 < hi
    assert lo >= 0.0 and hi <= 9.0 * 3 / 4 + 1e-9
    assert bench.cluster_ci(split, lambda r: r.regret) == (lo, hi)     # seeded: the same interval every run
