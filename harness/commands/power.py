"""`harness power --tegrastats-log FILE`: per-rail mean power, the board total with its rails and scope, the
duration and the energy of a recorded tegrastats log (no board or sensor needed)."""
from __future__ import annotations

import json
import sys

from harness.core.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("power", help="power and energy from a recorded tegrastats log",
                       description="Read a tegrastats log (`tegrastats --interval 100 --logfile F`, with or without "
                                   "timestamps) and print per-rail mean power, the total with its rails and scope, "
                                   "the duration and the energy integrated over time.")
    p.add_argument("--tegrastats-log", required=True, metavar="FILE", help="the recorded tegrastats output")
    p.add_argument("--board", help="board whose documented rails make the total when there is no input rail "
                                   "(nano, tx2, xavier-nx, agx-xavier, orin-nano, orin-nx, agx-orin); default: "
                                   "the input rail, else guessed from the rail names")
    p.add_argument("--interval-ms", type=float,
                   help="sampling interval the log was recorded with (default: from its timestamps, else "
                        "tegrastats' default of 1000 ms)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _mw(v: float | None) -> str:
    return "null" if v is None else f"{v:.0f} mW"


def run(args) -> int:
    from harness.device_profiles.tegrastats_log import summarize_log

    if args.interval_ms is not None and args.interval_ms <= 0:
        raise UsageError(f"--interval-ms must be positive, not {args.interval_ms:g}")
    s = summarize_log(args.tegrastats_log, board=args.board, interval_ms=args.interval_ms)
    if args.json:
        print(json.dumps(s.as_dict(), indent=2))
    else:
        print(f"{s.path}: {s.samples} sample(s) from {s.lines} line(s), {s.malformed_lines} malformed")
        print(f"duration   {s.duration_s:.3f} s  (interval {s.interval_ms:.0f} ms: {s.interval_source})")
        if s.first_timestamp:
            print(f"recorded   {s.first_timestamp} .. {s.last_timestamp}")
        if s.board:
            print(f"board      {s.board} ({s.board_source})")
        print("rail                     mean power")
        for rail, mw in s.rail_mean_power_mw.items():
            print(f"  {rail:<22} {mw:10.0f} mW")
        if s.energy_mj is not None:
            missing = f" (missing: {', '.join(s.total_missing_rails)})" if s.total_missing_rails else ""
            print(f"total      {_mw(s.total_mean_power_mw)} mean, {_mw(s.total_peak_power_mw)} peak  "
                  f"[{s.total_scope}: {' + '.join(s.total_rails or [])}{missing}]")
            print(f"energy     {s.energy_mj:.1f} mJ ({s.energy_mj / 1000:.3f} J) integrated over time")
        else:
            print(f"energy     null: {s.energy_reason}")
        for w in s.warnings:
            print(f"warning: {w}", file=sys.stderr)
    return 0 if s.energy_mj is not None else 1
