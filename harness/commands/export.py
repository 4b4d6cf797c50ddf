"""`harness export RUN --format parquet|csv|json|cc|cb`: a run's tables as files for other tools, or the run in
Compress and Compare's models.json layout (cc) or Compression Board's benchmark JSON (cb)."""
from __future__ import annotations

from pathlib import Path

from harness.commands.common import add_db_argument, add_run_argument, open_store
from harness.errors import StoreError, UsageError

TABLES = ("runs", "variants", "measurements", "samples", "quality", "layers")


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
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args)
    run_id = store.resolve_run(args.run)
    if args.outputs_type is not None and args.format != "cc":
        raise UsageError("--outputs-type applies to --format cc only")
    if args.format in ("cc", "cb"):
        return _export_interop(store, run_id, args)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create output directory {out}: {exc.strerror}") from None
    written = []
    with store.read() as con:
        for table in TABLES:
            if table == "samples":
                sql = ("SELECT s.* FROM samples s JOIN measurements m USING (measurement_id) "
                       "WHERE m.run_id = $1 ORDER BY s.measurement_id, s.round, s.seq")
            else:
                sql = f"SELECT * FROM {table} WHERE run_id = $1"
            arrow = con.sql(sql, params=[run_id]).to_arrow_table()
            path = out / f"{run_id}-{table}.{args.format}"
            if args.format == "parquet":
                import pyarrow.parquet as pq

                pq.write_table(arrow, path)
            elif args.format == "csv":
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


def _export_interop(store, run_id: str, args) -> int:
    if args.format == "cc":
        from harness.interop.cc import export_cc

        notes = export_cc(store, run_id, args.out, outputs_type=args.outputs_type or "pickle")
        where = Path(args.out) / "models.json"
    else:
        from harness.interop.cb import export_cb

        where, notes = export_cb(store, run_id, args.out)
    for note in notes:
        print(f"note: {note}")
    print(where)
    return 0
