"""The timed loop. Kept as lean as a bare `session.run` loop so that harness adds no overhead of its own
(benchmarks/fidelity.py checks this)."""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np


def warmup(step: Callable[[], Any], min_iterations: int, min_duration_s: float) -> int:
    """Run until both minimums are met; returns the iteration count."""
    clock = time.perf_counter
    end = clock() + min_duration_s
    n = 0
    while n < min_iterations or clock() < end:
        step()
        n += 1
    return n


def timed_loop(step: Callable[[], Any], min_iterations: int, min_duration_s: float,
               max_iterations: int | None = None) -> np.ndarray:
    """Per-call latencies in ns, collected until both `min_iterations` and `min_duration_s` are met
    (or `max_iterations` is reached)."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    end = clock() + int(min_duration_s * 1e9)
    limit = max_iterations or 1 << 62
    n = 0
    while True:
        t0 = clock()
        step()
        t1 = clock()
        append(t1 - t0)
        n += 1
        if (n >= min_iterations and t1 >= end) or n >= limit:
            break
    return np.asarray(samples, dtype=np.int64)
