"""Pooled baselines (`TAG@lastN`, `harness baseline set` with several runs) end to end on real bench runs, and
the inconclusive verdict in every output format.

Timings are never asserted: the candidate that must be flagged is a 12-layer MLP against 2-layer baselines of the
same name, far beyond any noise of this shared VM.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from regress_helpers import bench, build_mlp, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pooled_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pooled")
    db = tmp / "runs.duckdb"
    light = str(build_mlp(tmp / "light" / "mlp.onnx", width=128, layers=2))
    heavy = str(build_mlp(tmp / "heavy" / "mlp.onnx", width=128, layers=12))
    runs = [bench(db, light, tag="n", rounds=3, min_duration=0.15) for _ in range(3)]
    runs.append(bench(db, heavy, tag="n", rounds=3, min_duration=0.15))
    return db, runs


def regress_json(capsys, db, *args):
    capsys.readouterr()
    code = run_cli("regress", "--db", str(db), "--json", *args)
    return code, json.loads(capsys.readouterr().out)


def p50(report):
    return next(c for c in report["checks"] if c["metric"] == "p50_ms" and c["variant"] == "mlp")


def test_last_n_pools_the_runs_before_the_candidate(pooled_runs, capsys):
    db, runs = pooled_runs
    code, report = regress_json(capsys, db, "--baseline", "n@last5", "--candidate", "n@latest")
    # only the three runs older than the candidate, newest first; never the candidate itself
    assert report["baseline"]["runs"] == runs[2::-1] and report["baseline"]["run_id"] == runs[2]
    check = p50(report)
    assert code == 1 and check["status"] == "regressed"
    assert check["detail"]["baseline_runs"] == 3 and check["detail"]["spread_source"] == "runs"
    assert check["detail"]["between_run_spread"] is not None and "3 baseline runs" in check["message"]
    # 3 rounds from each run, pooled (less the rounds the host-load sensor marked busy, on a loaded host)
    left_out = check["detail"]["busy_rounds_baseline"] if check["detail"]["quiet_only"] else 0
    assert check["detail"]["rounds_baseline"] + left_out == 9

    # an older candidate: only runs before it count
    code, report = regress_json(capsys, db, "--baseline", "n@last5", "--candidate", runs[2])
    assert report["baseline"]["runs"] == runs[1::-1] and p50(report)["detail"]["baseline_runs"] == 2


def test_baseline_set_from_several_runs(pooled_runs, capsys):
    db, runs = pooled_runs
    capsys.readouterr()
    assert run_cli("baseline", "set", runs[0], runs[1], "--name", "pool", "--db", str(db)) == 0
    assert "2 runs pooled" in capsys.readouterr().out
    assert run_cli("baseline", "set", "n@last2", "--name", "pool2", "--db", str(db)) == 0
    capsys.readouterr()
    assert run_cli("baseline", "list", "--json", "--db", str(db)) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["pool"]["runs"] == [runs[1], runs[0]] and listed["pool"]["run_id"] == runs[1]
    assert listed["pool2"]["run_count"] == 2 and listed["pool2"]["runs"] == [runs[3], runs[2]]

    code, report = regress_json(capsys, db, "--baseline", "pool", "--candidate", "n@latest")
    assert report["baseline"]["runs"] == [runs[1], runs[0]] and p50(report)["status"] == "regressed"
    # a single-run use of the name still resolves to its newest run
    capsys.readouterr()
    assert run_cli("show", "pool", "--db", str(db)) == 0
    assert runs[1] in capsys.readouterr().out
    # a pooled baseline that holds the candidate compares against the others
    code, report = regress_json(capsys, db, "--baseline", "pool2", "--candidate", runs[3])
    assert report["baseline"]["run_id"] == runs[2] and "runs" not in report["baseline"]
    assert any("only one run besides the candidate" in n for n in report["notes"])
    assert run_cli("baseline", "remove", "pool", "--db", str(db)) == 0


@pytest.mark.parametrize("argv, fragment", [
    (["show", "n@last3"], "names several runs"),
    (["regress", "--baseline", "n@last0", "--candidate", "n@latest"], "needs N >= 1"),
    (["regress", "--baseline", "zz@last3", "--candidate", "n@latest"], "no complete run tagged 'zz'"),
    (["regress", "--baseline", "n@latest", "--candidate", "n@last2"], "names several runs"),
])
def test_bad_pooled_references(pooled_runs, capsys, argv, fragment):
    db, _ = pooled_runs
    capsys.readouterr()
    assert run_cli(*argv, "--db", str(db)) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_inconclusive_in_every_format():
    """An inconclusive latency check is its own state: named in the table, Markdown, JUnit (as skipped, with the
    reason) and JSON; it does not fail the comparison."""
    from harness.regress.check import Check, RegressReport
    from harness.regress.gates import INCONCLUSIVE, PASS
    from harness.regress.report import render_junit, render_markdown, render_text

    base = {"run_id": "r1", "tag": "t", "device": "cpu", "created_at": "2026-11-25 10:00:00", "runs": ["r1", "r0"]}
    cand = {"run_id": "r2", "tag": "t", "device": "cpu", "created_at": "2026-11-25 11:00:00"}
    checks = [Check("m/fp32 [batch 1]", "m", "fp32", {"batch_size": 1}, "p50_ms", INCONCLUSIVE, 1.0, 1.2,
                    "1 -> 1.2 ms (+20.0%); inconclusive: within the spread between rounds (35.0%); host busy",
                    {"host_busy": True}),
              Check("m/fp32", "m", "fp32", {}, "size_bytes", PASS, 10.0, 10.0, "10 -> 10 (+0.0%)")]
    report = RegressReport(base, cand, "defaults", False, [], checks, ["1 latency change(s) inconclusive"])
    assert report.passed and report.exit_code == 0
    assert report.summary() == "PASS: 1 inconclusive, 1 pass"
    text = render_text(report)
    assert "inconclusive" in text and "pooled runs: r1, r0" in text
    md = render_markdown(report)
    assert "| _inconclusive_ |" in md and "pooled with 1 earlier run(s)" in md
    suite = ET.fromstring(render_junit(report).split("\n", 1)[1]).find("testsuite")
    case = next(c for c in suite.iter("testcase") if c.get("name") == "p50_ms")
    assert case.find("skipped").get("message").startswith("inconclusive: ")
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["inconclusive"] == "1" and props["baseline_runs"] == "r1,r0"
    assert report.as_dict()["checks"][0]["status"] == "inconclusive" and report.as_dict()["inconclusive"] == 1
