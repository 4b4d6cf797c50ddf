"""`harness import cc PATH` / `harness import cb FILE.json`: bring Compress and Compare's models.json and
Compression Board's benchmark JSON into the store, each as one run."""
from __future__ import annotations

from harness.commands.common import add_db_argument, open_store


def register(sub) -> None:
    p = sub.add_parser("import", help="import Compress and Compare models.json or Compression Board JSON as a run",
                       description="Each file becomes one run with variants, provenance and metrics; see "
                                   "`harness runs` afterwards.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    cc = kinds.add_parser("cc", help="a Compress and Compare models.json (or the directory holding it)")
    cc.add_argument("path", metavar="PATH", help="models.json or its directory")
    cb = kinds.add_parser("cb", help="a Compression Board benchmark JSON file")
    cb.add_argument("path", metavar="FILE.json")
    for q in (cc, cb):
        q.add_argument("--tag", help="label for the imported run")
        add_db_argument(q)
        q.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args)
    if args.kind == "cc":
        from harness.interop.cc import import_cc

        result = import_cc(store, args.path, tag=args.tag)
        what = "Compress and Compare"
    else:
        from harness.interop.cb import import_cb

        result = import_cb(store, args.path, tag=args.tag)
        what = "Compression Board"
    for note in result.notes:
        print(f"note: {note}")
    print(f"run {result.run_id}: {result.models} model(s) imported from {what} file {args.path}; "
          f"see `harness show {result.run_id} --db {args.db}`")
    return 0
