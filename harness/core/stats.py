"""Latency statistics and the warnings that say when a figure should not be trusted."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p95_ms": 95.0, "p99_ms": 99.0, "p999_ms": 99.9}
CV_WARN = 0.025


def min_samples_for_percentile(q: float, confidence: float = 0.99, tail: int = 2) -> int:
    """Smallest n such that, with probability >= confidence, at least `tail` of n samples lie above the true
    q-th percentile, so the reported percentile is bounded by real observations rather than by the maximum.
    Gives MLPerf LoadGen's 64 for p90 and 662 for p99 at 0.99 confidence."""
    p_above = 1.0 - q / 100.0
    n = tail
    while True:
        # P(Binomial(n, p_above) < tail)
        miss = sum(math.comb(n, k) * p_above**k * (1 - p_above) ** (n - k) for k in range(tail))
        if miss <= 1.0 - confidence:
            return n
        n += 1


_MIN_SAMPLES = {key: min_samples_for_percentile(q) for key, q in PERCENTILES.items()}


@dataclass(frozen=True)
class LatencyStats:
    count: int
    min_ms: float
    mean_ms: float
    std_ms: float
    cv: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    throughput_ips: float    # calls per second of busy time: count / sum(latencies)
    throughput_sps: float    # samples per second: throughput_ips * batch_size
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("warnings")
        return d


def summarize(latencies_ns: np.ndarray, batch_size: int = 1, cv_warn: float = CV_WARN) -> LatencyStats:
    """Statistics over raw per-call latencies. Percentiles use linear interpolation (numpy's default);
    std is the sample standard deviation (ddof=1)."""
    lat = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    n = int(lat.size)
    if n == 0:
        raise ValueError("no latency samples")
    mean = float(lat.mean())
    std = float(lat.std(ddof=1)) if n > 1 else 0.0
    cv = std / mean if mean > 0 else 0.0
    pct = {key: float(np.percentile(lat, q)) for key, q in PERCENTILES.items()}
    total_s = float(lat.sum()) / 1e3
    ips = n / total_s if total_s > 0 else float("nan")
    warnings = []
    if cv > cv_warn:
        warnings.append(f"high variation: CV {cv:.1%} > {cv_warn:.1%}; the machine may be busy or throttling")
    for key, need in _MIN_SAMPLES.items():
        if n < need:
            warnings.append(f"{key[:-3]} from {n} samples: needs >= {need} for 0.99 confidence")
    return LatencyStats(count=n, min_ms=float(lat.min()), mean_ms=mean, std_ms=std, cv=cv, max_ms=float(lat.max()),
                        throughput_ips=ips, throughput_sps=ips * batch_size, warnings=tuple(warnings), **pct)
