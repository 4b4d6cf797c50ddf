"""`harness recommend` on real sweep points: ranking, impossible constraints, empty stores."""
from __future__ import annotations

import json

import pytest

from helpers import run_cli
from meta_fixtures import *  # noqa: F403
from harness.store import Store


@pytest.fixture(scope="module")
def db(meta_db, tmp_path_factory):
    return copy_meta_db(meta_db, tmp_path_factory, "rec")


def test_json_lists_measured_and_predicted_candidates(db):
    proc = run_cli("recommend", "--db", str(db), "--max-drop-pts", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    cands = json.loads(proc.stdout)
    sources = {c["source"] for c in cands}
    assert sources == {"measured", "predicted"}
    feasible = [c for c in cands if c["feasible"]]
    assert [c["rank"] for c in feasible] == list(range(1, len(feasible) + 1))
    assert all(c["drop_pts"] is not None for c in feasible)
    assert any(c["pareto"] for c in feasible)
    assert all(c["interval"]["latency_ms"][0] <= c["latency_ms"] <= c["interval"]["latency_ms"][1]
               for c in cands if c["source"] == "predicted")
    # prune-unstructured:0.9 loses far more than 5 points on this MLP (measured): never feasible
    assert not next(c for c in cands if c["recipe"] == "prune-unstructured:0.9")["feasible"]


def test_table_and_pareto_front(db):
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--min-accuracy", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "Pareto front" in proc.stdout and "recommended: zoo-mlp" in proc.stdout
    assert "measured" in proc.stdout and "predicted" in proc.stdout


def test_impossible_constraints_name_the_binding_one(db):
    proc = run_cli("recommend", "--db", str(db), "--max-latency-ms", "0.000001", "--max-drop-pts", "50")
    assert proc.returncode == 1
    assert "no candidate fits" in proc.stderr and "binding constraint: --max-latency-ms" in proc.stderr
    assert proc.stderr.count("\n") == 1        # one line
    # energy is not measured on this host: a limit on it can never be met, and the message says why
    proc = run_cli("recommend", "--db", str(db), "--max-energy-mj", "1")
    assert proc.returncode == 1 and "no energy" in proc.stderr


def test_empty_store_and_missing_store(tmp_path):
    proc = run_cli("recommend", "--db", str(tmp_path / "none.duckdb"), "--max-latency-ms", "1")
    assert proc.returncode == 1 and "no result database" in proc.stderr and "harness sweep" in proc.stderr
    assert not (tmp_path / "none.duckdb").exists()
    empty = tmp_path / "empty.duckdb"
    Store(empty).migrate()
    proc = run_cli("recommend", "--db", str(empty), "--max-latency-ms", "1")
    assert proc.returncode == 1 and "nothing measured on cpu" in proc.stderr


def test_bad_constraints_are_usage_errors(db):
    proc = run_cli("recommend", "--db", str(db), "--min-accuracy", "90")
    assert proc.returncode == 2 and "fraction" in proc.stderr
    proc = run_cli("recommend", "--db", str(db), "--model", "nope")
    assert proc.returncode == 2 and "measured there: zoo-mlp" in proc.stderr


def test_known_model_under_a_latency_limit_says_how_sure_each_fit_is(db):
    """zoo-mlp has measured points besides its root: a known architecture, ranked by the learnt estimates with
    the rest by expected regret. Under a latency limit each predicted candidate carries its chance of fitting."""
    root = Store(db).query("SELECT m.p50_ms FROM measurements m JOIN variants v USING (run_id, variant_id) "
                           "WHERE v.name = 'fp32' ORDER BY m.p50_ms LIMIT 1")[0]["p50_ms"]
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--max-latency-ms", str(root * 1.2), "--json")
    assert proc.returncode == 0, proc.stderr
    cands = json.loads(proc.stdout)
    predicted = [c for c in cands if c["source"] == "predicted" and c["feasible"]]
    assert predicted
    for c in predicted:
        assert 0 < c["p_fit"] <= 1 and c["expected_regret_pts"] >= 0
        assert any(n.startswith("fits the latency/size limits in") for n in c["notes"])
    # measured candidates are certain: they fit (1) or were left out of the ranking
    assert all(c["p_fit"] == 1 for c in cands if c["source"] == "measured" and c["feasible"])


def test_the_command_to_measure_a_pick_goes_to_the_same_store_and_device(meta_db, tmp_path_factory):
    """An example's predicted pick is measured with `harness sweep`, a user's ONNX file's with `harness bench` on
    that file (sweep knows no example by its name); both into the store and device the user named."""
    from harness.commands.recommend import measure_command

    db = copy_meta_db(meta_db, tmp_path_factory, "measure")       # its model gets renamed below
    store = Store(db)
    cmd = measure_command(store, "zoo-mlp", "int8-static:per_channel=false", "cpu")
    assert cmd == f"harness sweep --model zoo-mlp --recipe int8-static:per_channel=false --db {db}"
    assert measure_command(store, "zoo-mlp", "fp16", "jetson").endswith(" --device jetson")
    root = store.query("SELECT path FROM variants WHERE model = 'zoo-mlp' AND variant_id = root_id")[0]["path"]
    with store.write() as con:      # the same file, as a user's ONNX model that no example is named after
        con.execute("UPDATE variants SET model = 'mine' WHERE model = 'zoo-mlp'")
    assert measure_command(store, "mine", "prune-structured:0.5>int8-static", "cpu") == (
        f"harness bench {root} --recipe 'prune-structured:0.5>int8-static' --db {db}")


def test_a_users_onnx_file_gets_no_recipe_that_needs_its_torch_module(meta_db, tmp_path_factory):
    """A model whose root is a user's ONNX file (operation "user") has no PyTorch module: structured pruning
    cannot be made from it, so recommend predicts no such recipe (it would send the user to a skipped export);
    the recipes that work on the ONNX graph are still predicted."""
    db = copy_meta_db(meta_db, tmp_path_factory, "userfile")
    with Store(db).write() as con:
        con.execute("UPDATE variants SET operation = 'user' WHERE model = 'zoo-mlp' AND variant_id = root_id")
    proc = run_cli("recommend", "--db", str(db), "--model", "zoo-mlp", "--json")
    assert proc.returncode == 0, proc.stderr
    predicted = {c["recipe"] for c in json.loads(proc.stdout) if c["source"] == "predicted"}
    assert predicted and "int8-static" in predicted
    assert not any("prune-structured" in r for r in predicted)
    before = run_cli("recommend", "--db", str(copy_meta_db(meta_db, tmp_path_factory, "examplefile")),
                     "--model", "zoo-mlp", "--json")
    assert any("prune-structured:0.25" == c["recipe"] for c in json.loads(before.stdout))   # an example: it can


def test_a_model_with_no_accuracy_to_weigh_still_gets_the_candidates_that_fit(tmp_path):
    """A user's ONNX file benched without labels, alone in its store: the predictor has nothing to learn an
    accuracy or drift from, yet each recipe's size is computed and its latency timed from its size-only export.
    Those that meet the limits are listed as fitting, with accuracy unknown (never a made-up quality), after the
    measured root; an accuracy limit keeps them out and says the accuracy is unknown."""
    from helpers import make_mlp_onnx

    onnx_file = make_mlp_onnx(tmp_path / "nolabels.onnx", hidden=256)
    db = tmp_path / "nolabels.duckdb"
    assert run_cli("bench", str(onnx_file), "--db", str(db), "--min-iterations", "20").returncode == 0
    proc = run_cli("recommend", "--db", str(db), "--model", "nolabels", "--max-latency-ms", "1000", "--json")
    assert proc.returncode == 0, proc.stderr
    cands = json.loads(proc.stdout)
    fits = [c for c in cands if c["feasible"]]
    predicted = [c for c in fits if c["source"] == "predicted"]
    assert fits[0]["recipe"] == "fp32" and fits[0]["source"] == "measured"
    assert predicted and all(c["quality"] is None and c["drop_pts"] is None for c in predicted)
    assert all(c["latency_source"] == "timed" and c["size_source"] == "computed" for c in predicted)
    assert all(any(n.startswith("accuracy unknown, not weighed") for n in c["notes"]) for c in predicted)
    assert all(any(n.startswith("accuracy/drift not predicted") for n in c["notes"]) for c in predicted)
    assert [c["rank"] for c in fits] == list(range(1, len(fits) + 1))
    table = run_cli("recommend", "--db", str(db), "--model", "nolabels", "--max-latency-ms", "1000")
    assert table.returncode == 0 and "with accuracy unknown" in table.stdout
    # fp32 itself has no accuracy either: nothing fits an accuracy limit, and the answer says why
    strict = run_cli("recommend", "--db", str(db), "--model", "nolabels", "--min-accuracy", "0.5")
    assert strict.returncode == 1
    assert "--min-accuracy 0.5: no candidate has a known accuracy" in strict.stderr
