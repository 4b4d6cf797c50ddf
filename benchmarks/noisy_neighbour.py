"""A noisy neighbour for the regress benchmarks: one core burnt in bursts, as another job on a shared CI runner.

Bursts of 0.2-1.5 s busy, then 0.3-2.3 s idle, drawn from a seeded generator; the process stops by itself after
`--seconds` (and also when its parent dies), so a crashed benchmark never leaves it burning a core.

    python benchmarks/noisy_neighbour.py --seconds 60 --seed 1      # stand-alone
    with NoisyNeighbour(seed=1, seconds=600): ...                  # from another benchmark script
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

BUSY_S = (0.2, 1.5)
IDLE_S = (0.3, 2.3)


def burn(seconds: float, seed: int, parent: int | None = None) -> int:
    """Alternate busy and idle periods until `seconds` have passed or the parent process is gone."""
    rng = random.Random(seed)
    stop_at = time.monotonic() + seconds
    busy_total = 0.0
    while time.monotonic() < stop_at:
        if parent is not None and os.getppid() != parent:
            break                                    # the benchmark that started us is gone
        busy = rng.uniform(*BUSY_S)
        end = min(time.monotonic() + busy, stop_at)
        x = 0
        while time.monotonic() < end:                # pure-Python spin: one core, no memory traffic to speak of
            for _ in range(2000):
                x += 1
        busy_total += busy
        time.sleep(max(0.0, min(rng.uniform(*IDLE_S), stop_at - time.monotonic())))
    return 0


class NoisyNeighbour:
    """Context manager running `burn` in a child process; stopped (by its pid) on exit."""

    def __init__(self, seed: int = 0, seconds: float = 900.0):
        self.seed = seed
        self.seconds = seconds
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "NoisyNeighbour":
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--seconds", str(self.seconds),
                                      "--seed", str(self.seed), "--parent", str(os.getpid())])
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="stop after this long (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parent", type=int, help="stop when this process is no longer our parent")
    args = ap.parse_args()
    return burn(args.seconds, args.seed, args.parent)


if __name__ == "__main__":
    raise SystemExit(main())
