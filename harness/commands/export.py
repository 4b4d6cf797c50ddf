"""`harness export RUN --format parquet|csv|json|cc|cb`: a run's tables as files for other tools, or the run in
Compress and Compare's models.json layout (cc) or Compression Board's benchmark JSON (cb)."""
from __future__ import annotations

from pathlib import Path

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, add_run_argument,
                                     from_args, store_at)
from harness.core.errors import StoreError, UsageError


def register(sub) -> None:
    p = sub.add_parser("export", help="write a run's tables to parquet, csv or json files")
    add_run_argument(p)
    p.add_argument("--format", choices=["parquet", "csv", "json", "cc", "cb"], default="parquet",
                   help="table files, or cc (a C&C models.json directory) / cb (Compression Board JSON)")
    p.add_argument("-o", "--out", default=".", help="output directory (default: current directory); for cb "
                   "a file name or a directory")
    p.add_argument("--outputs-type", choices=["pickle", "numpy", "json"], default=None,
                   help="cc: file type of the per-instance outputs (C&C's outputs_type; default pickle)")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def run(*, run, db=DEFAULT_DB, format='parquet', lock_timeout=DEFAULT_LOCK_TIMEOUT_S, out='.',
        outputs_type=None) -> int:
    store = store_at(db, lock_timeout)
    run_id = store.resolve_run(run)
    if outputs_type is not None and format != "cc":
        raise UsageError("--outputs-type applies to --format cc only")
    if format in ("cc", "cb"):
        return _export_interop(store, run_id, format, out, outputs_type or "pickle")
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


def _export_interop(store, run_id: str, format: str, out: str, outputs_type: str) -> int:
    if format == "cc":
        from harness.interop.cc import export_cc

        notes = export_cc(store, run_id, out, outputs_type=outputs_type)
        where = Path(out) / "models.json"
    else:
        from harness.interop.cb import export_cb

        where, notes = export_cb(store, run_id, out)
    for note in notes:
        print(f"note: {note}")
    print(where)
    return 0
