"""Latency ratios of not-yet-measured variants timed from their size-only exports (harness.meta.timed_latency,
harness.meta.sizing.time_against_root): the graph timed is the real variant's, the ratio is the statistic a
measurement gives, only a host alike the root's times, and `harness recommend` ranks with it. No test asserts a
timing: only the structure of what is timed and how the numbers are combined."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from helpers import run_cli
from meta_fixtures import *  # noqa: F403
from harness.store import Store


def _graph(path):
    """What decides a graph's speed: its nodes (op type, domain, attributes) in order and every initializer's
    shape and data type."""
    import onnx

    m = onnx.load(str(path))
    nodes = [(n.op_type, n.domain, tuple(sorted(a.name for a in n.attribute))) for n in m.graph.node]
    inits = sorted((tuple(i.dims), i.data_type) for i in m.graph.initializer)
    return nodes, inits


def test_the_ratio_is_the_measurements_statistic_and_the_interval_resamples_rounds():
    from harness.meta.timed_latency import TrialTiming, ratios

    rng = np.random.default_rng(1)
    root = [rng.normal(100.0, 2.0, 30) for _ in range(10)]
    half = [r * 0.5 for r in root]                       # exactly half the root's time, round by round
    noisy = [rng.normal(80.0, 8.0, 30) for _ in range(10)]
    out = ratios({"root": root, "half": half, "noisy": noisy}, "root", TrialTiming())
    assert set(out) == {"half", "noisy"}
    assert out["half"].ratio == pytest.approx(0.5) and out["half"].low == pytest.approx(0.5)
    assert out["half"].calls == 300
    # with enough calls: the ratio of the fast ends (1st percentiles), as harness.meta.dataset.latency_ratio
    pooled = np.percentile(np.concatenate(noisy), 1) / np.percentile(np.concatenate(root), 1)
    assert out["noisy"].ratio == pytest.approx(pooled)
    assert out["noisy"].low <= out["noisy"].ratio <= out["noisy"].high
    assert out["noisy"].high - out["noisy"].low > out["half"].high - out["half"].low
    # too few calls for a fast end: the median of the round-paired ratios
    few = ratios({"root": [r[:3] for r in root], "half": [h[:3] for h in half]}, "root", TrialTiming())
    assert few["half"].ratio == pytest.approx(0.5)


def test_the_interval_a_ranking_uses_is_never_narrower_than_the_session_noise():
    from harness.meta.timed_latency import SESSION_NOISE, TimedRatio

    tight = TimedRatio(0.8, 0.799, 0.801, 500).interval()
    assert tight == pytest.approx((0.8 * math.exp(-SESSION_NOISE), 0.8 * math.exp(SESSION_NOISE)))
    wide = TimedRatio(0.8, 0.5, 1.2, 500).interval()
    assert wide == (0.5, 1.2)


def test_the_interval_widens_to_how_far_timings_fell_from_measurements_per_method_family():
    from harness.meta.timed_latency import MIN_FAMILY_PAIRS, NO_ERROR, TimedRatio, TimingError

    rng = np.random.default_rng(0)
    # int8 timings off by up to 20 % from their measurements, pruning within 1 %
    pairs = [("int8-static", 1.0, float(np.exp(rng.uniform(-0.2, 0.2)))) for _ in range(MIN_FAMILY_PAIRS)]
    pairs += [("prune-unstructured:0.5", 1.0, float(np.exp(rng.uniform(-0.01, 0.01)))) for _ in range(MIN_FAMILY_PAIRS)]
    err = TimingError.fit(pairs)
    t = TimedRatio(0.8, 0.79, 0.81, 500)
    low, high = err.interval("int8-static:per_channel=false", t)
    assert 0.8 * math.exp(-0.2) < low < 0.8 * math.exp(-0.1) and 0.8 * math.exp(0.1) < high < 0.8 * math.exp(0.2)
    # pruning's timings agree with its measurements: the timing's own interval (at least SESSION_NOISE) stays
    assert err.interval("prune-unstructured:0.7", t) == t.interval()
    # a family with too few pairs takes every family's spread; no pairs at all: the timing's own interval
    fp16 = err.interval("fp16", t)
    assert fp16[0] < t.interval()[0] and fp16[1] > t.interval()[1]
    assert NO_ERROR.interval("int8-static", t) == t.interval() == TimingError.fit(pairs[:3]).interval("fp16", t)


def test_only_a_host_alike_the_roots_times_its_candidates():
    from harness.device_profiles import load_profile
    from harness.meta.timed_latency import timing_refusal

    here = {"device": load_profile("cpu").describe()}
    assert timing_refusal("cpu", json.dumps(here)) is None
    other = {"device": here["device"] | {"cpu_model": "ARMv8 Processor rev 1 (v8l)", "isa": ["asimddp"]}}
    assert "another host (ARMv8 Processor" in timing_refusal("cpu", other)
    assert "another host" in timing_refusal("cpu", None)
    assert "timed only on cpu" in timing_refusal("jetson", json.dumps(here))


@pytest.fixture(scope="module")
def swept(meta_db):
    from harness.meta.dataset import latest_points, measured

    pts = latest_points(measured(Store(meta_db), device="cpu", model="zoo-mlp"))
    root = next(p for p in pts if p["variant_id"] == p["root_id"])
    return root, {p["name"]: p for p in pts if p["name"] != "fp32"}


@pytest.fixture()
def zoo_cache(meta_db, monkeypatch):
    monkeypatch.setenv("HARNESS_ZOO_CACHE", str(meta_db.parent / "artifacts" / "zoo-weights"))


@pytest.mark.parametrize("recipe", ["int8-static:calibration_method=entropy", "prune-structured:0.5",
                                    "prune-structured:0.25>int8-static:calibration_method=percentile"])
def test_the_size_only_export_is_the_real_variants_graph(swept, zoo_cache, tmp_path, recipe):
    """The claim the timing rests on: the size-only export has the real export's nodes, attributes, initializer
    shapes and types (fine-tuning and the calibration method change values only)."""
    from harness.examples import load_example
    from harness.exporters.base import Artifact, ExportContext
    from harness.exporters.recipes import build_variants
    from harness.core.variant import variant_from_file
    from harness.meta.sizing import size_only_recipe

    root_point, _ = swept
    example = load_example("zoo-mlp")
    root = variant_from_file(root_point["root_path"], name="fp32", model="zoo-mlp", operation="fp32")
    root = root.with_(root_id=root.variant_id)
    graphs = []
    for i, r in enumerate((recipe, size_only_recipe(recipe))):
        out = tmp_path / str(i)
        out.mkdir()
        ctx = ExportContext(example=example, out_dir=out, target_device="cpu")
        last = build_variants(example, [r], ctx, root=Artifact(root, example.build_model()))[-1]
        assert last.ok, last.error
        graphs.append(_graph(last.path))
    assert graphs[0] == graphs[1]


def test_size_only_exports_are_timed_against_the_root_in_real_sessions(swept, zoo_cache, tmp_path):
    from harness.examples import load_example
    from harness.meta.sizing import compute_sizes
    from harness.meta.timed_latency import TrialTiming

    root, _ = swept
    example = load_example("zoo-mlp")
    timing = TrialTiming(rounds=3, min_iterations=5, min_duration_s=0.0, warmup_s=0.0)
    recipes = ["int8-static", "prune-unstructured:0.7", "fp16"]
    sizes = compute_sizes(example, root["root_path"], recipes, out_dir=tmp_path, module=example.build_model,
                          timing=timing, batch_size=int(root["batch_size"]), threads=1)
    assert set(sizes.latency) == set(recipes) and not sizes.latency_reasons
    for t in sizes.latency.values():
        assert t.ratio > 0 and t.low <= t.ratio <= t.high and t.calls >= 15
    assert list(tmp_path.iterdir()) == []


def test_timings_are_stored_with_the_host_and_reused(meta_db, swept, zoo_cache, tmp_path_factory, monkeypatch):
    from harness.meta import sizing
    from harness.meta.timed_latency import TrialTiming
    from harness.store.meta import stored_latencies

    db = copy_meta_db(meta_db, tmp_path_factory, "timed")
    store = Store(db)
    store.migrate()
    root, _ = swept
    timing = TrialTiming(rounds=2, min_iterations=3, min_duration_s=0.0, warmup_s=0.0)
    # sizes computed before, without timing: asking for latency exports them again to time them
    sizing.sizes_for(store, "zoo-mlp", root, ["int8-static"], "cpu")
    first = sizing.sizes_for(store, "zoo-mlp", root, ["int8-static", "fp16"], "cpu", timing=timing)
    assert set(first.latency) == {"int8-static", "fp16"} and set(first.bytes) == {"int8-static", "fp16"}
    from harness.meta.timed_latency import this_host_key

    stored, _ = stored_latencies(store, root["root_id"], "cpu", this_host_key("cpu"))
    assert stored["fp16"][0] == first.latency["fp16"].ratio
    assert stored_latencies(store, root["root_id"], "cpu", "another-host")[0] == {}
    calls = []
    monkeypatch.setattr(sizing, "compute_sizes", lambda *a, **k: calls.append(a))
    again = sizing.sizes_for(store, "zoo-mlp", root, ["int8-static", "fp16"], "cpu", timing=timing)
    assert calls == [] and again.latency == first.latency
    # a root measured on another kind of host: nothing timed, and why
    env = json.loads(root["environment"])
    env["device"]["cpu_model"] = "Some Other CPU"
    elsewhere = sizing.sizes_for(store, "zoo-mlp", root | {"environment": json.dumps(env)}, ["fp16"], "cpu",
                                 timing=timing)
    assert elsewhere.latency == {} and "another host (Some Other CPU)" in elsewhere.latency_reasons["fp16"]


def test_a_timed_latency_is_a_measurement_to_the_ranking():
    """The policy takes a timed ratio as it is (no blend with the prior of other architectures), draws from its
    own interval, and a candidate timed over a latency limit never ranks."""
    from harness.meta import policy as P
    from harness.meta.predictor import Prediction

    pred = {"drop_pts": Prediction("drop_pts", 1.0, 0.0, 3.0), "latency_ratio": Prediction("latency_ratio", 0.5, 0.3, 0.9),
            "size_ratio": Prediction("size_ratio", 0.3, 0.25, 0.4)}
    est = P.estimate_of(pred, 0.3, (1.2, 1.1, 1.3))
    prior = P.RecipePrior(drop={"int8-static": 1.0}, log_lat={"int8-static": math.log(0.4)},
                          log_size={"int8-static": math.log(0.3)})
    v = P.blend(est | {"recipe": "int8-static"}, prior, P.Policy(w_ratio=0.0))
    assert (v["point_lat"], v["high_lat"], v["low_lat"]) == (1.2, 1.3, 1.1)
    view = {"recipe": "int8-static", "predicted": True, **v}
    # timed over the limit: known, as a measured break is (whatever the interval's low end says)
    assert P.known_break(view, (1.0, None)) and P.known_break(view, (1.15, None))
    assert not P.known_break(view, (1.2, None))
    assert not P.known_break(view, (None, 0.5))


def test_recommend_times_predicted_candidates_unless_told_to_predict(meta_db, tmp_path_factory):
    db = copy_meta_db(meta_db, tmp_path_factory, "rectimed")
    shutil.copytree(meta_db.parent / "artifacts" / "zoo-weights", db.parent / "zoo-weights")
    env = {"HARNESS_ZOO_CACHE": str(db.parent / "zoo-weights")}
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "timing them against its FP32 root on this host" in proc.stderr
    cands = json.loads(proc.stdout)
    predicted = [c for c in cands if c["source"] == "predicted"]
    assert predicted and {c["latency_source"] for c in predicted} == {"timed"}
    assert {c["latency_source"] for c in cands if c["source"] == "measured"} == {"measured"}
    for c in predicted:
        low, high = c["interval"]["latency_ms"]
        assert low < c["latency_ms"] < high
    table = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", env=env)
    assert "latency timed from that export" in table.stdout and "timing them" not in table.stderr
    # predict times nothing, but shows the stored timing recommend ranks with next to its own prediction
    pick = predicted[0]
    shown = json.loads(run_cli("predict", "--db", str(db), "--model", "zoo-mlp", "--recipe", pick["recipe"],
                               "--json", env=env).stdout)
    assert pick["latency_ms"] == pytest.approx(shown["fp32"]["latency_ms"] * shown["timed_latency_ratio"]["value"])
    assert shown["ranking"]["ranked_by"]["latency_ratio"] == pytest.approx(shown["timed_latency_ratio"]["value"])
    plain = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--json", "--predict-latency", env=env)
    assert {c["latency_source"] for c in json.loads(plain.stdout) if c["source"] == "predicted"} == {"predicted"}
    bad = run_cli("recommend", "--db", str(db), "--predict-latency", "--no-predict")
    assert bad.returncode != 0 and "--predict-latency" in bad.stderr and "Traceback" not in bad.stderr


def test_the_stores_timed_and_measured_variants_give_the_timing_error(meta_db, swept, zoo_cache, tmp_path_factory,
                                                                      monkeypatch):
    """A variant timed (by recommend) and measured later (by --verify or a sweep) is a pair of the store's
    TimingError; with enough pairs a timed candidate's interval is widened to it."""
    from harness.meta import sizing, timed_latency
    from harness.meta.dataset import latest_points, measured
    from harness.meta.timed_latency import TrialTiming, timing_error

    monkeypatch.setattr(timed_latency, "MIN_PAIRS", 3)     # the fixture's sweep measured five recipes

    db = copy_meta_db(meta_db, tmp_path_factory, "timingerror")
    store = Store(db)
    store.migrate()
    root, real = swept
    points = latest_points(measured(store, device="cpu"))
    assert not timing_error(store, "cpu", points).pairs_seen
    recipes = sorted(r for r in real if not r.startswith("prune-structured"))
    assert len(recipes) >= 3
    sizing.sizes_for(store, "zoo-mlp", root, recipes, "cpu",
                     timing=TrialTiming(rounds=2, min_iterations=3, min_duration_s=0.0, warmup_s=0.0))
    err = timing_error(store, "cpu", points)
    assert err.pairs_seen and err.overall[0] <= err.overall[1]
    assert not timing_error(store, "jetson", points).pairs_seen
