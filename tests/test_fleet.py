"""The board fleet on a real multi-node Ray cluster started on this machine.

One cluster is shared by the module (starting one costs seconds): two Jetson boards whose device profile reads a
fake sysfs tree (the OS boundary, as in the Jetson tests), a board that claims an older harness, and a CPU board
that a test kills mid-run. Every node is small (1 CPU, 100 MB object store). Measurements, sessions, object
transfer and node death are real.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psutil
import pytest

pytest.importorskip("ray")

from conftest_boards import BOARDS, build_board_tree, fake_jetson_clocks, fake_nvpmodel  # noqa: E402
from harness.cli import main  # noqa: E402
from harness.fleet.cluster import BoardSpec, LocalCluster, LocalClusterConfig  # noqa: E402
from harness.fleet.identity import ENV_OPTIONS, ENV_ROOT, ENV_SCRATCH  # noqa: E402
from helpers import make_mlp_onnx  # noqa: E402

pytestmark = pytest.mark.slow

QUICK = ["--min-duration", "0.3", "--min-iterations", "20", "--rounds", "2", "--warmup", "2", "--idle", "0.2",
         "--no-progress", "--provider", "CPUExecutionProvider"]


def _jetson_env(root: Path, board_key: str, scratch: Path) -> dict[str, str]:
    build_board_tree(root, BOARDS[board_key])
    tools = root / "bin"
    tools.mkdir()
    options = {"nvpmodel_cmd": str(fake_nvpmodel(tools)),
               "jetson_clocks_cmd": str(fake_jetson_clocks(tools, root / "clocks.state")),
               "jetson_clocks_store_file": str(root / "clocks.stored")}
    return {ENV_ROOT: str(root), ENV_OPTIONS: json.dumps(options), ENV_SCRATCH: str(scratch)}


def _cluster_pids(cluster: LocalCluster) -> set[int]:
    pids = set()
    for node in cluster.nodes.values():
        for infos in node.all_processes.values():
            pids.update(i.process.pid for i in infos if i.process is not None)
    return pids


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    scratch = base / "scratch"
    boards = (
        BoardSpec("orin-a", "jetson", env=_jetson_env(base / "orin", "orin-nano", scratch)),
        BoardSpec("xavier-b", "jetson", env=_jetson_env(base / "xavier", "xavier-nx", scratch)),
        BoardSpec("old-c", "cpu", version="0.0.1", env={ENV_SCRATCH: str(scratch)}),
    )
    cluster = LocalCluster(LocalClusterConfig(boards=boards)).start()
    pids = _cluster_pids(cluster)
    model = make_mlp_onnx(base / "mlp.onnx")
    try:
        yield {"cluster": cluster, "model": model, "scratch": scratch, "base": base}
    finally:
        cluster.shutdown()
        # no raylet, GCS or worker of this cluster may outlive the tests
        deadline = time.monotonic() + 15
        alive = [p for p in pids if psutil.pid_exists(p)]
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        assert not alive, f"Ray processes left running after shutdown: {alive}"


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def _q(db: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _night(fleet, tmp_path: Path, out: str) -> subprocess.CompletedProcess:
    """examples/nightly/nightly.sh, fleet variant, against the module's cluster."""
    script = Path(__file__).resolve().parents[1] / "examples" / "nightly" / "nightly.sh"
    env = dict(os.environ, HARNESS=str(Path(sys.executable).with_name("harness")), DB=str(tmp_path / "fleet.duckdb"),
               OUT=str(tmp_path / out), REPORT="0", CLUSTER=fleet["cluster"].address, BOARDS="orin-a,xavier-b",
               BENCH_ARGS=f"{fleet['model']} --provider CPUExecutionProvider",
               MEASURE_ARGS="--min-duration 0.3 --min-iterations 20 --rounds 2 --warmup 2 --idle 0.2")
    return subprocess.run(["bash", str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_one_run_with_measurements_from_two_boards(fleet, tmp_path):
    db = tmp_path / "fleet.duckdb"
    rc, _, err = _run("bench", str(fleet["model"]), "--cluster", fleet["cluster"].address, "--boards",
                      "orin-a,xavier-b", "--db", str(db), "--tag", "nightly", *QUICK)
    assert rc == 0, err
    runs = _q(db, "SELECT run_id, status, device, tag FROM runs")
    assert len(runs) == 1 and runs[0][1:] == ("complete", "jetson", "nightly")
    rows = _q(db, "SELECT board, node, host, status, count, energy_mj, energy_scope, avg_power_mw "
                  "FROM measurements ORDER BY board")
    assert [r[0] for r in rows] == ["orin-a", "xavier-b"]
    assert all(r[3] == "ok" and r[4] >= 20 for r in rows)
    assert rows[0][1] != rows[1][1]                      # two Ray nodes
    assert all(r[2] for r in rows)
    # each board measured with its own profile: the fake rails give Orin Nano VDD_IN 3.0 W, Xavier NX 6.0 W
    assert all(r[5] is not None and "VDD_IN" in (r[6] or "") for r in rows), rows
    assert rows[0][7] == pytest.approx(3000.0, rel=0.01) and rows[1][7] == pytest.approx(6000.0, rel=0.01)
    boards = _q(db, "SELECT board, status, error, fingerprint IS NOT NULL FROM run_boards ORDER BY board")
    assert boards == [("orin-a", "complete", None, True), ("xavier-b", "complete", None, True)]
    assert _q(db, "SELECT count(*) FROM samples")[0][0] >= 40
    assert _q(db, "SELECT count(*) FROM variants")[0][0] == 1      # read once on the head, measured twice

    # compare and show put the boards side by side
    rc, out, _ = _run("compare", "latest", "--db", str(db))
    assert rc == 0 and "board orin-a" in out and "board xavier-b" in out
    rc, out, _ = _run("show", "latest", "--db", str(db))
    assert rc == 0 and "orin-a" in out and "xavier-b" in out

    # the next night, by the nightly job's fleet variant: regress compares each board with itself (the verdict
    # itself depends on how busy this machine is, so only its shape is checked)
    assert _run("baseline", "set", "nightly@latest", "--db", str(db))[0] == 0
    second = _night(fleet, tmp_path, "night2")
    assert second.returncode in (0, 1), second.stderr
    table = (tmp_path / "night2" / "regress.txt").read_text()
    assert "orin-a: mlp/mlp" in table and "xavier-b: mlp/mlp" in table, table
    junit = (tmp_path / "night2" / "junit.xml").read_text()
    assert "orin-a: " in junit and "xavier-b: " in junit


def test_node_list_shows_boards_and_version_mismatch(fleet):
    address = fleet["cluster"].address
    rc, out, _ = _run("node", "list", "--address", address, "--json")
    nodes = {n["board"]: n for n in json.loads(out)["nodes"]}
    assert {"orin-a", "xavier-b", "old-c"} <= set(nodes)
    assert nodes["orin-a"]["device"] == "jetson" and nodes["orin-a"]["alive"] and not nodes["orin-a"]["mismatch"]
    assert "runs harness 0.0.1" in nodes["old-c"]["mismatch"]
    rc, out, _ = _run("node", "list", "--address", address)
    assert rc == 1 and "old-c" in out and "runs harness 0.0.1" in out


def test_version_mismatch_is_refused_with_one_line(fleet, tmp_path):
    db = tmp_path / "fleet.duckdb"
    rc, out, err = _run("bench", str(fleet["model"]), "--cluster", fleet["cluster"].address,
                        "--boards", "orin-a,old-c", "--db", str(db), *QUICK)
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("harness: error:")]
    assert len(lines) == 1 and "old-c" in lines[0] and "0.0.1" in lines[0], err
    assert not db.exists() or _q(db, "SELECT count(*) FROM runs")[0][0] == 0


def test_unknown_board_is_a_usage_error(fleet, tmp_path):
    rc, _, err = _run("bench", str(fleet["model"]), "--cluster", fleet["cluster"].address, "--boards", "nope",
                      "--db", str(tmp_path / "x.duckdb"), *QUICK)
    assert rc == 2 and "no board named nope" in err and "orin-a" in err


def test_node_killed_mid_run_keeps_other_boards_and_reruns_failed(fleet, tmp_path):
    cluster = fleet["cluster"]
    scratch = tmp_path / "doomed-scratch"
    cluster.add_board("doomed-d", "cpu", env={ENV_SCRATCH: str(scratch)})
    db = tmp_path / "fleet.duckdb"
    killed = threading.Event()

    def kill_when_measuring():
        # the board has started its bench once its scratch folder holds the shipped model
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(scratch.glob("*/doomed-d/models/*/*.onnx")):
                time.sleep(1.0)
                cluster.kill_board("doomed-d")
                killed.set()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_measuring, daemon=True)
    killer.start()
    rc, out, err = _run("bench", str(fleet["model"]), "--cluster", cluster.address, "--boards", "orin-a,doomed-d",
                        "--db", str(db), "--min-duration", "6", "--min-iterations", "20", "--rounds", "3",
                        "--warmup", "2", "--idle", "0", "--no-progress", "--provider", "CPUExecutionProvider")
    killer.join(timeout=5)
    assert killed.is_set(), "the board never started measuring"
    assert rc == 1
    assert "board(s) failed: doomed-d" in err and "failed@" in err, err
    rows = _q(db, "SELECT board, status, error FROM measurements ORDER BY board")
    assert [(r[0], r[1]) for r in rows] == [("doomed-d", "failed"), ("orin-a", "ok")]
    assert "doomed-d" in rows[0][2] and ("died" in rows[0][2] or "unreachable" in rows[0][2]), rows[0][2]
    assert _q(db, "SELECT status FROM runs") == [("complete",)]
    assert _q(db, "SELECT board, status FROM run_boards ORDER BY board") == [("doomed-d", "failed"),
                                                                             ("orin-a", "complete")]

    # a re-run targets only the failed board; it is gone, so it fails again at once, with the reason
    rc, out, err = _run("bench", str(fleet["model"]), "--cluster", cluster.address, "--boards", "failed@latest",
                        "--db", str(db), *QUICK)
    assert rc == 1 and "doomed-d" in err, err
    latest = _q(db, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0]
    assert _q(db, "SELECT board, status, error FROM run_boards WHERE run_id = ?", [latest]) == [
        ("doomed-d", "failed", "node is not alive in the cluster (down or unreachable)")]


def test_local_cluster_command_end_to_end(tmp_path, fleet):
    """`harness bench --cluster local:2`: starts two nodes here, one run with measurements from both."""
    def ray_daemons() -> set[int]:
        return {p.pid for p in psutil.Process().children(recursive=True)
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and p.name() in ("raylet", "gcs_server")}

    before = ray_daemons()              # the module's cluster
    db = tmp_path / "local.duckdb"
    rc, out, err = _run("bench", str(fleet["model"]), "--cluster", "local:2", "--db", str(db), *QUICK)
    assert rc == 0, err
    assert ray_daemons() <= before, "the local:2 cluster left Ray daemons running"
    assert _q(db, "SELECT DISTINCT board FROM measurements ORDER BY board") == [("local-0",), ("local-1",)]
    assert len(_q(db, "SELECT DISTINCT node FROM measurements")) == 2
