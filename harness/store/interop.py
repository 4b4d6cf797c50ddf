"""Named store questions and writes for the interop features: imported runs (Compress and Compare, Compression
Board), runs kept by `harness.monitor.LocalModelMonitor`, user metrics and their definitions, training curves
and per-layer activation similarity. All SQL for those lives here.
"""
from __future__ import annotations

from typing import Any, Sequence

from harness.store.store import Store, utcnow

# tables that hold one run's rows, in the order a run is deleted (children first)
_RUN_TABLES = ("user_metrics", "metric_defs", "operation_defs", "curves", "activations", "quality", "layers")


def write_run(store: Store, run: dict[str, Any], variants: Sequence[dict[str, Any]], *,
              measurements: Sequence[dict[str, Any]] = (), quality: Sequence[dict[str, Any]] = (),
              metric_defs: Sequence[dict[str, Any]] = (), operation_defs: Sequence[dict[str, Any]] = (),
              user_metrics: Sequence[dict[str, Any]] = (), curves: Sequence[dict[str, Any]] = ()) -> None:
    """A whole run (an import) in one transaction: either all of it lands or none."""
    store.migrate()
    with store.write() as con:
        store.insert_rows(con, "runs", [run])
        for table, rows in (("variants", variants), ("measurements", measurements), ("quality", quality),
                            ("metric_defs", metric_defs), ("operation_defs", operation_defs),
                            ("user_metrics", user_metrics), ("curves", curves)):
            _insert_uniform(store, con, table, rows)


def _insert_uniform(store: Store, con, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """insert_rows takes the columns of the first row; rows built field by field may differ, so group them."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r), []).append(r)
    for group in groups.values():
        store.insert_rows(con, table, group)


def ensure_run(store: Store, run: dict[str, Any]) -> bool:
    """Create the run when it does not exist yet; returns whether it was created."""
    store.migrate()
    with store.write() as con:
        exists = con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run["run_id"]]).fetchall()[0][0]
        if exists:
            con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [utcnow(), run["run_id"]])
            return False
        store.insert_rows(con, "runs", [run])
        return True


def replace_variant(store: Store, run_id: str, variant: dict[str, Any], user_metrics: Sequence[dict[str, Any]],
                    metric_defs: Sequence[dict[str, Any]], operation_defs: Sequence[dict[str, Any]]) -> None:
    """Write one model of a monitor run, replacing an earlier save of the same id (as models.json does), and
    the run's current metric and operation definitions."""
    vid = variant["variant_id"]
    with store.write() as con:
        # curves are logged separately (during training) and survive a re-save of the model
        for table in ("variants", "user_metrics"):
            con.execute(f"DELETE FROM {table} WHERE run_id = ? AND variant_id = ?", [run_id, vid])
        con.execute("DELETE FROM metric_defs WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM operation_defs WHERE run_id = ?", [run_id])
        store.insert_rows(con, "variants", [variant])
        _insert_uniform(store, con, "user_metrics", user_metrics)
        _insert_uniform(store, con, "metric_defs", metric_defs)
        _insert_uniform(store, con, "operation_defs", operation_defs)
        con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [utcnow(), run_id])


def add_curve_points(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        with store.write() as con:
            store.insert_rows(con, "curves", list(rows))


def add_user_data(store: Store, run_id: str, *, metric_defs: Sequence[dict[str, Any]] = (),
                  operation_defs: Sequence[dict[str, Any]] = (), user_metrics: Sequence[dict[str, Any]] = (),
                  tags: dict[str, str] | None = None) -> None:
    """Attach what a training script logged (metrics, their definitions, operation specs, tags) to a run,
    e.g. the run that `harness bench --monitor` just measured."""
    with store.write() as con:
        _insert_uniform(store, con, "metric_defs", metric_defs)
        _insert_uniform(store, con, "operation_defs", operation_defs)
        _insert_uniform(store, con, "user_metrics", user_metrics)
        for vid, tag in (tags or {}).items():
            con.execute("UPDATE variants SET tag = ? WHERE run_id = ? AND variant_id = ?", [tag, run_id, vid])


# -- questions -------------------------------------------------------------------------------------------------
def run_row(store: Store, run_id: str) -> dict[str, Any]:
    return store.query("SELECT * FROM runs WHERE run_id = ?", [run_id])[0]


def variants(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM variants WHERE run_id = ? ORDER BY created_at, name", [run_id])


def measurements(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query("SELECT * EXCLUDE (sensors) FROM measurements WHERE run_id = ? "
                       "ORDER BY variant_id, batch_size, threads", [run_id])


def quality(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM quality WHERE run_id = ?", [run_id])


def user_metrics(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query("SELECT variant_id, name, value, raw, source FROM user_metrics WHERE run_id = ? "
                       "ORDER BY variant_id, name", [run_id])


def metric_defs(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query("SELECT name, is_primary, format, unit, min, max, extra FROM metric_defs WHERE run_id = ? "
                       "ORDER BY rowid", [run_id])


def operation_defs(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query("SELECT name, parameters, extra FROM operation_defs WHERE run_id = ? ORDER BY rowid",
                       [run_id])


def curves(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.query("SELECT variant_id, split, metric, step, value FROM curves WHERE run_id = ? "
                       "ORDER BY variant_id, split, metric, step", [run_id])


def activations(store: Store, run_id: str, variant_id: str | None = None) -> list[dict[str, Any]]:
    if variant_id is None:
        return store.query("SELECT * FROM activations WHERE run_id = ? ORDER BY variant_id, rowid", [run_id])
    return store.query("SELECT * FROM activations WHERE run_id = ? AND variant_id = ? ORDER BY rowid",
                       [run_id, variant_id])


def sample_latencies_ms(store: Store, measurement_id: str) -> list[float]:
    rows = store.query("SELECT latency_ns FROM samples WHERE measurement_id = ? ORDER BY round, seq",
                       [measurement_id])
    return [r["latency_ns"] / 1e6 for r in rows]
