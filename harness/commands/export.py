"""`harness export RUN --format parquet|csv|json`: a run's tables as files for other tools."""
from __future__ import annotations

from pathlib import Path

from harness.commands.common import add_db_argument, add_run_argument, open_store
from harness.errors import StoreError

TABLES = ("runs", "variants", "measurements", "samples", "quality", "layers", "run_boards")


def register(sub) -> None:
    p = sub.add_parser("export", help="write a run's tables to parquet, csv or json files")
    add_run_argument(p)
    p.add_argument("--format", choices=["parquet", "csv", "json"], default="parquet")
    p.add_argument("-o", "--out", default=".", help="output directory (default: current directory)")
    add_db_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args)
    run_id = store.resolve_run(args.run)
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
