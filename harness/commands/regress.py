"""`harness regress`: the nightly verdict. Exit 0 pass (inconclusive latency changes included), 1 regression (or
environment change with --strict), 2 usage error."""
from __future__ import annotations

from pathlib import Path

from harness.commands.common import (DEFAULT_DB, DEFAULT_LOCK_TIMEOUT_S, add_db_argument, from_args, print_json,
                                     store_at)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "regress", help="compare a candidate run against a baseline and exit non-zero on a regression",
        description="Compare every variant of a candidate run with the same variant (by name, device and scenario) "
                    "in a baseline of one or more runs. Latency needs a significant change on the raw samples, a "
                    "minimum effect size AND a change larger than the spread between the rounds of the runs (or, "
                    "with several baseline runs, between those runs); a change that the spread (or a busy host) "
                    "can explain is reported as inconclusive, which does not fail. Size, memory, energy, "
                    "accuracy and drift use thresholds from the gate file. Exit 0 pass, 1 regression, 2 usage "
                    "error.")
    p.add_argument("--baseline", required=True, metavar="REF",
                   help="run id (or prefix), TAG@latest, TAG@prev, TAG@N, latest, a baseline name, or TAG@lastN "
                        "(the N newest complete runs of TAG before the candidate, pooled)")
    p.add_argument("--candidate", required=True, metavar="REF", help="same forms as --baseline")
    p.add_argument("--gates", metavar="FILE.toml", help="gate file merged over the defaults "
                   "(see harness/regress/default_gates.toml)")
    p.add_argument("--strict", action="store_true",
                   help="fail when the environments differ (device, power mode, clocks, versions, threads, providers)")
    p.add_argument("--markdown", metavar="FILE", help="also write the report as Markdown")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one testcase per variant and metric)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    add_db_argument(p)
    p.set_defaults(func=from_args(run))


def _write(path: str, text: str) -> None:
    from harness.core.errors import UsageError

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def run(
        *, baseline, candidate, db=DEFAULT_DB, gates=None, json=False, junit=None, lock_timeout=DEFAULT_LOCK_TIMEOUT_S,
        markdown=None, strict=False) -> int:
    from harness.regress.check import regress
    from harness.regress.gates import load_gates
    from harness.regress.report import render_junit, render_markdown, render_text

    gates = load_gates(gates)          # a bad gate file is a usage error before anything is read
    report = regress(store_at(db, lock_timeout), baseline, candidate, gates, strict=strict)
    if markdown:
        _write(markdown, render_markdown(report))
    if junit:
        _write(junit, render_junit(report))
    if json:
        print_json(report.as_dict())
    else:
        print(render_text(report), end="")
    return report.exit_code
