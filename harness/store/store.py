"""DuckDB result store.

DuckDB lets one process hold a file for writing and then no other process can open it, not even read-only. So
writers keep connections short (one transaction per variant) and every opener retries on the lock until a
timeout, then fails with a message naming the holder.
"""
from __future__ import annotations

import contextlib
import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
import pyarrow as pa

from harness.core.errors import (NotAHarnessStoreError, StoreError, StoreLockedError, StoreMissingError,
                                 StoreSchemaError, UsageError, message_line)
from harness.store.schema import LATEST, MIGRATIONS

_LAST_N = re.compile(r"^last(\d+)$")     # TAG@last5: the 5 newest complete runs of TAG
_LOCK_MARKERS = ("could not set lock", "conflicting lock", "resource temporarily unavailable")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


class ReadSession:
    """One open read-only connection for many fixed queries: regress runs a dozen of them, and opening the DuckDB
    file for each costs tens of milliseconds."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path):
        self.con = con
        self.path = path

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


class Store:
    """A DuckDB file of runs, variants, measurements, samples, quality and layer statistics."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 60.0):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    # -- connections -------------------------------------------------------------------------------------------
    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            raise StoreMissingError(f"no result database at {self.path}; run `harness bench` first or pass --db")
        if not read_only:
            parent = self.path.resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot create database {self.path}: directory {parent} does not exist")
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                text = str(exc)
                low = text.lower()
                if any(m in low for m in _LOCK_MARKERS):
                    if time.monotonic() >= deadline:
                        holder = re.search(r"PID (\d+)", text)
                        who = f"process {holder.group(1)}" if holder else "another process"
                        raise StoreLockedError(
                            f"database {self.path} is held by {who} for more than {self.lock_timeout_s:g} s; "
                            "wait for that bench to finish, raise --lock-timeout, or use another --db"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 1.5, 0.5)
                    continue
                if "permission denied" in low or "read-only file system" in low:
                    raise StoreError(f"cannot write database {self.path}: permission denied") from None
                raise StoreError(f"cannot open database {self.path}: {message_line(exc, None)}") from None

    @contextlib.contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One short write transaction; the file is released as soon as it commits or rolls back."""
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._connect(read_only=True)
        try:
            version = self._version(con)
            if version is None:
                raise NotAHarnessStoreError(f"{self.path} is not a harness database (no schema_version table)")
            if version > LATEST:
                raise StoreSchemaError(f"{self.path} has schema v{version}, newer than this harness (v{LATEST}); "
                                       "upgrade harness", version, LATEST)
            if version < LATEST:
                raise StoreSchemaError(f"{self.path} has schema v{version}; run any writing command "
                                       f"(e.g. `harness migrate --db {self.path}`) to upgrade it to v{LATEST}",
                                       version, LATEST)
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def session(self) -> Iterator[ReadSession]:
        """A `ReadSession` over one read-only connection, closed when the block ends."""
        with self.read() as con:
            yield ReadSession(con, self.path)

    # -- schema ------------------------------------------------------------------------------------------------
    @staticmethod
    def _version(con: duckdb.DuckDBPyConnection) -> int | None:
        # fetchall, not fetchone: DuckDB 2 refuses new work on a connection with an unfinished result
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchall()[0][0]
        if not exists:
            return None
        rows = con.execute("SELECT max(version) FROM schema_version").fetchall()
        return rows[0][0] if rows and rows[0][0] is not None else 0

    def migrate(self, target: int = LATEST) -> int:
        """Create or upgrade the schema to `target`; returns the version it started from (0 for a new file)."""
        con = self._connect(read_only=False)
        try:
            current = self._version(con)
            if current is None:
                tables = con.execute("SELECT count(*) FROM information_schema.tables").fetchall()[0][0]
                if tables:
                    raise NotAHarnessStoreError(f"{self.path} is a DuckDB file but not a harness database")
                con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
                current = 0
            if current > LATEST:
                raise StoreSchemaError(f"{self.path} has schema v{current}, newer than this harness (v{LATEST})",
                                       current, LATEST)
            for version in sorted(v for v in MIGRATIONS if current < v <= target):
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(MIGRATIONS[version])
                    con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, utcnow()])
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise
            return current
        finally:
            con.close()

    def schema_version(self) -> int:
        con = self._connect(read_only=True)
        try:
            return self._version(con) or 0
        finally:
            con.close()

    # -- writing -----------------------------------------------------------------------------------------------
    @staticmethod
    def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert dicts through Arrow (executemany costs ~0.7 ms a row in DuckDB)."""
        if not rows:
            return
        # every key of every row: a failed measurement first in the batch has no p50_ms (or iqr_rel ...), and
        # taking the first row's keys alone would drop those columns of every ok row after it
        columns = list(dict.fromkeys(c for r in rows for c in r))
        data = {c: [r.get(c) for r in rows] for c in columns}
        arrow = pa.table(data)
        con.register("_harness_rows", arrow)
        try:
            cols = ", ".join(columns)
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _harness_rows")
        finally:
            con.unregister("_harness_rows")

    @staticmethod
    def insert_samples(con: duckdb.DuckDBPyConnection, measurement_id: str, rounds: Sequence[Sequence[int]]) -> None:
        import numpy as np

        lat = [np.asarray(r, dtype=np.int64) for r in rounds]
        if not lat or sum(len(r) for r in lat) == 0:
            return
        arrow = pa.table({
            "measurement_id": pa.array([measurement_id] * sum(len(r) for r in lat), pa.string()),
            "round": np.concatenate([np.full(len(r), i, dtype=np.int32) for i, r in enumerate(lat)]),
            "seq": np.concatenate([np.arange(len(r), dtype=np.int32) for r in lat]),
            "latency_ns": np.concatenate(lat),
        })
        con.register("_harness_samples", arrow)
        try:
            con.execute("INSERT INTO samples SELECT measurement_id, round, seq, latency_ns FROM _harness_samples")
        finally:
            con.unregister("_harness_samples")

    def create_run(self, row: dict[str, Any]) -> None:
        with self.write() as con:
            self.insert_rows(con, "runs", [row])

    def finish_run(self, run_id: str, status: str) -> None:
        with self.write() as con:
            con.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?", [status, utcnow(), run_id])

    def update_run(self, run_id: str, **fields: Any) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.write() as con:
            con.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", [*fields.values(), run_id])

    # -- reading -----------------------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Internal fixed queries only; never pass user-supplied SQL here."""
        with self.read() as con:
            cur = con.execute(sql, list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def sample_latencies_ns(self, measurement_id: str) -> list[int]:
        """The raw per-call latencies of one measurement, in round then call order."""
        rows = self.query("SELECT latency_ns FROM samples WHERE measurement_id = ? ORDER BY round, seq",
                          [measurement_id])
        return [int(r["latency_ns"]) for r in rows]

    def resolve_run(self, ref: str) -> str:
        """A run id (or unique prefix), `latest`, `TAG@latest`, `TAG@prev`, `TAG@N` (N-th newest, 0-based),
        or a baseline name set with `harness baseline set`."""
        ref = ref.strip()
        if not ref:
            raise UsageError("empty run reference")
        with self.read() as con:
            if ref == "latest":
                rows = con.execute("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1").fetchall()
                if not rows:
                    raise UsageError(f"no runs in {self.path}")
                return rows[0][0]
            if "@" in ref:
                tag, _, which = ref.rpartition("@")
                index = {"latest": 0, "prev": 1}.get(which)
                if index is None:
                    if _LAST_N.match(which):
                        raise UsageError(f"{ref!r} names several runs; use it as a --baseline of `harness "
                                         "regress` or with `harness baseline set`, or pick one with TAG@N")
                    if not which.isdigit():
                        raise UsageError(f"bad run reference {ref!r}: use TAG@latest, TAG@prev, TAG@N or "
                                         "TAG@lastN")
                    index = int(which)
                rows = con.execute(
                    "SELECT run_id FROM runs WHERE tag = ? AND status = 'complete' ORDER BY created_at DESC",
                    [tag]).fetchall()
                if len(rows) <= index:
                    raise UsageError(f"{ref!r}: only {len(rows)} complete run(s) tagged {tag!r} in {self.path}")
                return rows[index][0]
            named = con.execute("SELECT run_id FROM baselines WHERE name = ?", [ref]).fetchall()
            if named:
                return named[0][0]
            rows = con.execute("SELECT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id",
                               [ref]).fetchall()
        if len(rows) == 1:
            return rows[0][0]
        if not rows:
            raise UsageError(f"no run matches {ref!r} in {self.path}; see `harness runs`")
        raise UsageError(f"{ref!r} matches {len(rows)} runs; give more of the run id")

    def resolve_runs(self, ref: str, before: str | None = None) -> list[str]:
        """The runs a reference names, newest first: `TAG@lastN` (the N newest complete runs of TAG; with
        `before`, a run id, only runs created before it and never that run), a baseline name set with several
        runs, or any single-run reference of `resolve_run`."""
        ref = ref.strip()
        tag, at, which = ref.rpartition("@")
        match = _LAST_N.match(which) if at else None
        if match:
            count = int(match.group(1))
            if count < 1:
                raise UsageError(f"bad run reference {ref!r}: TAG@lastN needs N >= 1")
            with self.read() as con:
                params: list[Any] = [tag]
                where = "tag = ? AND status = 'complete'"
                if before:
                    where += (" AND run_id <> ? AND created_at < (SELECT created_at FROM runs WHERE run_id = ?)")
                    params += [before, before]
                rows = con.execute(f"SELECT run_id FROM runs WHERE {where} ORDER BY created_at DESC LIMIT ?",
                                   params + [count]).fetchall()
            if not rows:
                older = " older than the candidate" if before else ""
                raise UsageError(f"{ref!r}: no complete run tagged {tag!r}{older} in {self.path}")
            return [r[0] for r in rows]
        with self.read() as con:
            members = con.execute("SELECT run_id FROM baseline_runs WHERE name = ? ORDER BY position",
                                  [ref]).fetchall()
        if members:
            return [r[0] for r in members]
        return [self.resolve_run(ref)]

    def set_baseline(self, name: str, run_ids: Sequence[str]) -> str | None:
        """Point baseline `name` at one or more runs (the first is the primary run that single-run references
        resolve to); returns the primary run it pointed at before, if any."""
        with self.write() as con:
            previous = con.execute("SELECT run_id FROM baselines WHERE name = ?", [name]).fetchall()
            con.execute("DELETE FROM baselines WHERE name = ?", [name])
            con.execute("DELETE FROM baseline_runs WHERE name = ?", [name])
            con.execute("INSERT INTO baselines (name, run_id, set_at) VALUES (?, ?, ?)", [name, run_ids[0], utcnow()])
            if len(run_ids) > 1:
                for position, run_id in enumerate(run_ids):
                    con.execute("INSERT INTO baseline_runs (name, run_id, position) VALUES (?, ?, ?)",
                                [name, run_id, position])
        return previous[0][0] if previous else None

    def remove_baseline(self, name: str) -> bool:
        """Forget baseline `name` (its runs are kept); False when there was none."""
        with self.write() as con:
            found = con.execute("SELECT name FROM baselines WHERE name = ?", [name]).fetchall()
            con.execute("DELETE FROM baselines WHERE name = ?", [name])
            con.execute("DELETE FROM baseline_runs WHERE name = ?", [name])
        return bool(found)

    def baseline_members(self) -> dict[str, list[str]]:
        """Baseline name -> its runs, for baselines made of several runs."""
        out: dict[str, list[str]] = {}
        for row in self.query("SELECT name, run_id FROM baseline_runs ORDER BY name, position"):
            out.setdefault(row["name"], []).append(row["run_id"])
        return out
