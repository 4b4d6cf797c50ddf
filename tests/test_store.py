"""The DuckDB store: round-trip, migrations from an older schema, the file lock, bad paths."""
import subprocess
import sys
import textwrap
import time

import duckdb
import numpy as np
import pytest

from harness.core.errors import StoreError, UsageError
from harness.store import Store
from harness.store.schema import LATEST
from harness.store.store import utcnow


def _run_row(run_id, tag=None, status="complete"):
    return {"run_id": run_id, "created_at": utcnow(), "status": status, "tag": tag, "model": "m", "device": "cpu"}


def test_round_trip(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    assert store.migrate() == 0
    assert store.schema_version() == LATEST
    store.create_run(_run_row("r1", tag="nightly"))
    with store.write() as con:
        store.insert_rows(con, "measurements", [{"measurement_id": "m1", "run_id": "r1", "variant_id": "v",
                                                 "status": "ok", "p50_ms": 1.5}])
        store.insert_samples(con, "m1", [np.array([3, 1, 2]), np.array([5])])
    rows = store.query("SELECT round, seq, latency_ns FROM samples ORDER BY round, seq")
    assert [(r["round"], r["seq"], r["latency_ns"]) for r in rows] == [(0, 0, 3), (0, 1, 1), (0, 2, 2), (1, 0, 5)]
    assert store.query("SELECT p50_ms FROM measurements")[0]["p50_ms"] == 1.5
    store.finish_run("r1", "complete")
    assert store.query("SELECT status, finished_at IS NOT NULL AS done FROM runs")[0] == \
        {"status": "complete", "done": True}


def test_rows_with_different_keys_keep_every_column(tmp_path):
    # a failed measurement (no latency columns) before an ok one in one batch, as a fleet board's rows arrive
    store = Store(tmp_path / "r.duckdb")
    store.migrate()
    store.create_run(_run_row("r1"))
    with store.write() as con:
        store.insert_rows(con, "measurements", [
            {"measurement_id": "m0", "run_id": "r1", "variant_id": "v", "status": "failed", "error": "boom"},
            {"measurement_id": "m1", "run_id": "r1", "variant_id": "v", "status": "ok", "p50_ms": 1.5,
             "iqr_rel": 0.02}])
    rows = {r["measurement_id"]: r for r in store.query("SELECT measurement_id, p50_ms, iqr_rel, error "
                                                         "FROM measurements")}
    assert rows["m1"]["p50_ms"] == 1.5 and rows["m1"]["iqr_rel"] == 0.02
    assert rows["m0"]["p50_ms"] is None and rows["m0"]["error"] == "boom"


def test_failed_transaction_writes_nothing(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.migrate()
    with pytest.raises(RuntimeError):
        with store.write() as con:
            store.insert_rows(con, "runs", [_run_row("r1")])
            raise RuntimeError("interrupted")
    assert store.query("SELECT count(*) AS n FROM runs")[0]["n"] == 0


def test_migration_from_v1_keeps_data(tmp_path):
    path = tmp_path / "old.duckdb"
    store = Store(path)
    store.migrate(target=1)
    with store.write() as con:
        store.insert_rows(con, "runs", [_run_row("old-run")])
        store.insert_rows(con, "measurements", [{"measurement_id": "m", "run_id": "old-run", "variant_id": "v",
                                                 "status": "ok", "p50_ms": 2.0}])
    with pytest.raises(StoreError, match="schema v1.*harness migrate"):
        store.query("SELECT 1")
    assert store.migrate() == 1
    rows = store.query("SELECT m.p50_ms, m.idle_power_mw, r.hdf5_path FROM measurements m JOIN runs r USING (run_id)")
    assert rows == [{"p50_ms": 2.0, "idle_power_mw": None, "hdf5_path": None}]
    versions = store.query("SELECT version FROM schema_version ORDER BY version")
    assert [v["version"] for v in versions] == list(range(1, LATEST + 1))


def test_v8_records_the_torch_device_as_a_torch_measurements_provider(tmp_path):
    """Before v8 a torch variant carried the onnxruntime provider that was requested, not used; the worker's own
    report says where it ran, and v8 moves that into `provider` so old baselines keep matching new runs."""
    import json

    store = Store(tmp_path / "v7.duckdb")
    store.migrate(target=7)
    rows = [{"measurement_id": "t", "run_id": "r", "variant_id": "v", "status": "ok", "runtime": "torch",
             "provider": "CPUExecutionProvider", "sensors": json.dumps({"runtime": {"device": "cuda:0"}})},
            {"measurement_id": "o", "run_id": "r", "variant_id": "w", "status": "ok", "runtime": "onnxruntime",
             "provider": "CPUExecutionProvider", "sensors": json.dumps({"runtime": {"providers_used": ["x"]}})},
            {"measurement_id": "f", "run_id": "r", "variant_id": "z", "status": "failed", "runtime": "torch",
             "provider": "CPUExecutionProvider", "sensors": None}]
    with store.write() as con:
        store.insert_rows(con, "runs", [_run_row("r")])
        store.insert_rows(con, "measurements", rows)
    assert store.migrate() == 7
    got = {r["measurement_id"]: r["provider"] for r in store.query("SELECT measurement_id, provider FROM measurements")}
    assert got == {"t": "cuda:0", "o": "CPUExecutionProvider", "f": "CPUExecutionProvider"}


def test_newer_schema_is_refused(tmp_path):
    store = Store(tmp_path / "new.duckdb")
    store.migrate()
    with store.write() as con:
        con.execute("INSERT INTO schema_version VALUES (?, ?)", [LATEST + 1, utcnow()])
    with pytest.raises(StoreError, match="newer than this harness"):
        store.query("SELECT 1")


def test_foreign_duckdb_file_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(StoreError, match="not a harness database"):
        Store(path).migrate()


def test_missing_database_for_reading(tmp_path):
    with pytest.raises(StoreError, match="run `harness bench` first"):
        Store(tmp_path / "none.duckdb").query("SELECT 1")


def test_unwritable_location(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "dir" / "r.duckdb").migrate()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(StoreError):
        Store(a_file / "r.duckdb").migrate()


HOLD = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
""")


def _hold(path, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_times_out_with_a_clear_message(tmp_path):
    path = tmp_path / "locked.duckdb"
    Store(path).migrate()
    holder = _hold(path, 30)
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=r"held by process \d+ for more than 0.5 s"):
            Store(path, lock_timeout_s=0.5).create_run(_run_row("r"))
        assert time.monotonic() - t0 >= 0.5
    finally:
        holder.kill()
        holder.wait()


def test_writer_waits_for_a_short_holder(tmp_path):
    path = tmp_path / "busy.duckdb"
    Store(path).migrate()
    holder = _hold(path, 1.0)
    try:
        Store(path, lock_timeout_s=30).create_run(_run_row("r"))
    finally:
        holder.wait()
    assert Store(path).query("SELECT run_id FROM runs") == [{"run_id": "r"}]


def test_resolve_run_references(tmp_path):
    store = Store(tmp_path / "refs.duckdb")
    store.migrate()
    for i, run_id in enumerate(["20260101-a", "20260102-b", "20260103-c"]):
        row = _run_row(run_id, tag="nightly")
        row["created_at"] = utcnow().replace(day=1 + i, month=1, year=2026)
        store.create_run(row)
    with store.write() as con:
        con.execute("INSERT INTO baselines VALUES ('golden', '20260101-a', ?)", [utcnow()])
    assert store.resolve_run("latest") == "20260103-c"
    assert store.resolve_run("nightly@latest") == "20260103-c"
    assert store.resolve_run("nightly@prev") == "20260102-b"
    assert store.resolve_run("nightly@2") == "20260101-a"
    assert store.resolve_run("golden") == "20260101-a"
    assert store.resolve_run("20260102") == "20260102-b"
    with pytest.raises(UsageError, match="matches 3 runs"):
        store.resolve_run("2026")
    with pytest.raises(UsageError, match="no run matches"):
        store.resolve_run("zzz")
    with pytest.raises(UsageError, match="only 3 complete"):
        store.resolve_run("nightly@5")
    with pytest.raises(UsageError, match="TAG@latest"):
        store.resolve_run("nightly@yesterday")
