"""Store questions and writes of fleet runs (`harness bench --cluster`): one run, many boards.

The head process is the only writer: every board's records arrive at the head and are written here, one
transaction per board, so a board that fails later cannot take another board's results with it.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from harness.store.store import Store, utcnow


def create_run_board(store: Store, row: dict[str, Any]) -> None:
    """Record that `row["board"]` takes part in `row["run_id"]` (status running)."""
    with store.write() as con:
        store.insert_rows(con, "run_boards", [row])


def finish_run_board(store: Store, run_id: str, board: str, status: str, error: str | None = None,
                     **fields: Any) -> None:
    fields = {"status": status, "error": error, "finished_at": utcnow(), **fields}
    sets = ", ".join(f"{k} = ?" for k in fields)
    with store.write() as con:
        con.execute(f"UPDATE run_boards SET {sets} WHERE run_id = ? AND board = ?", [*fields.values(), run_id, board])


def write_board_records(store: Store, run_id: str, variants: Sequence[dict[str, Any]],
                        measurements: Sequence[dict[str, Any]], samples: Iterable[tuple[str, Sequence]],
                        quality: Sequence[dict[str, Any]], layers: Sequence[dict[str, Any]]) -> int:
    """Write one board's records in one transaction. Variant and layer rows already stored for this run (the
    variants the head exported, whose layer statistics do not depend on the board) are skipped.
    Returns the number of rows written (samples included)."""
    with store.write() as con:
        have = {r[0] for r in con.execute("SELECT variant_id FROM variants WHERE run_id = ?", [run_id]).fetchall()}
        new_variants = [v for v in variants if v["variant_id"] not in have]
        have_layers = {r[0] for r in con.execute("SELECT DISTINCT variant_id FROM layers WHERE run_id = ?",
                                                 [run_id]).fetchall()}
        new_layers = [r for r in layers if r["variant_id"] not in have_layers]
        store.insert_rows(con, "variants", new_variants)
        store.insert_rows(con, "measurements", list(measurements))
        count = len(new_variants) + len(measurements) + len(quality) + len(new_layers)
        count += _insert_all_samples(con, samples)
        store.insert_rows(con, "quality", list(quality))
        store.insert_rows(con, "layers", new_layers)
    return count


def _insert_all_samples(con, samples: Iterable[tuple[str, Sequence]]) -> int:
    """Every measurement's raw samples of one board in one Arrow table: one INSERT per board, not one per
    measurement (the per-statement cost dominates for the many short measurements of a fleet)."""
    import numpy as np
    import pyarrow as pa

    ids, rounds_col, seqs, lats = [], [], [], []
    for measurement_id, rounds in samples:
        for i, r in enumerate(rounds):
            lat = np.asarray(r, dtype=np.int64)
            if not lat.size:
                continue
            ids.append(np.full(lat.size, measurement_id, dtype=object))
            rounds_col.append(np.full(lat.size, i, dtype=np.int32))
            seqs.append(np.arange(lat.size, dtype=np.int32))
            lats.append(lat)
    if not lats:
        return 0
    table = pa.table({"measurement_id": pa.array(np.concatenate(ids), pa.string()),
                      "round": np.concatenate(rounds_col), "seq": np.concatenate(seqs),
                      "latency_ns": np.concatenate(lats)})
    con.register("_harness_fleet_samples", table)
    try:
        con.execute("INSERT INTO samples SELECT measurement_id, round, seq, latency_ns FROM _harness_fleet_samples")
    finally:
        con.unregister("_harness_fleet_samples")
    return table.num_rows


def insert_variants(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    with store.write() as con:
        store.insert_rows(con, "variants", list(rows))


def run_boards(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The boards of a run with their status and reason, by board name (empty for a single-machine run)."""
    return store.query("SELECT run_id, board, node, host, device, harness_version, status, error, fingerprint, "
                       "hdf5_path, started_at, finished_at FROM run_boards WHERE run_id = ? ORDER BY board",
                       [run_id])


def failed_boards(store: Store, run_id: str) -> list[str]:
    """Boards of a run whose bench did not complete (node died, unreachable, version refused, nothing measured)."""
    rows = store.query("SELECT board FROM run_boards WHERE run_id = ? AND status <> 'complete' ORDER BY board",
                       [run_id])
    return [r["board"] for r in rows]


def measured_boards(store: Store, run_id: str) -> list[str]:
    """Boards with at least one measurement in the run, in name order."""
    rows = store.query("SELECT DISTINCT board FROM measurements WHERE run_id = ? AND board IS NOT NULL "
                       "ORDER BY board", [run_id])
    return [r["board"] for r in rows]
