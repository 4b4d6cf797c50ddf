"""Read-only access to the result store for the reports: fixed, parameterised queries only.

A bench holds the DuckDB file exclusively while it commits a variant, so a long-lived dashboard must not keep a
connection open: every load here opens a read-only connection, runs its few queries, and closes it, retrying
on the lock for a short while (`lock_timeout_s`). A load that still finds the file busy raises `StoreBusy` and
the caller keeps showing what it had.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import StoreError
from harness.store import Store
from harness.store.schema import LATEST
from reports.metrics import METRICS, QUALITY_COLUMNS, ratio_key


class StoreBusy(StoreError):
    """A bench held the database past the reader's short lock timeout; try again on the next refresh."""


@dataclass(frozen=True)
class StoreState:
    """Whether the store can be shown, and if not, a message that says what to do."""

    status: str             # ok | missing | empty | old_schema | newer_schema | not_harness | busy | error
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def probe(path: str | Path, lock_timeout_s: float = 2.0) -> StoreState:
    """Classify the database at `path` without raising."""
    path = Path(path)
    if not path.exists():
        return StoreState("missing", f"No result database at {path}. Run `harness bench --db {path}` to create "
                                     "one, or start the dashboard with --db pointing at an existing file.")
    store = Store(path, lock_timeout_s=lock_timeout_s)
    try:
        with store.read() as con:
            runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    except StoreError as exc:
        text = str(exc)
        if "held by" in text:
            return StoreState("busy", f"{text}. The page retries on its next refresh.")
        if "not a harness database" in text:
            return StoreState("not_harness", f"{path} is not a harness result database (no schema_version "
                                             "table). Point --db at a file written by `harness bench`.")
        if "newer than this harness" in text:
            return StoreState("newer_schema", text)
        if "to upgrade it" in text:
            return StoreState("old_schema", f"{text}. The dashboard only reads, so it never upgrades a file "
                                            f"itself (schema v{LATEST} needed).")
        return StoreState("error", text)
    if not runs:
        return StoreState("empty", f"{path} holds no runs yet. Run `harness bench --db {path}`; the page "
                                   "refreshes when the first run lands.")
    return StoreState("ok")


@dataclass
class RunData:
    """One run as the views need it. `table` has one row per (variant, scenario); failed variants have a row
    with no measurement so their reason is still shown."""

    run: dict[str, Any]
    table: pd.DataFrame
    layers: pd.DataFrame
    quality: pd.DataFrame
    root_id: str | None
    scenarios: list[tuple[Any, Any]] = field(default_factory=list)

    @property
    def ok_rows(self) -> pd.DataFrame:
        return self.table[self.table["measurement_status"] == "ok"]

    def variant_label(self, variant_id: str) -> str:
        rows = self.table[self.table["variant_id"] == variant_id]
        return str(rows["name"].iloc[0]) if len(rows) else variant_id


_RUN_COLUMNS = ("run_id, created_at, finished_at, status, tag, model, device, host, git_sha, harness_version, "
                "fingerprint, hdf5_path")

_VARIANT_SQL = """
SELECT v.variant_id, v.name, coalesce(v.model, r.model) AS model, v.format, v.precision, v.base_id, v.root_id,
       v.operation, v.params, v.size_bytes, v.gzip_bytes, v.param_count, v.sparsity,
       v.status AS variant_status, v.error AS variant_error, v.info AS variant_info,
       m.measurement_id, m.batch_size, m.threads, m.provider, m.status AS measurement_status,
       m.error AS measurement_error, m.count, m.cv, m.p50_ms, m.p90_ms, m.p99_ms, m.throughput_sps,
       m.peak_rss_bytes, m.energy_per_inference_mj, m.energy_reason, m.warnings
FROM variants v JOIN runs r ON r.run_id = v.run_id
LEFT JOIN measurements m ON m.run_id = v.run_id AND m.variant_id = v.variant_id
WHERE v.run_id = ?
ORDER BY v.created_at, v.name, m.batch_size, m.threads
"""


def _frame(cursor) -> pd.DataFrame:
    names = [d[0] for d in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=names)


class Reader:
    """Short read-only connections over one store file."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 2.0):
        self.path = Path(path)
        self.store = Store(self.path, lock_timeout_s=lock_timeout_s)

    @contextlib.contextmanager
    def _connection(self):
        try:
            with self.store.read() as con:
                yield con
        except StoreError as exc:
            if "held by" in str(exc):
                raise StoreBusy(str(exc)) from None
            raise

    # -- what changed --------------------------------------------------------------------------------------------
    def change_token(self) -> tuple:
        """Cheap summary that changes whenever a run starts, gains a variant or finishes."""
        with self._connection() as con:
            return tuple(con.execute(
                "SELECT (SELECT count(*) FROM runs), (SELECT max(created_at) FROM runs), "
                "(SELECT count(*) FROM runs WHERE status <> 'running'), (SELECT count(*) FROM variants), "
                "(SELECT count(*) FROM measurements)").fetchone())

    # -- runs ----------------------------------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        with self._connection() as con:
            return _frame(con.execute(
                f"SELECT {_RUN_COLUMNS}, (SELECT count(*) FROM variants v WHERE v.run_id = r.run_id) AS variants "
                "FROM runs r ORDER BY created_at DESC, run_id"))

    def run_data(self, run_id: str) -> RunData:
        with self._connection() as con:
            run_rows = _frame(con.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", [run_id]))
            if run_rows.empty:
                raise StoreError(f"no run {run_id!r} in {self.path}")
            table = _frame(con.execute(_VARIANT_SQL, [run_id]))
            quality = _frame(con.execute(
                "SELECT variant_id, reference, reference_id, metric, value, detail FROM quality WHERE run_id = ?",
                [run_id]))
            layers = _frame(con.execute(
                "SELECT variant_id, layer, kind, param_count, zeros, sparsity, change_mean_rel, change_max_rel, "
                "change_hist FROM layers WHERE run_id = ? ORDER BY variant_id, layer", [run_id]))
        return build_run_data(run_rows.iloc[0].to_dict(), table, quality, layers)

    # -- samples -------------------------------------------------------------------------------------------------
    def histograms(self, measurement_ids: list[str], bins: int = 60, upper_quantile: float = 0.995
                   ) -> dict[str, Any]:
        """Latency histograms computed in DuckDB, so a million samples never leave the database.

        One shared bin range for all measurements (so they overlay): from the fastest sample to the
        `upper_quantile` of all of them; slower samples are counted in the last bin (`overflow` says how many).
        """
        if not measurement_ids:
            return {"edges_ms": [], "series": {}}
        with self._connection() as con:
            lo, hi, total = con.execute(
                "SELECT min(latency_ns), quantile_cont(latency_ns, ?), count(*) FROM samples "
                "WHERE list_contains(?, measurement_id)", [upper_quantile, measurement_ids]).fetchone()
            if not total:
                return {"edges_ms": [], "series": {}}
            hi = max(float(hi), float(lo) + 1.0)
            width = (hi - float(lo)) / bins
            rows = con.execute(
                "SELECT measurement_id, least(CAST(floor((latency_ns - ?) / ?) AS INTEGER), ?) AS b, "
                "count(*) AS n, sum(CASE WHEN latency_ns > ? THEN 1 ELSE 0 END) AS over "
                "FROM samples WHERE list_contains(?, measurement_id) GROUP BY ALL",
                [float(lo), width, bins - 1, hi, measurement_ids]).fetchall()
        series: dict[str, dict[str, Any]] = {}
        for mid, b, n, over in rows:
            s = series.setdefault(mid, {"counts": [0] * bins, "total": 0, "overflow": 0})
            s["counts"][int(b)] += int(n)
            s["total"] += int(n)
            s["overflow"] += int(over)
        edges_ms = [(float(lo) + i * width) / 1e6 for i in range(bins + 1)]
        return {"edges_ms": edges_ms, "series": series, "upper_quantile": upper_quantile}

    def sample_stats(self, measurement_id: str, bins: int = 60) -> dict[str, Any] | None:
        """What a TensorBoard histogram needs (min, max, num, sum, sum_squares, bucket_limits, bucket_counts)
        in ms, computed in DuckDB; bucket limits are right edges, the last one the slowest sample."""
        with self._connection() as con:
            row = con.execute(
                "SELECT min(latency_ns) / 1e6, max(latency_ns) / 1e6, count(*), sum(latency_ns / 1e6), "
                "sum((latency_ns / 1e6) ^ 2) FROM samples WHERE measurement_id = ?", [measurement_id]).fetchone()
        if not row or not row[2]:
            return None
        lo, hi, num, total, squares = row
        hist = self.histograms([measurement_id], bins=bins)
        edges = hist["edges_ms"]
        counts = [float(c) for c in hist["series"][measurement_id]["counts"]]
        limits = [float(e) for e in edges[1:]]
        limits[-1] = max(limits[-1], float(hi))
        return {"min": float(lo), "max": float(hi), "num": int(num), "sum": float(total),
                "sum_squares": float(squares), "bucket_limits": limits, "bucket_counts": counts}

    # -- history -------------------------------------------------------------------------------------------------
    def history(self, tag: str | None, model: str | None, device: str | None) -> pd.DataFrame:
        """p50 and task accuracy per variant name across complete runs with the same tag, model and device
        (runs without a tag are compared with other untagged runs), oldest first."""
        with self._connection() as con:
            return _frame(con.execute(
                "SELECT r.run_id, r.created_at, v.name, m.batch_size, m.threads, m.p50_ms, "
                "(SELECT max(q.value) FROM quality q WHERE q.run_id = v.run_id AND q.variant_id = v.variant_id "
                " AND q.reference = 'task' AND q.metric = 'accuracy') AS accuracy "
                "FROM runs r JOIN variants v ON v.run_id = r.run_id "
                "JOIN measurements m ON m.run_id = v.run_id AND m.variant_id = v.variant_id AND m.status = 'ok' "
                "WHERE r.status = 'complete' AND r.tag IS NOT DISTINCT FROM ? "
                "AND r.model IS NOT DISTINCT FROM ? AND r.device IS NOT DISTINCT FROM ? "
                "ORDER BY r.created_at, r.run_id", [tag, model, device]))


def build_run_data(run: dict[str, Any], table: pd.DataFrame, quality: pd.DataFrame,
                   layers: pd.DataFrame) -> RunData:
    """Join quality into the per-scenario table and give each row a unique, readable label."""
    table = table.copy()
    for key, candidates in QUALITY_COLUMNS.items():
        values: dict[str, float] = {}
        for reference, metric in reversed(candidates):   # first candidate wins: applied last
            sel = quality[(quality["reference"] == reference) & (quality["metric"] == metric)]
            values.update({vid: val for vid, val in zip(sel["variant_id"], sel["value"]) if val is not None})
        table[key] = table["variant_id"].map(values).astype("float64")
    roots = table[(table["variant_id"] == table["root_id"]) | table["base_id"].isna()]
    root_id = str(roots["variant_id"].iloc[0]) if len(roots) else None
    if root_id is not None:
        # agreement/KL of the root against itself are exact (1 and 0); filling them keeps the root on the plots
        is_root = table["variant_id"] == root_id
        if table["agreement"].notna().any():
            table.loc[is_root & table["agreement"].isna(), "agreement"] = 1.0
        if table["kl"].notna().any():
            table.loc[is_root & table["kl"].isna(), "kl"] = 0.0
    if root_id is not None and len(table):
        # the root first: it is the default base and the reader's anchor
        table = table.assign(_not_root=table["variant_id"] != root_id).sort_values(
            "_not_root", kind="stable").drop(columns="_not_root")
    scenarios = sorted({(b, t) for b, t in zip(table["batch_size"], table["threads"])
                        if b == b and b is not None}, key=lambda s: (s[0] or 0, s[1] or 0))
    multi = len(scenarios) > 1

    def label(row) -> str:
        if not multi or row["batch_size"] != row["batch_size"] or row["batch_size"] is None:
            return str(row["name"])
        threads = "" if row["threads"] is None or row["threads"] != row["threads"] else f" t{int(row['threads'])}"
        return f"{row['name']} bs{int(row['batch_size'])}{threads}"

    table["label"] = [label(r) for _, r in table.iterrows()] if len(table) else []
    table["warnings"] = [json.loads(w) if isinstance(w, str) and w else [] for w in table["warnings"]]
    table["measurement_status"] = [
        ms if isinstance(ms, str) else (vs if vs != "ok" else "not measured")
        for ms, vs in zip(table["measurement_status"], table["variant_status"])]
    return RunData(run=run, table=table.reset_index(drop=True), layers=layers, quality=quality,
                   root_id=root_id, scenarios=scenarios)


def with_ratios(table: pd.DataFrame, base_id: str | None) -> pd.DataFrame:
    """Add `<metric>_ratio` = value / the base variant's value in the same scenario (batch size, threads)."""
    out = table.copy()
    for key in METRICS:
        out[ratio_key(key)] = float("nan")
    if base_id is None or out.empty:
        return out
    base = out[(out["variant_id"] == base_id) & (out["measurement_status"] == "ok")]
    for _, b in base.iterrows():
        same = (out["batch_size"] == b["batch_size"]) & (
            (out["threads"] == b["threads"]) | (out["threads"].isna() & pd.isna(b["threads"])))
        for key in METRICS:
            bv = b[key]
            if bv is None or pd.isna(bv) or bv == 0:
                continue
            out.loc[same, ratio_key(key)] = pd.to_numeric(out.loc[same, key], errors="coerce") / float(bv)
    # a variant with no measurement still has a size: compare it against any base row
    if len(base):
        bsize = base["size_bytes"].iloc[0]
        if bsize:
            missing = out[ratio_key("size_bytes")].isna()
            out.loc[missing, ratio_key("size_bytes")] = pd.to_numeric(out.loc[missing, "size_bytes"]) / bsize
    return out
