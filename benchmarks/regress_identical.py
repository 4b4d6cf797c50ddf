"""Identical default runs must not get a latency verdict; a real ~1.5x slowdown must (issue 15, "done means").

As a new user would: `harness bench --tag t` (the digits example, every default), again, then
`harness regress --baseline t@prev --candidate t@latest`, for three back-to-back pairs (runs 1-2, 2-3, 3-4), first
on the machine as it is, then with a noisy neighbour (benchmarks/noisy_neighbour.py: one core burnt in seeded
bursts of 0.2-1.5 s, 0.3-2.3 s apart). Under the same noise, one more run of the same model with graph optimisation
off (`--graph-optimization disable`, a real slowdown of the same variants) is regressed against the last
identical run. Prints, per pair: the exit status, the latency verdicts, whether regress said the host was busy,
and the dispersion warnings the runs carry.

    python benchmarks/regress_identical.py                 # about 10 runs of the digits example
    python benchmarks/regress_identical.py --pairs 1 --no-noisy

Expected: every identical pair exits 0 with no latency check improved or regressed (inconclusive is allowed); the
slowdown exits 1 with latency regressions. Not a test: it prints what happened on this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noisy_neighbour import NoisyNeighbour  # noqa: E402


def harness(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, check=False)


def bench(db: Path, tag: str, *extra: str) -> str:
    done = harness("bench", "--tag", tag, "--db", str(db), "--no-progress", *extra)
    for line in done.stdout.splitlines():
        if line.startswith("run ") and " complete:" in line:
            return line.split()[1]
    raise SystemExit(f"bench failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def warnings_of(db: Path, run_id: str) -> Counter:
    """Dispersion warnings (by kind) across the run's measurements."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT warnings FROM measurements WHERE run_id = ?", [run_id]).fetchall()
    finally:
        con.close()
    kinds: Counter = Counter()
    for (text,) in rows:
        for w in json.loads(text or "[]"):
            kind = w.split(":", 1)[0]
            if kind in ("rounds disagree", "p50 imprecise", "outliers", "high variation", "host busy while timing"):
                kinds[kind] += 1
    return kinds


def regress_pair(db: Path, tag: str, label: str, base: str, cand: str) -> dict:
    done = harness("regress", "--db", str(db), "--baseline", f"{tag}@prev", "--candidate", f"{tag}@latest", "--json")
    report = json.loads(done.stdout)
    latency = [c for c in report["checks"] if c["metric"].startswith("p") and c["metric"].endswith("_ms")]
    verdicts = Counter(c["status"] for c in latency)
    busy = any("host was busy" in n for n in report["notes"]) or any(c["detail"].get("host_busy") for c in latency)
    changes = [c["change"] for c in latency if c["change"] is not None]
    line = (f"{label}: exit {done.returncode}; p50 verdicts {dict(sorted(verdicts.items()))}; "
            f"changes {min(changes):+.1%}..{max(changes):+.1%}; host busy said: {'yes' if busy else 'no'}; "
            f"warnings baseline {dict(warnings_of(db, base)) or 'none'}, candidate {dict(warnings_of(db, cand)) or 'none'}")
    print(line, flush=True)
    return {"exit": done.returncode, "verdicts": verdicts, "busy": busy}


def identical_pairs(db: Path, tag: str, pairs: int, label: str) -> list[dict]:
    out = []
    previous = bench(db, tag)
    for i in range(pairs):
        current = bench(db, tag)
        out.append(regress_pair(db, tag, f"{label} pair {i + 1} ({previous[-4:]} -> {current[-4:]})",
                                previous, current))
        previous = current
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3, help="back-to-back identical pairs per condition (default 3)")
    ap.add_argument("--no-quiet", action="store_true", help="skip the pairs without added load")
    ap.add_argument("--no-noisy", action="store_true", help="skip the pairs (and the slowdown) with the neighbour")
    ap.add_argument("--seed", type=int, default=2, help="seed of the noisy neighbour's bursts")
    ap.add_argument("--workdir", help="keep the database here (default: a temporary directory)")
    args = ap.parse_args()
    t0 = time.monotonic()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        db = work / "identical.duckdb"
        if not args.no_quiet:
            results["quiet"] = identical_pairs(db, "t", args.pairs, "quiet")
        if not args.no_noisy:
            with NoisyNeighbour(seed=args.seed, seconds=7200):
                results["noisy"] = identical_pairs(db, "tn", args.pairs, "noisy")
                last = bench(db, "tn", "--graph-optimization", "disable")
                slow = regress_pair(db, "tn", "noisy slowdown (graph optimisation off)",
                                    _run_before(db, last), last)
                results["slowdown"] = [slow]
    print()
    for name in ("quiet", "noisy"):
        if name in results:
            rs = results[name]
            flagged = sum(r["verdicts"].get("regressed", 0) + r["verdicts"].get("improved", 0) for r in rs)
            print(f"{name}: {len(rs)} identical pairs, exit codes {[r['exit'] for r in rs]}, latency checks flagged "
                  f"either way {flagged}, inconclusive {sum(r['verdicts'].get('inconclusive', 0) for r in rs)}, "
                  f"host busy said in {sum(r['busy'] for r in rs)} of {len(rs)}")
    if "slowdown" in results:
        s = results["slowdown"][0]
        print(f"slowdown: exit {s['exit']}, {s['verdicts'].get('regressed', 0)} latency checks regressed of "
              f"{sum(s['verdicts'].values())} ({dict(s['verdicts'])})")
    print(f"elapsed {time.monotonic() - t0:.0f} s; host: {os.cpu_count()} CPUs, load average at the end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


def _run_before(db: Path, run_id: str) -> str:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT run_id FROM runs WHERE tag = 'tn' AND status = 'complete' AND run_id <> ? "
                           "ORDER BY created_at DESC LIMIT 1", [run_id]).fetchall()
    finally:
        con.close()
    return rows[0][0]


if __name__ == "__main__":
    raise SystemExit(main())
