"""What a board sends back to the head: the rows its bench engine would have written.

A board never opens the head's DuckDB file (DuckDB allows one writer, and the file is not on the board). The bench
engine on a board writes into a `RecordingStore` instead, which keeps the rows in memory with the same calls the
DuckDB store takes; the head then writes them (harness.store.fleet.write_board_records).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from harness.store.store import utcnow

TABLES = ("variants", "measurements", "quality", "layers")


@dataclass
class BoardRecords:
    """One board's results: rows per table, raw samples per measurement, its run row and status."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in TABLES})
    samples: list[tuple[str, list[np.ndarray]]] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    def row_count(self) -> int:
        return sum(len(rows) for rows in self.tables.values()) + sum(len(r) for _, rr in self.samples for r in rr)


class RecordingStore:
    """Takes the bench engine's store calls (create_run, write/insert_rows/insert_samples, update_run, finish_run)
    and keeps the rows; nothing touches a file."""

    def __init__(self) -> None:
        self.records = BoardRecords()

    def migrate(self, target: int | None = None) -> int:
        return 0

    @contextlib.contextmanager
    def write(self) -> Iterator["RecordingStore"]:
        # rows of a transaction that raises are dropped, as a rolled-back DuckDB transaction would be
        saved = ({t: list(r) for t, r in self.records.tables.items()}, list(self.records.samples))
        try:
            yield self
        except BaseException:
            self.records.tables, self.records.samples = saved
            raise

    def insert_rows(self, con, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if table == "runs":
            self.records.run.update(rows[0])
            return
        self.records.tables.setdefault(table, []).extend(dict(r) for r in rows)

    def insert_samples(self, con, measurement_id: str, rounds: Sequence[Sequence[int]]) -> None:
        self.records.samples.append((measurement_id, [np.asarray(r, dtype=np.int64) for r in rounds]))

    def create_run(self, row: dict[str, Any]) -> None:
        self.records.run.update(row)

    def update_run(self, run_id: str, **fields: Any) -> None:
        self.records.run.update(fields)

    def finish_run(self, run_id: str, status: str) -> None:
        self.records.run.update(status=status, finished_at=utcnow())
