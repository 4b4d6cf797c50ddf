"""`harness bench` end to end through the CLI: real worker processes, real onnxruntime, real DuckDB files."""
import json
import os
import signal
import subprocess
import sys
import time

import onnx
import psutil
import pytest
from onnx import TensorProto, helper

from harness.store import Store
from helpers import FAST, make_mlp_onnx, run_cli


def test_default_bench_fills_every_table(default_bench_db):
    store = Store(default_bench_db)
    run = store.query("SELECT * FROM runs")[0]
    assert run["status"] == "complete" and run["model"] == "digits" and run["tag"] == "test"
    env = json.loads(run["environment"])
    assert env["device"]["device"] == "cpu" and "onnxruntime" in env["libraries"]
    assert run["fingerprint"]
    variants = store.query("SELECT * FROM variants WHERE status = 'ok'")
    assert any(v["name"] == "fp32" for v in variants)
    for v in variants:
        assert v["size_bytes"] > 0 and v["gzip_bytes"] > 0 and v["param_count"] > 0
    ms = store.query("SELECT * FROM measurements WHERE status = 'ok'")
    assert len(ms) >= len(variants)
    for m in ms:
        assert m["count"] >= 20 and m["rounds"] == 2
        assert 0 < m["min_ms"] <= m["p50_ms"] <= m["p90_ms"] <= m["p99_ms"] <= m["max_ms"]
        assert m["load_ms"] > 0 and m["cold_first_ms"] > 0
        assert m["peak_rss_bytes"] > 0 and m["maxrss_bytes"] > 0
        assert m["inputs_source"] == "example:digits"
        # no power sensor on this host: null with a reason, never a number
        assert m["energy_mj"] is None and m["energy_reason"]
        n = store.query("SELECT count(*) AS n FROM samples WHERE measurement_id = ?", [m["measurement_id"]])[0]["n"]
        assert n == m["count"]


def test_show_runs_and_export(default_bench_db, tmp_path):
    db = str(default_bench_db)
    shown = run_cli("show", "latest", "--db", db, check=True)
    assert "fp32" in shown.stdout and "p50_ms" in shown.stdout
    details = json.loads(run_cli("show", "test@latest", "--db", db, "--json", check=True).stdout)
    assert details["run"]["status"] == "complete" and details["measurements"]
    runs = json.loads(run_cli("runs", "--db", db, "--json", check=True).stdout)
    assert len(runs) == 1 and runs[0]["variants"] >= 1
    for fmt in ("parquet", "csv", "json"):
        out = tmp_path / fmt
        run_cli("export", "latest", "--db", db, "--format", fmt, "-o", str(out), check=True)
        assert len(list(out.glob(f"*-samples.{fmt}"))) == 1
    rows = json.loads(next((tmp_path / "json").glob("*-measurements.json")).read_text())
    assert rows and rows[0]["p50_ms"] > 0


def test_bench_an_onnx_model_nobody_here_wrote(tmp_path):
    # onnxruntime ships this scikit-learn logistic regression (fixed batch of 3, ZipMap output)
    import onnxruntime.datasets

    model = onnxruntime.datasets.get_example("logreg_iris.onnx")
    db = tmp_path / "r.duckdb"
    proc = run_cli("bench", model, "--db", str(db), *FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = Store(db).query("SELECT * FROM measurements")[0]
    assert m["status"] == "ok" and m["batch_size"] == 3 and m["inputs_source"] == "random(seed=0)"


def test_batch_sizes_threads_and_input_shapes(models_dir, tmp_path):
    db = tmp_path / "r.duckdb"
    proc = run_cli("bench", str(models_dir / "mlp.onnx"), str(models_dir / "seq.onnx"), "--batch-size", "1,8",
                   "--threads", "1", "--input-shape", "x=1x16x32", "--graph-optimization", "basic",
                   "--db", str(db), *FAST, cwd=tmp_path)
    # --input-shape names x, which both models have, but only seq.onnx has rank 3: mlp must fail clearly
    assert proc.returncode == 1
    assert "harness: error:" in proc.stderr and "rank 2" in proc.stderr
    assert not db.exists() or Store(db).query("SELECT count(*) AS n FROM runs")[0]["n"] == 0
    proc = run_cli("bench", str(models_dir / "seq.onnx"), "--batch-size", "1,8", "--threads", "1",
                   "--input-shape", "x=1x16x32", "--graph-optimization", "basic", "--db", str(db), *FAST,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ms = Store(db).query("SELECT batch_size, threads, graph_optimization, throughput_sps, throughput_ips "
                         "FROM measurements ORDER BY batch_size")
    assert [(m["batch_size"], m["threads"], m["graph_optimization"]) for m in ms] == [(1, 1, "basic"),
                                                                                       (8, 1, "basic")]
    assert ms[1]["throughput_sps"] == pytest.approx(8 * ms[1]["throughput_ips"])


def _write_unknown_op(path):
    node = helper.make_node("FancyOp", ["x"], ["y"], domain="com.nobody")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.nobody", 1)])
    onnx.save(model, str(path))


def _assert_one_line_error(proc, pattern):
    assert proc.returncode != 0
    # progress lines may precede it on stderr; the error itself is exactly one line
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("harness: error:")]
    assert len(lines) == 1, proc.stderr
    assert pattern in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("case", ["missing", "not_onnx", "corrupt", "unknown_device", "dynamic_dim",
                                  "bad_batch", "db_dir_missing", "db_is_not_harness"])
def test_bad_input_one_line_error_and_nothing_written(case, models_dir, tmp_path):
    db = tmp_path / "r.duckdb"
    model = models_dir / "mlp.onnx"
    extra = []
    if case == "missing":
        model, expect = tmp_path / "nope.onnx", "model file not found"
    elif case == "not_onnx":
        model = tmp_path / "readme.onnx"
        model.write_text("hello, I am text")
        expect = "not a valid ONNX model"
    elif case == "corrupt":
        model = tmp_path / "cut.onnx"
        model.write_bytes((models_dir / "mlp_wide.onnx").read_bytes()[:5000])
        expect = "not a valid ONNX model"
    elif case == "unknown_device":
        extra, expect = ["--device", "tpu9000"], "unknown device 'tpu9000'"
    elif case == "dynamic_dim":
        model, expect = models_dir / "seq.onnx", "dynamic dimension 'seq_len'"
    elif case == "bad_batch":
        extra, expect = ["--batch-size", "0"], "--batch-size"
    elif case == "db_dir_missing":
        db, expect = tmp_path / "no" / "dir" / "r.duckdb", "does not exist"
    else:
        import duckdb

        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE precious (x INT)")
        con.execute("INSERT INTO precious VALUES (42)")
        con.close()
        expect = "not a harness database"
    proc = run_cli("bench", str(model), "--db", str(db), *extra, *FAST, cwd=tmp_path)
    _assert_one_line_error(proc, expect)
    if case == "db_is_not_harness":
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        assert con.execute("SELECT * FROM precious").fetchall() == [(42,)]
        con.close()
    else:
        assert not db.exists()


def test_model_onnxruntime_cannot_load(tmp_path):
    model = tmp_path / "custom.onnx"
    _write_unknown_op(model)
    db = tmp_path / "r.duckdb"
    proc = run_cli("bench", str(model), "--db", str(db), *FAST, cwd=tmp_path)
    _assert_one_line_error(proc, "onnxruntime cannot load")
    assert "FancyOp" in proc.stderr
    # the attempt is recorded as a failed run with the reason, not a half-written one
    store = Store(db)
    assert store.query("SELECT status FROM runs")[0]["status"] == "failed"
    m = store.query("SELECT status, error FROM measurements")[0]
    assert m["status"] == "failed" and "FancyOp" in m["error"]


def test_database_held_by_another_writer(models_dir, tmp_path):
    db = tmp_path / "r.duckdb"
    Store(db).migrate()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run_cli("bench", str(models_dir / "mlp.onnx"), "--db", str(db), "--lock-timeout", "1", *FAST,
                       cwd=tmp_path)
        _assert_one_line_error(proc, "is held by process")
    finally:
        holder.kill()
        holder.wait()
    assert Store(db).query("SELECT count(*) AS n FROM runs")[0]["n"] == 0


def test_two_concurrent_writers_both_land(models_dir, tmp_path):
    db = tmp_path / "shared.duckdb"
    cmds = [[sys.executable, "-m", "harness", "bench", str(models_dir / name), "--db", str(db), "--tag", name,
             *FAST] for name in ("mlp.onnx", "mlp_wide.onnx")]
    procs = [subprocess.Popen(c, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    rows = Store(db).query("SELECT r.tag, r.status, count(m.measurement_id) AS n FROM runs r "
                           "JOIN measurements m USING (run_id) GROUP BY r.tag, r.status ORDER BY r.tag")
    assert rows == [{"tag": "mlp.onnx", "status": "complete", "n": 1},
                    {"tag": "mlp_wide.onnx", "status": "complete", "n": 1}]


def test_sigkill_keeps_finished_variants(models_dir, tmp_path):
    db = tmp_path / "killed.duckdb"
    models = []
    for i in range(4):
        models.append(str(make_mlp_onnx(tmp_path / f"m{i}.onnx", hidden=64 * (i + 1), seed=i)))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "bench", *models, "--db", str(db), "--rounds", "1",
                             "--min-duration", "2", "--idle", "0", "--no-progress"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    done = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            workers |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        except psutil.Error:
            pass
        if db.exists():
            try:
                done = Store(db, lock_timeout_s=0.2).query(
                    "SELECT count(*) AS n FROM measurements WHERE status = 'ok'")[0]["n"]
            except Exception:
                done = 0
        if done >= 1:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "bench finished before it could be killed"
    assert done >= 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(db, lock_timeout_s=10)
    assert store.query("SELECT status FROM runs")[0]["status"] == "running"  # never marked finished
    ms = store.query("SELECT measurement_id, count FROM measurements WHERE status = 'ok'")
    assert 1 <= len(ms) < 4
    for m in ms:
        n = store.query("SELECT count(*) AS n FROM samples WHERE measurement_id = ?", [m["measurement_id"]])
        assert n[0]["n"] == m["count"]
    assert store.query("SELECT count(*) AS n FROM variants")[0]["n"] == len(ms)
    listed = run_cli("runs", "--db", str(db), check=True).stdout
    assert "interrupted" in listed
    # orphaned workers notice the closed pipe and exit on their own
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(psutil.pid_exists(p) and
                                              psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in workers):
        time.sleep(0.2)
    alive = [p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive


def test_nan_outputs_are_flagged(tmp_path):
    # log of seeded normal inputs: about half the outputs are NaN
    node = helper.make_node("Log", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "log.onnx"))
    db = tmp_path / "r.duckdb"
    proc = run_cli("bench", str(tmp_path / "log.onnx"), "--db", str(db), *FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = json.loads(Store(db).query("SELECT warnings FROM measurements")[0]["warnings"])
    assert "outputs contain NaN or Inf" in warnings


def test_each_variant_runs_in_the_runtime_its_format_needs(tmp_path):
    from harness.runtimes import runtime_for_format

    assert runtime_for_format("onnx", "onnxruntime") == "onnxruntime"
    assert runtime_for_format("torchscript", "onnxruntime") == "torch"
    assert runtime_for_format("tensorrt", "onnxruntime") == "tensorrt"
    db = tmp_path / "r.duckdb"
    proc = run_cli("bench", "--recipe", "torchscript", "--db", str(db), *FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = Store(db).query("SELECT v.name, v.format, v.base_id, m.runtime, m.status FROM measurements m "
                           "JOIN variants v USING (run_id, variant_id) ORDER BY v.name")
    assert [(r["name"], r["format"], r["runtime"], r["status"]) for r in rows] == [
        ("fp32", "onnx", "onnxruntime", "ok"), ("torchscript", "torchscript", "torch", "ok")]
