"""`harness export RUN --format parquet|csv|json`: a run's tables as files for other tools."""
from __future__ import annotations

from pathlib import Path

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, add_run_argument,
                                     from_args, store_at)
from harness.core.errors import StoreError



def register(sub) -> None:
    p = sub.add_parser("export", help="write a run's tables to parquet, csv or json files")
    add_run_argument(p)
    p.add_argument("--format", choices=["parquet", "csv", "json"], default="parquet")
    p.add_argument("-o", "--out", default=".", help="output directory (default: current directory)")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def run(*, run, db=DEFAULT_DB, format='parquet', lock_timeout=DEFAULT_LOCK_TIMEOUT_S, out='.') -> int:
    store = store_at(db, lock_timeout)
    run_id = store.resolve_run(run)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create output directory {out}: {exc.strerror}") from None
    written = []
    from harness.store.queries import run_tables_arrow

    for table, arrow in run_tables_arrow(store, run_id):
        path = out / f"{run_id}-{table}.{format}"
        if format == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(arrow, path)
        elif format == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(arrow, path)
        else:
            import json

            with open(path, "w") as f:
                json.dump(arrow.to_pylist(), f, default=str)
        written.append(str(path))
    for w in written:
        print(w)
    return 0
