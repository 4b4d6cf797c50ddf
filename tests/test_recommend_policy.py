"""`harness recommend` orders one model's candidates with harness.meta.policy (the ranking benchmarks/recommend.py
scores): absolute limits become ratios of the FP32 root, predicted candidates are checked and placed the policy's
way, the other constraints keep their own check."""
from __future__ import annotations

import json
import re

import pytest

from harness.meta import policy as P
from harness.meta.recommend import Candidate, Constraints, ModelRanking, next_bets, rank
from harness.store import Store
from helpers import run_cli


def cand(recipe, source, drop, lat_ms, size_mb, est=None, memory_mb=10.0):
    c = Candidate(model="m", recipe=recipe, device="cpu", source=source, accuracy=0.9 - drop / 100, drop_pts=drop,
                  latency_ms=lat_ms, size_mb=size_mb, memory_mb=memory_mb, energy_mj=None)
    if est is not None:
        c.estimates = est
        c.interval = {"latency_ms": [lat_ms * 0.8, est["lat_high"] * 2.0], "size_mb": [size_mb, est["size_high"]]}
    return c


def est(drop, lat, size, lat_high=None, spread=0.0):
    return {"drop": drop, "drop_low": drop - spread, "drop_high": drop + spread, "lat": lat, "size": size,
            "lat_high": lat_high or lat, "size_high": size}


def cands():
    # FP32 root: 2 ms, 1 MB
    return [cand("fp32", "measured", 0.0, 2.0, 1.0),
            cand("q", "predicted", 1.0, 1.0, 0.3, est(1.0, 0.5, 0.3)),
            cand("p", "predicted", 0.5, 1.9, 1.0, est(0.5, 0.95, 1.0, lat_high=1.2)),
            cand("qp", "predicted", 4.0, 0.6, 0.2, est(4.0, 0.3, 0.2), memory_mb=50.0)]


def test_known_model_ranks_by_the_learnt_estimates_with_ratio_limits():
    mr = ModelRanking(P.Ranking.known(P.Policy()), 2.0, 1.0, unseen=False, label="known")
    ranked = rank(cands(), Constraints(max_latency_ms=1.5), policies={"m": mr})
    feasible = [c.recipe for c in ranked if c.feasible]
    # 1.5 ms = 0.75 x FP32: fp32 is too slow; p's interval (up to 1.2 x) crosses it, so the policy's "auto"
    # check leaves it out; q beats qp on accuracy
    assert feasible == ["q", "qp"]
    assert [c.rank for c in ranked if c.feasible] == [1, 2]
    # p is the policy's bet beyond its check: listed right after what fits, at place 3, infeasible, and saying so
    p = ranked[2]
    assert (p.recipe, p.feasible, p.rank, p.place) == ("p", False, None, 3)
    assert [c.place for c in ranked[:2]] == [1, 2] and ranked[3].place is None      # the measured root: no place
    assert any(n.startswith("a bet beyond the ranking policy's check") for n in p.notes) and p.p_fit is not None
    assert next_bets(ranked) == [p] and next_bets(ranked, places=2) == []     # what the CLI and dashboard list
    assert all("ranked by: known" in c.notes for c in ranked if c.source == "predicted")
    # a constraint the policy does not know keeps its own check
    ranked = rank(cands(), Constraints(max_latency_ms=1.5, max_memory_mb=20), policies={"m": mr})
    assert [c.recipe for c in ranked if c.feasible] == ["q"]
    # qp breaks the memory limit, which the policy does not weigh: it is no bet on the latency/size check
    assert [c.recipe for c in ranked if c.place] == ["q", "p"]
    # notes are not repeated when the same candidates are ranked again (the dashboard does)
    again = rank(ranked, Constraints(max_latency_ms=1.5), policies={"m": mr})
    assert all(sum(n.startswith("ranked by") for n in c.notes) == 1 for c in again if c.source == "predicted")
    assert all(sum(n.startswith("a bet beyond") for n in c.notes) <= 1 for c in again)


def test_unseen_model_follows_the_static_order_of_alike_architectures():
    others = [{"model": a, "recipe": r, "drop": d, "lat": lat, "size": s} for a, r, d, lat, s in (
        ("o1", "fp32", 0, 1, 1), ("o1", "q", 6.0, 0.5, 0.3), ("o1", "qp", 0.0, 0.3, 0.2), ("o1", "p", 9.0, 0.9, 1),
        ("o2", "fp32", 0, 1, 1), ("o2", "q", 5.0, 0.5, 0.3), ("o2", "qp", 0.3, 0.3, 0.2), ("o2", "p", 9.0, 0.9, 1))]
    policy = P.Policy(0.0, 0.0, "point", "static", None, 0, "order")
    ranking = P.Ranking.unseen(policy, [0.0], others, {"o1": [0.0], "o2": [1.0]})
    mr = ModelRanking(ranking, 2.0, 1.0, unseen=True, label="unseen")
    ranked = rank(cands(), Constraints(max_latency_ms=1.5), policies={"m": mr})
    # on the other architectures qp was the best under 0.75 x FP32 latency: it leads, although the learnt
    # estimate alone would put q first
    assert [c.recipe for c in ranked if c.feasible][0] == "qp"
    without = rank(cands(), Constraints(max_latency_ms=1.5))
    assert [c.recipe for c in without if c.feasible][0] == "q"


def test_a_policy_that_checks_nothing_never_clears_a_measured_break():
    """The static-best order with no check (bound "none") lets predicted candidates through whatever their
    estimates say; a measured candidate that breaks a limit is known to, and stays out."""
    others = [{"model": a, "recipe": r, "drop": d, "lat": lat, "size": s} for a, r, d, lat, s in (
        ("o1", "fp32", 0, 1, 1), ("o1", "q", 6.0, 0.5, 0.3), ("o2", "fp32", 0, 1, 1), ("o2", "q", 5.0, 0.5, 0.3))]
    policy = P.Policy(1.0, 1.0, "none", "static", None, 0, "order")
    mr = ModelRanking(P.Ranking.unseen(policy, [0.0], others, {"o1": [0.0], "o2": [1.0]}), 2.0, 1.0,
                      unseen=True, label="unseen")
    ranked = rank(cands(), Constraints(max_latency_ms=1.5), policies={"m": mr})
    fp32 = next(c for c in ranked if c.recipe == "fp32")
    assert not fp32.feasible and fp32.rank is None and fp32.violations     # measured at 2 ms > 1.5 ms
    assert {c.recipe for c in ranked if c.feasible} == {"q", "p", "qp"}    # predicted: the policy's way


def test_a_computed_size_over_the_limit_is_a_known_break_not_a_bet():
    """A predicted candidate whose size was computed by a size-only export (exact) and is over the size limit cannot
    be the answer: no policy ranks it, not even as a bet beyond the check; with its size predicted instead, the
    same candidate is a bet."""
    others = [{"model": a, "recipe": r, "drop": d, "lat": lat, "size": s} for a, r, d, lat, s in (
        ("o1", "fp32", 0, 1, 1), ("o1", "q", 6.0, 0.5, 0.3), ("o2", "fp32", 0, 1, 1), ("o2", "q", 5.0, 0.5, 0.3))]

    def ranked(size_exact: bool, policy):
        mr = ModelRanking(P.Ranking.unseen(policy, [0.0], others, {"o1": [0.0], "o2": [1.0]}), 2.0, 1.0,
                          unseen=True, label="unseen")
        cs = cands()
        for c in cs:
            if c.source == "predicted":
                c.estimates = P.estimate_of(_preds(c.estimates), c.size_mb if size_exact else None)
        return rank(cs, Constraints(max_size_mb=0.5), policies={"m": mr})

    for policy in (P.Policy(1.0, 1.0, "none", "static", None, 0, "order"), P.DEFAULT_POLICY,
                   P.Policy(1.0, 1.0, "none", "risk", None, 0, "sample", 1.0)):
        exact = {c.recipe: c for c in ranked(True, policy)}
        assert exact["p"].place is None and not exact["p"].feasible          # 1.0 MB, computed: over 0.5 MB
        assert exact["q"].feasible and exact["qp"].feasible
        guessed = {c.recipe: c for c in ranked(False, policy)}
        assert guessed["p"].place is not None                                # predicted: still a candidate


def _preds(e):
    """A predictor's output (harness.meta.predictor.Prediction per target) with the estimates `e`."""
    from harness.meta.predictor import Prediction

    return {"drop_pts": Prediction("drop_pts", e["drop"], e["drop_low"], e["drop_high"]),
            "latency_ratio": Prediction("latency_ratio", e["lat"], e["lat"], e["lat_high"]),
            "size_ratio": Prediction("size_ratio", e["size"], e["size"], e["size_high"])}


def test_nothing_expected_to_fit_gives_the_best_bet_labelled_as_such():
    """Every predicted candidate is estimated over 0.28 x FP32 latency: the policy's "auto" check answers with the
    best bet (the most likely to be right), marked as likely to break the limit, instead of nothing."""
    mr = ModelRanking(P.Ranking.known(P.Policy()), 2.0, 1.0, unseen=False, label="known")
    cs = [cand("fp32", "measured", 0.0, 2.0, 1.0),
          cand("near", "predicted", 2.0, 0.6, 0.3, est(2.0, 0.3, 0.3, lat_high=0.45)),
          cand("far", "predicted", 0.0, 1.2, 0.5, est(0.0, 0.6, 0.5, lat_high=0.66))]
    ranked = rank(cs, Constraints(max_latency_ms=0.56), policies={"m": mr})
    fits = [c for c in ranked if c.feasible]
    assert [c.recipe for c in fits] == ["near"]            # "far" fits in no drawn outcome, the root is measured
    assert 0.0 < fits[0].p_fit < 0.5
    assert any("ranked as the best bet" in n for n in fits[0].notes)
    assert any(n.startswith("fits by the ranking policy's check only") for n in fits[0].notes)


@pytest.fixture(scope="module")
def db(meta_db, tmp_path_factory):
    return copy_meta_db(meta_db, tmp_path_factory, "recpol")


def test_cli_says_how_a_model_was_ranked(db):
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--max-drop-pts", "50", "--json")
    assert proc.returncode == 0, proc.stderr
    pred = [c for c in json.loads(proc.stdout) if c["source"] == "predicted"]
    assert pred and all(c["interval"] for c in pred)
    # zoo-mlp has measured points besides its root: a known architecture
    assert all(any(n.startswith("ranked by: known architecture") for n in c["notes"]) for c in pred)
    assert all("estimates" not in c for c in pred)
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--max-drop-pts", "50", "--json",
                "--no-policy")
    assert proc.returncode == 0, proc.stderr
    assert not any(n.startswith("ranked by") for c in json.loads(proc.stdout) for n in c["notes"])


from meta_fixtures import *  # noqa: E402,F401,F403


def test_a_store_moved_with_its_run_directories_finds_its_fp32_files(tmp_path):
    from harness.meta.dataset import relocate

    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "m-fp32.onnx").write_bytes(b"x")
    here = tmp_path / "kept.onnx"
    here.write_bytes(b"y")
    points = [{"run_id": "run1", "root_path": "/elsewhere/gone/run1/m-fp32.onnx"},
              {"run_id": "run2", "root_path": "/elsewhere/gone/run2/m-fp32.onnx"},
              {"run_id": "run1", "root_path": str(here)}]
    out = relocate(points, tmp_path / "meta.duckdb")
    assert out[0]["root_path"] == str(tmp_path / "run1" / "m-fp32.onnx")
    assert out[1]["root_path"] == "/elsewhere/gone/run2/m-fp32.onnx"     # nowhere to be found: left as recorded
    assert out[2]["root_path"] == str(here)
    assert points[0]["root_path"].startswith("/elsewhere")               # the input is not modified


def test_verify_measures_the_predicted_top_pick_and_keeps_what_was_stored(db):
    """--verify 1 under a size limit only predicted chains can meet: the top pick is measured by a real sweep of
    that recipe (stored like any sweep point), then listed as measured with a note; the points stored before
    stay; bad --verify values are refused."""
    from harness.store.meta import sweep_done

    before = sweep_done(Store(db), "zoo-mlp", "cpu")
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--json")
    root = next(c for c in json.loads(proc.stdout) if c["recipe"] == "fp32")
    limit = f"{0.2 * root['size_mb']:.6f}"
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--max-size-mb", limit, "--json")
    top = next(c for c in json.loads(proc.stdout) if c["feasible"])
    assert top["source"] == "predicted" and top["recipe"] not in before

    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--max-size-mb", limit, "--verify", "1",
                   "--json")
    assert proc.returncode in (0, 1), proc.stderr
    assert f"measuring zoo-mlp {top['recipe']}" in proc.stderr
    after = sweep_done(Store(db), "zoo-mlp", "cpu")
    assert set(before) | {top["recipe"]} <= set(after)
    verified = next(c for c in json.loads(proc.stdout) if c["recipe"] == top["recipe"])
    assert verified["source"] == "measured"
    assert any(n.startswith("measured by --verify (predicted ") for n in verified["notes"])

    for bad, why in ((["--verify", "-1"], "--verify must be 0 or more"),
                     (["--verify", "1", "--no-predict"], "cannot go with --no-predict")):
        proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", *bad)
        assert proc.returncode != 0 and why in proc.stderr
    assert set(sweep_done(Store(db), "zoo-mlp", "cpu")) == set(after)


def test_a_plain_onnx_file_benched_alone_is_recommended_not_misread_as_a_recipe(models_dir, tmp_path):
    """`harness bench model.onnx` names the run's root after the file; the meta-dataset and recommend read it as
    the root (recipe fp32), not as a recipe to parse (which failed with "unknown exporter 'mlp'"). A --verify
    with nothing fitting says so instead of passing in silence."""
    from helpers import FAST

    from harness.meta.dataset import load_rows

    db = tmp_path / "plain.duckdb"
    run_cli("bench", str(models_dir / "mlp.onnx"), "--db", str(db), *FAST, cwd=tmp_path, check=True)
    rows = load_rows(Store(db), device="cpu")
    assert [(r.model, r.recipe) for r in rows] == [("mlp", "fp32")]
    proc = run_cli("recommend", "--db", str(db), "--max-latency-ms", "0.000001", "--verify", "1")
    assert proc.returncode == 1, proc.stderr
    assert "binding constraint: --max-latency-ms" in proc.stderr
    # the fastest candidate: the measured root, or a candidate timed from its size-only export on this host
    assert re.search(r"best is \S+ ms \(mlp \S+, (measured|timed)\)", proc.stderr), proc.stderr
    assert "verify: no candidate fits, so there is no top pick to measure" in proc.stderr
