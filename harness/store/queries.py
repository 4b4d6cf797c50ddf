"""Every read and named write of the result store as a function, so no SQL lives outside harness/store/.

Each function takes `db`: a `Store` (one short read-only connection per call), a `ReadSession` (one connection
kept open for many queries, as regress does) or a raw DuckDB connection from `Store.read()`/`Store.write()`.
Row shapes are the tables' columns (harness/store/schema.py) unless a function says otherwise. Only fixed SQL
and known column names are placed in a statement; values always travel as parameters.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

from harness.store.store import ReadSession, Store, utcnow

EXPORT_TABLES = ("runs", "variants", "measurements", "samples", "quality", "layers", "run_boards",
                 "loadgen_results", "layer_profile")


def rows(db, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows as dicts through whichever handle the caller holds."""
    if isinstance(db, (Store, ReadSession)):
        return db.query(sql, params)
    cur = db.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


# -- runs ----------------------------------------------------------------------------------------------------------
def run_row(db, run_id: str) -> dict[str, Any] | None:
    found = rows(db, "SELECT * FROM runs WHERE run_id = ?", [run_id])
    return found[0] if found else None


def run_rows(db, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """run_id, status, tag and created_at of these runs (any order)."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    return rows(db, f"SELECT run_id, status, tag, created_at FROM runs WHERE run_id IN ({marks})", list(run_ids))


def run_ids_with_prefix(db, prefix: str, limit: int = 1) -> list[str]:
    return [r["run_id"] for r in rows(db, "SELECT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id "
                                          "LIMIT ?", [prefix, limit])]


def list_runs(db, tag: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, with the number of variants each run holds."""
    where, params = ("WHERE r.tag = ?", [tag]) if tag else ("", [])
    return rows(db, "SELECT r.run_id, r.created_at, r.status, r.tag, r.model, r.device, r.host, r.git_sha, "
                    "r.environment, (SELECT count(*) FROM variants v WHERE v.run_id = r.run_id) AS variants "
                    f"FROM runs r {where} ORDER BY r.created_at DESC LIMIT ?", [*params, limit])


def previous_runs(db, tag: str, before, device: str, max_runs: int) -> list[dict[str, Any]]:
    """The `max_runs` complete runs with this tag on this device created before `before`, newest first."""
    return rows(db, "SELECT run_id, model, device FROM runs WHERE tag = ? AND status = 'complete' AND created_at < ? "
                    "AND device = ? ORDER BY created_at DESC LIMIT ?", [tag, before, device, max_runs])


# -- variants, measurements, quality --------------------------------------------------------------------------------
def variants_of_run(db, run_id: str, order: str = "created_at") -> list[dict[str, Any]]:
    order_by = {"created_at": "created_at", "name": "name", "created_at, name": "created_at, name"}[order]
    return rows(db, f"SELECT * FROM variants WHERE run_id = ? ORDER BY {order_by}", [run_id])


def measurements_of_run(db, run_id: str) -> list[dict[str, Any]]:
    return rows(db, "SELECT * FROM measurements WHERE run_id = ? ORDER BY batch_size, threads", [run_id])


def measurements_with_variant(db, run_id: str) -> list[dict[str, Any]]:
    """Measurement rows with the variant's name, precision and size (what `harness show` prints)."""
    return rows(db, "SELECT m.*, v.name, v.precision, v.size_bytes FROM measurements m "
                    "JOIN variants v ON v.run_id = m.run_id AND v.variant_id = m.variant_id "
                    "WHERE m.run_id = ? ORDER BY v.created_at, m.batch_size", [run_id])


def quality_of_run(db, run_id: str) -> list[dict[str, Any]]:
    return rows(db, "SELECT variant_id, reference, metric, value, board FROM quality WHERE run_id = ?", [run_id])


def comparison_rows(db, run_id: str) -> tuple[list[dict], list[dict], list[dict]]:
    """(variants, measurements, quality) rows of one run, as harness.core.comparison.against_base takes them."""
    variants = variants_of_run(db, run_id, order="created_at, name")
    measurements = rows(
        db, "SELECT measurement_id, variant_id, status, batch_size, threads, provider, p50_ms, p90_ms, mean_ms, "
            "peak_rss_bytes, maxrss_bytes, device_memory_peak_bytes, energy_per_inference_mj, avg_power_mw, board "
            "FROM measurements WHERE run_id = ?", [run_id])
    quality = rows(db, "SELECT variant_id, reference, metric, value, board FROM quality WHERE run_id = ? AND "
                       "(reference = 'task' OR metric IN ('top1_agreement', 'cosine_similarity'))", [run_id])
    return variants, measurements, quality


def drift_rows(db, run_id: str, reference: str = "root") -> list[dict[str, Any]]:
    """Quality rows of one run against `reference` (base | root) with their detail: the drift of every output
    (harness.core.output_drift.drift_table reads them)."""
    return rows(db, "SELECT variant_id, reference, metric, value, detail, board FROM quality "
                    "WHERE run_id = ? AND reference = ?", [run_id, reference])


def p50_rows_of_runs(db, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """p50 of every ok measurement of these runs with its variant key fields, oldest run first."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    return rows(db, "SELECT r.created_at, v.variant_id, coalesce(v.model, r.model) AS model, v.name, r.device, "
                    "m.batch_size, m.threads, m.provider, m.runtime, m.p50_ms, m.board FROM runs r "
                    "JOIN variants v ON v.run_id = r.run_id "
                    "JOIN measurements m ON m.run_id = v.run_id AND m.variant_id = v.variant_id AND m.status = 'ok' "
                    f"WHERE r.run_id IN ({marks}) ORDER BY r.created_at", list(run_ids))


def table_columns(db, table: str) -> set[str]:
    return {r["column_name"] for r in rows(
        db, "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])}


def metric_series_rows(db, source: str, column: str, variant: str, model: str | None = None, tag: str | None = None,
                       device: str | None = None, batch_size: int | None = None, threads: int | None = None
                       ) -> list[dict[str, Any]]:
    """One metric of a variant across complete runs, oldest first. `source` is 'measurements', 'variants' or
    'quality'; `column` must be a column of that table (or REFERENCE.METRIC for quality) checked by the caller
    against `table_columns`."""
    where = ["r.status = 'complete'", "v.name = ?", "v.status = 'ok'"]
    params: list[Any] = [variant]
    for clause, value in (("coalesce(v.model, r.model) = ?", model), ("r.tag = ?", tag), ("r.device = ?", device)):
        if value:
            where.append(clause)
            params.append(value)
    head = "SELECT r.run_id, r.created_at, r.tag, r.device, coalesce(v.model, r.model) AS model, "
    if source == "measurements":
        if batch_size is not None:
            where.append("m.batch_size = ?")
            params.append(batch_size)
        if threads is not None:
            where.append("m.threads = ?")
            params.append(threads)
        sql = (head + f"m.batch_size, m.threads, m.provider, m.runtime, m.{column} AS value FROM runs r "
               "JOIN variants v ON v.run_id = r.run_id "
               "JOIN measurements m ON m.run_id = v.run_id AND m.variant_id = v.variant_id AND m.status = 'ok' ")
    elif source == "variants":
        sql = head + f"v.{column} AS value FROM runs r JOIN variants v ON v.run_id = r.run_id "
    else:
        reference, _, qmetric = column.partition(".")
        where += ["q.reference = ?", "q.metric = ?"]
        params += [reference, qmetric]
        sql = (head + "q.value AS value FROM runs r JOIN variants v ON v.run_id = r.run_id "
               "JOIN quality q ON q.run_id = v.run_id AND q.variant_id = v.variant_id ")
    return rows(db, sql + f"WHERE {' AND '.join(where)} ORDER BY r.created_at, r.run_id", params)


# -- samples --------------------------------------------------------------------------------------------------------
def sample_columns(db, measurement_ids: Sequence[str]) -> dict[str, Any]:
    """measurement_id, round and latency_ns arrays of these measurements, ordered by (measurement, round, seq).
    A numpy fetch: a nightly compares tens of thousands of samples; Python row dicts would dominate the time."""
    con = db.con if isinstance(db, ReadSession) else db
    marks = ", ".join("?" for _ in measurement_ids)
    return con.execute(
        f"SELECT measurement_id, round, latency_ns FROM samples WHERE measurement_id IN ({marks}) "
        "ORDER BY measurement_id, round, seq", list(measurement_ids)).fetchnumpy()


# -- baselines ------------------------------------------------------------------------------------------------------
def list_baselines(db) -> list[dict[str, Any]]:
    return rows(db, "SELECT b.name, b.run_id, b.set_at, r.tag, r.device, r.model, r.status, r.created_at "
                    "FROM baselines b LEFT JOIN runs r USING (run_id) ORDER BY b.name")


def baseline_exists(db, name: str) -> bool:
    return bool(rows(db, "SELECT name FROM baselines WHERE name = ?", [name]))


def set_baseline(store: Store, name: str, run_ids: str | Sequence[str]) -> str | None:
    """Point `name` at one run or several (newest first; the first is the primary run); returns the primary run it
    pointed at before (None when new). The statements live in `Store.set_baseline` (baselines and baseline_runs)."""
    return store.set_baseline(name, [run_ids] if isinstance(run_ids, str) else list(run_ids))


def delete_baseline(store: Store, name: str) -> None:
    store.remove_baseline(name)


# -- export ---------------------------------------------------------------------------------------------------------
def run_tables_arrow(store: Store, run_id: str, tables: Sequence[str] = EXPORT_TABLES) -> Iterator[tuple[str, Any]]:
    """(table, Arrow table) of one run's rows in each table; samples through their measurements."""
    with store.read() as con:
        for table in tables:
            if table == "samples":
                sql = ("SELECT s.* FROM samples s JOIN measurements m USING (measurement_id) "
                       "WHERE m.run_id = $1 ORDER BY s.measurement_id, s.round, s.seq")
            else:
                sql = f"SELECT * FROM {EXPORT_TABLES[EXPORT_TABLES.index(table)]} WHERE run_id = $1"
            yield table, con.sql(sql, params=[run_id]).to_arrow_table()


# -- the reports' reads (one short read-only connection each; see harness.reports.data) -------------------------
REPORT_RUN_COLUMNS = ("run_id, created_at, finished_at, status, tag, model, device, host, git_sha, harness_version, "
                      "fingerprint, hdf5_path")

REPORT_VARIANT_SQL = """
SELECT v.variant_id, v.name, coalesce(v.model, r.model) AS model, v.format, v.precision, v.base_id, v.root_id,
       v.operation, v.params, v.size_bytes, v.gzip_bytes, v.param_count, v.sparsity,
       v.status AS variant_status, v.error AS variant_error, v.info AS variant_info,
       m.measurement_id, m.batch_size, m.threads, m.provider, m.status AS measurement_status,
       m.error AS measurement_error, m.count, m.cv, m.p50_ms, m.p90_ms, m.p99_ms, m.throughput_sps,
       m.peak_rss_bytes, m.energy_per_inference_mj, m.energy_reason, m.warnings, m.board
FROM variants v JOIN runs r ON r.run_id = v.run_id
LEFT JOIN measurements m ON m.run_id = v.run_id AND m.variant_id = v.variant_id
WHERE v.run_id = ?
ORDER BY v.created_at, v.name, m.batch_size, m.threads
"""


def run_count(con) -> int:
    return con.execute("SELECT count(*) FROM runs").fetchone()[0]


def change_token(con) -> tuple:
    """Cheap summary that changes whenever a run starts, gains a variant or finishes."""
    return tuple(con.execute(
        "SELECT (SELECT count(*) FROM runs), (SELECT max(created_at) FROM runs), "
        "(SELECT count(*) FROM runs WHERE status <> 'running'), (SELECT count(*) FROM variants), "
        "(SELECT count(*) FROM measurements)").fetchone())


def report_runs(con):
    """Cursor over all runs, newest first, with their variant count."""
    return con.execute(
        f"SELECT {REPORT_RUN_COLUMNS}, (SELECT count(*) FROM variants v WHERE v.run_id = r.run_id) AS variants "
        "FROM runs r ORDER BY created_at DESC, run_id")


def report_run(con, run_id: str):
    return con.execute(f"SELECT {REPORT_RUN_COLUMNS} FROM runs WHERE run_id = ?", [run_id])


def report_variant_table(con, run_id: str):
    """Cursor: one row per (variant, scenario); variants with no measurement have NULL measurement columns."""
    return con.execute(REPORT_VARIANT_SQL, [run_id])


def report_quality(con, run_id: str):
    return con.execute("SELECT variant_id, reference, reference_id, metric, value, detail FROM quality "
                       "WHERE run_id = ?", [run_id])


def report_layers(con, run_id: str):
    return con.execute("SELECT variant_id, layer, kind, param_count, zeros, sparsity, change_mean_rel, "
                       "change_max_rel, change_hist FROM layers WHERE run_id = ? ORDER BY variant_id, layer", [run_id])


def latency_range(con, measurement_ids: list[str], upper_quantile: float) -> tuple:
    """(fastest sample ns, `upper_quantile` of all samples ns, sample count) over these measurements."""
    return con.execute(
        "SELECT min(latency_ns), quantile_cont(latency_ns, ?), count(*) FROM samples "
        "WHERE list_contains(?, measurement_id)", [upper_quantile, measurement_ids]).fetchone()


def latency_bins(con, measurement_ids: list[str], lo_ns: float, width_ns: float, bins: int, hi_ns: float) -> list:
    """(measurement_id, bin, count, count above hi_ns) with samples past the last bin counted in it."""
    return con.execute(
        "SELECT measurement_id, least(CAST(floor((latency_ns - ?) / ?) AS INTEGER), ?) AS b, "
        "count(*) AS n, sum(CASE WHEN latency_ns > ? THEN 1 ELSE 0 END) AS over "
        "FROM samples WHERE list_contains(?, measurement_id) GROUP BY ALL",
        [lo_ns, width_ns, bins - 1, hi_ns, measurement_ids]).fetchall()


def latency_moments_ms(con, measurement_id: str) -> tuple:
    """(min, max, count, sum, sum of squares) of one measurement's samples in ms."""
    return con.execute(
        "SELECT min(latency_ns) / 1e6, max(latency_ns) / 1e6, count(*), sum(latency_ns / 1e6), "
        "sum((latency_ns / 1e6) ^ 2) FROM samples WHERE measurement_id = ?", [measurement_id]).fetchone()


def report_history(con, tag: str | None, model: str | None, device: str | None):
    """Cursor: p50 and task accuracy per variant name across complete runs with the same tag, model and device
    (runs without a tag are compared with other untagged runs), oldest first."""
    return con.execute(
        "SELECT r.run_id, r.created_at, v.name, m.batch_size, m.threads, m.p50_ms, "
        "(SELECT max(q.value) FROM quality q WHERE q.run_id = v.run_id AND q.variant_id = v.variant_id "
        " AND q.reference = 'task' AND q.metric = 'accuracy') AS accuracy "
        "FROM runs r JOIN variants v ON v.run_id = r.run_id "
        "JOIN measurements m ON m.run_id = v.run_id AND m.variant_id = v.variant_id AND m.status = 'ok' "
        "WHERE r.status = 'complete' AND r.tag IS NOT DISTINCT FROM ? "
        "AND r.model IS NOT DISTINCT FROM ? AND r.device IS NOT DISTINCT FROM ? "
        "ORDER BY r.created_at, r.run_id", [tag, model, device])


def layer_profile_rows(db, run_id: str) -> list[dict[str, Any]]:
    """The run's per-layer profile: every variant's layers in graph order, each with the FP32 root's time and
    precision for the same layer (NULL for the root itself and for layers the root never ran)."""
    return rows(db, """
        SELECT v.name AS variant, v.variant_id, v.root_id, v.created_at AS variant_created, p.*,
               b.time_ms AS base_time_ms, b.precision AS base_precision, b.ran_as AS base_ran_as
        FROM layer_profile p
        JOIN variants v ON v.run_id = p.run_id AND v.variant_id = p.variant_id
        LEFT JOIN layer_profile b ON b.run_id = p.run_id AND b.variant_id = v.root_id AND b.layer = p.layer
             AND b.variant_id <> p.variant_id
        WHERE p.run_id = ?
        ORDER BY v.created_at, v.name, p.layer_order""", [run_id])
