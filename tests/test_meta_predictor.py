"""The predictor: trained on real sweep points, stored in the store with its data, loaded back identical."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from meta_fixtures import *  # noqa: F403
from harness.meta.dataset import load_rows
from harness.meta.predictor import Predictor
from harness.store import Store
from harness.store.meta import predictor_data


@pytest.fixture(scope="module")
def trained_db(meta_db, tmp_path_factory):
    return copy_meta_db(meta_db, tmp_path_factory, "pred", train=True)


def test_round_trip_through_the_store(trained_db):
    store = Store(trained_db)
    rows = load_rows(store, device="cpu")
    loaded = Predictor.load(store, "cpu")
    assert loaded is not None and loaded.n_rows == len(rows)
    fresh = Predictor.train(rows, device="cpu")
    a = loaded.predict_many([r.features for r in rows])
    b = fresh.predict_many([r.features for r in rows])
    for pa, pb in zip(a, b):
        for target in ("drop_pts", "latency_ratio", "size_ratio", "memory_ratio"):
            assert pa[target].value == pytest.approx(pb[target].value)
            assert pa[target].low <= pa[target].value <= pa[target].high
    # out-of-fold estimates of the training rows (for the inner cross-validation of harness.meta.policy):
    # one per row, in the target's units, not stored with the predictor
    import numpy as np
    for target in ("drop_pts", "latency_ratio"):
        oof = fresh.oof[target]
        assert len(oof) == len(rows) and np.isfinite(oof).any()
    assert (fresh.oof["latency_ratio"][np.isfinite(fresh.oof["latency_ratio"])] > 0).all()
    assert loaded.oof == {}
    # no power sensor on this host: energy is not predicted, and says why
    assert a[0]["energy_ratio"].value is None and "energy" in a[0]["energy_ratio"].reason
    # the rows it was trained on are stored with it
    data = predictor_data(store, loaded.predictor_id)
    assert len(data) == len(rows)
    assert {d["recipe"] for d in data} == {r.recipe for r in rows}
    assert data[0]["features"]["macs"] > 0 and "latency_ratio" in data[0]["targets"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=300)


def test_predict_cli_json(trained_db):
    proc = _cli("predict", "--db", str(trained_db), "--model", "zoo-mlp", "--recipe", "prune-unstructured:0.7",
                "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["source"] == "predicted" and out["measured"] is None
    lat = out["targets"]["latency_ratio"]
    assert lat["low"] <= lat["value"] <= lat["high"]
    assert out["absolute"]["size_mb"] > 0 and out["targets"]["energy_ratio"]["value"] is None
    # how recommend ranks it: zoo-mlp has measured points besides its root, a known architecture whose
    # ranking uses the learnt estimates as they are
    rk = out["ranking"]
    assert rk["unseen_architecture"] is False and rk["source"] == "predicted"
    assert rk["ranked_by"]["latency_ratio"] == pytest.approx(lat["value"])
    # a measured recipe is still predicted, with the measurement beside it
    proc = _cli("predict", "--db", str(trained_db), "--model", "zoo-mlp", "--recipe", "fp16", "--json")
    assert json.loads(proc.stdout)["measured"]["size_ratio"] < 0.6


def test_predict_unknown_model_is_a_clear_error(trained_db):
    proc = _cli("predict", "--db", str(trained_db), "--model", "nope", "--recipe", "fp16")
    assert proc.returncode == 2 and "no measured FP32 root of model 'nope'" in proc.stderr
    proc = _cli("predict", "--db", str(trained_db), "--model", "zoo-mlp", "--recipe", "quantum:3")
    assert proc.returncode == 2 and "harness: error:" in proc.stderr


def test_one_architecture_stores_no_unseen_policy(trained_db):
    # zoo-mlp alone: no inner cross-validation over architectures is possible
    assert Predictor.load(Store(trained_db), "cpu").unseen_policy is None


def _synthetic_rows():
    """Three architectures x five recipes with hand-made features: enough for folds by architecture."""
    from harness.meta.dataset import MetaRow

    rows = []
    for a, (scale, conv) in enumerate(((0.0, 0.0), (1.0, 1.0), (2.0, 0.5))):
        for r, (bits, sparsity) in enumerate(((32, 0.0), (16, 0.0), (8, 0.0), (32, 0.5), (32, 0.9))):
            feats = {"log_fp32_latency_ms": scale, "log_macs": 5 + scale, "log_params": 4 + scale,
                     "op_Conv": 3 * conv, "op_Gemm": 1.0, "weight_bits": float(bits),
                     "unstructured_sparsity": sparsity}
            drop = 0.0 if r == 0 else 30 * sparsity ** 2 * (1 + a) + (0.3 if bits == 8 else 0.0)
            lat = 1.0 if r == 0 else (0.5 + 0.2 * a if bits == 8 else 1.0)
            size = bits / 32
            rows.append(MetaRow(run_id=f"r{a}", variant_id=f"v{a}{r}", model=f"m{a}",
                                recipe="fp32" if r == 0 else f"x{r}", device="cpu", operation=None,
                                task="classification", features=feats,
                                targets={"drop_pts": drop, "latency_ratio": lat, "size_ratio": size,
                                         "memory_ratio": 1.0, "energy_ratio": None},
                                base={}, measured={}))
    return rows


def test_unseen_policy_is_chosen_at_training_and_stored(tmp_path):
    from harness.meta.predictor import train_with_policy

    rows = _synthetic_rows()
    pred = train_with_policy(rows, device="cpu")
    assert pred.unseen_policy is not None
    store = Store(tmp_path / "p.duckdb")
    store.migrate()
    pred.save(store, rows)
    loaded = Predictor.load(store, "cpu")
    assert loaded.unseen_policy == pred.unseen_policy


def test_probe_anchored_companion_is_trained_stored_and_chosen(tmp_path):
    """When the models have every probe measured, training also makes the probe-anchored predictor (probe features,
    its own inner-CV policy with the probes measured), stored as the zero-shot one's companion; a model with its
    probes measured is then predicted by it."""
    from dataclasses import replace

    from harness.meta.predictor import train_with_policy
    from harness.meta.probes import PROBES, probe_feature_names
    from harness.meta.recommend import model_predictor

    names = {"x1": "fp16", "x2": "int8-dynamic", "x3": "int8-static", "x4": "prune-unstructured:0.5"}
    rows = [replace(r, recipe=names.get(r.recipe, r.recipe)) for r in _synthetic_rows()]
    pred = train_with_policy(rows, device="cpu")
    probe = pred.probe
    assert probe is not None and probe.kind == "probe" and pred.kind == "zero-shot"
    assert set(probe_feature_names()) <= set(probe.feature_names)
    assert not set(probe_feature_names()) & set(pred.feature_names)
    assert probe.unseen_policy is not None
    store = Store(tmp_path / "p.duckdb")
    store.migrate()
    pred.save(store, rows)
    loaded = Predictor.load(store, "cpu")          # the companion was saved last: still the zero-shot one
    assert loaded.predictor_id == pred.predictor_id and loaded.kind == "zero-shot"
    assert loaded.probe.predictor_id == probe.predictor_id and loaded.probe.companion_of == pred.predictor_id
    assert loaded.probe.unseen_policy == probe.unseen_policy
    measured = {r.recipe: r.targets for r in rows if r.model == "m1"}
    chosen, extra = model_predictor(loaded, measured)
    assert chosen is loaded.probe and extra["probe_drop_int8_static"] == measured["int8-static"]["drop_pts"]
    # one probe missing: the zero-shot predictor, no probe features
    assert model_predictor(loaded, {k: v for k, v in measured.items() if k != PROBES[0]}) == (loaded, {})


def test_no_probes_measured_no_companion(tmp_path):
    from harness.meta.predictor import train_with_policy

    assert train_with_policy(_synthetic_rows(), device="cpu").probe is None
