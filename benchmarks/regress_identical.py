"""Identical default runs must not get a latency verdict; a real ~1.5x slowdown must (issue 15, "done means").

As a new user would: `harness bench --tag t` (the digits example, every default), again, then
`harness regress --baseline t@prev --candidate t@latest`, for three back-to-back pairs (runs 1-2, 2-3, 3-4), on the
machine as it is and (tag tn) with a noisy neighbour (benchmarks/noisy_neighbour.py: one core burnt in seeded
bursts of 0.2-1.5 s, 0.3-2.3 s apart) running during the bench. Under the same noise, one run of the same model with
graph optimisation off (`--graph-optimization disable`, tag tslow: a real slowdown of the same variants) is
regressed against the latest noisy identical run. The two conditions are interleaved so that the first pair of
each and the slowdown come early. Prints, per pair: the exit status, the latency verdicts, whether regress said the host was busy,
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
    from harness.store import Store, queries

    kinds: Counter = Counter()
    for text in (m["warnings"] for m in queries.measurements_of_run(Store(db), run_id)):
        for w in json.loads(text or "[]"):
            kind = w.split(":", 1)[0]
            if kind in ("rounds disagree", "p50 imprecise", "outliers", "high variation", "host busy while timing"):
                kinds[kind] += 1
    return kinds


def regress_pair(db: Path, tag: str, label: str, base: str, cand: str) -> dict:
    """`harness regress --baseline TAG@prev --candidate TAG@latest`, as a user runs it right after a bench."""
    return _regress(db, label, base, cand, f"{tag}@prev", f"{tag}@latest")


def regress_runs(db: Path, label: str, base: str, cand: str) -> dict:
    return _regress(db, label, base, cand, base, cand)


def _regress(db: Path, label: str, base: str, cand: str, base_ref: str, cand_ref: str) -> dict:
    done = harness("regress", "--db", str(db), "--baseline", base_ref, "--candidate", cand_ref, "--json")
    report = json.loads(done.stdout)
    latency = [c for c in report["checks"] if c["metric"].startswith("p") and c["metric"].endswith("_ms")]
    verdicts = Counter(c["status"] for c in latency)
    # what a reader of the report sees: the notes (the bench's own host-load warnings repeated there) or a message
    busy = any("host busy" in n or "host was busy" in n for n in report["notes"]) or any(
        "host busy" in c["message"] for c in latency)
    changes = [c["change"] for c in latency if c["change"] is not None]
    line = (f"{label}: exit {done.returncode}; p50 verdicts {dict(sorted(verdicts.items()))}; "
            f"changes {min(changes):+.1%}..{max(changes):+.1%}; host busy said: {'yes' if busy else 'no'}; "
            f"warnings baseline {dict(warnings_of(db, base)) or 'none'}, candidate {dict(warnings_of(db, cand)) or 'none'}")
    print(line, flush=True)
    return {"exit": done.returncode, "verdicts": verdicts, "busy": busy}


def complete_runs(db: Path, tag: str) -> list[str]:
    """Complete runs of `tag`, oldest first (a --workdir from an interrupted invocation is resumed)."""
    from harness.store import Store, queries

    if not db.exists():
        return []
    newest_first = queries.list_runs(Store(db), tag, limit=1_000_000)
    return [r["run_id"] for r in reversed(newest_first) if r["status"] == "complete"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3, help="back-to-back identical pairs per condition (default 3)")
    ap.add_argument("--no-quiet", action="store_true", help="skip the pairs without added load")
    ap.add_argument("--no-noisy", action="store_true", help="skip the pairs (and the slowdown) with the neighbour")
    ap.add_argument("--seed", type=int, default=2, help="seed of the noisy neighbour's bursts")
    ap.add_argument("--workdir", help="keep the database here (default: a temporary directory); runs already in it "
                                      "are reused, so an interrupted invocation can be resumed")
    args = ap.parse_args()
    t0 = time.monotonic()
    results: dict[str, list[dict]] = {"quiet": [], "noisy": [], "slowdown": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        db = work / "identical.duckdb"
        # Interleaved, so that the first pair of each condition and the slowdown come early on a slow machine:
        # noisy run, quiet run, noisy run (pair), quiet run (pair), slowdown under noise, then the other pairs.
        chains = {"quiet": ("t", False), "noisy": ("tn", True)}
        wanted = [] if args.no_noisy else ["noisy"]
        wanted += [] if args.no_quiet else ["quiet"]
        done = {name: complete_runs(db, chains[name][0]) for name in wanted}
        for name in wanted:           # pairs a resumed database already holds
            runs = done[name]
            for a, b in zip(runs, runs[1:]):
                if len(results[name]) < args.pairs:
                    results[name].append(regress_runs(db, f"{name} pair {len(results[name]) + 1} "
                                                          f"({a[-4:]} -> {b[-4:]}, resumed)", a, b))
        slow_done = complete_runs(db, "tslow")
        while True:
            progressed = False
            for name in wanted:
                if len(results[name]) >= args.pairs and done[name]:
                    continue
                tag, noisy = chains[name]
                with NoisyNeighbour(seed=args.seed + len(done[name]), seconds=3600) if noisy else _Nothing():
                    run_id = bench(db, tag)
                if done[name]:
                    results[name].append(regress_pair(db, tag, f"{name} pair {len(results[name]) + 1} "
                                                               f"({done[name][-1][-4:]} -> {run_id[-4:]})",
                                                      done[name][-1], run_id))
                done[name].append(run_id)
                progressed = True
                if name == "noisy" and not results["slowdown"] and results["noisy"]:
                    with NoisyNeighbour(seed=args.seed + 100, seconds=3600):
                        slow = slow_done[-1] if slow_done else bench(db, "tslow", "--graph-optimization", "disable")
                    results["slowdown"].append(regress_runs(db, "noisy slowdown (graph optimisation off)",
                                                            done["noisy"][-1], slow))
            if not progressed:
                break
    print()
    for name in ("quiet", "noisy"):
        rs = results[name]
        if rs:
            flagged = sum(r["verdicts"].get("regressed", 0) + r["verdicts"].get("improved", 0) for r in rs)
            print(f"{name}: {len(rs)} identical pairs, exit codes {[r['exit'] for r in rs]}, latency checks flagged "
                  f"either way {flagged}, inconclusive {sum(r['verdicts'].get('inconclusive', 0) for r in rs)}, "
                  f"host busy said in {sum(r['busy'] for r in rs)} of {len(rs)}")
    for s in results["slowdown"]:
        print(f"slowdown: exit {s['exit']}, {s['verdicts'].get('regressed', 0)} latency checks regressed of "
              f"{sum(s['verdicts'].values())} ({dict(s['verdicts'])})")
    print(f"elapsed {time.monotonic() - t0:.0f} s; host: {os.cpu_count()} CPUs, load average at the end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
