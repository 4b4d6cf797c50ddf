"""Latency statistics and the warnings that say when a figure should not be trusted.

Per-call latencies of a fast model have a heavy right tail (interrupts, page faults, a neighbour's time slice):
at ~25 us a single 1 ms hiccup moves the standard deviation more than ten thousand ordinary calls do, so the CV
is large on every machine and says nothing about whether the reported figures can be trusted. It is kept as a
number; the warnings come from what threatens a reported figure (see `dispersion`):

* the rounds of one measurement disagree about the median by more than the effect size regress cares about,
* the per-call spread (IQR relative to the median) is so wide for the number of calls that the p50 itself is
  not pinned down to that effect size,
* so many calls are far outliers (beyond Tukey's far fence and 1.5x the median) that a reported tail percentile
  lies among them (it then measures the interruptions, not the model).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p95_ms": 95.0, "p99_ms": 99.0, "p999_ms": 99.9}
# the smallest relative change of p50 that regress flags by default (default_gates.toml): a figure less steady
# than this cannot be used to tell such a change apart
EFFECT_REL = 0.05
OUTLIER_FENCE_IQR = 3.0      # Tukey's "far out" fence: above Q3 + 3 IQR ...
# ... and at least this many times the median: a fast model's latencies can have an IQR of 2 % of the median, and
# a call 8 % slower than the median is its own behaviour (a cache state), not an interruption
OUTLIER_MIN_REL = 1.5
TAIL_CHECKED = {"p90_ms": 0.90, "p99_ms": 0.99}
ROUND_TRIM = 0.2             # share of the fastest and of the slowest rounds left out of the round spread


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


def summarize(latencies_ns: np.ndarray, batch_size: int = 1, cv_warn: float | None = None) -> LatencyStats:
    """Statistics over raw per-call latencies. Percentiles use linear interpolation (numpy's default);
    std is the sample standard deviation (ddof=1). The CV is only warned about when `cv_warn` is given (it is
    not by default: see the module docstring); the dispersion warnings come from `dispersion`."""
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
    if cv_warn is not None and cv > cv_warn:
        warnings.append(f"high variation: CV {cv:.1%} > {cv_warn:.1%}; the machine may be busy or throttling")
    for key, need in _MIN_SAMPLES.items():
        if n < need:
            warnings.append(f"{key[:-3]} from {n} samples: needs >= {need} for 0.99 confidence")
    return LatencyStats(count=n, min_ms=float(lat.min()), mean_ms=mean, std_ms=std, cv=cv, max_ms=float(lat.max()),
                        throughput_ips=ips, throughput_sps=ips * batch_size, warnings=tuple(warnings), **pct)


@dataclass(frozen=True)
class Dispersion:
    """Robust spread of one measurement's latencies, and the warnings it deserves."""

    iqr_rel: float               # (p75 - p25) / p50 of all calls
    mad_rel: float               # median absolute deviation / p50 (unscaled)
    outlier_fraction: float      # share of calls above max(Q3 + 3 IQR, 1.5 x median) (slow outliers)
    round_spread: float | None   # slowest round median / fastest - 1 (trimmed, see round_spread); None: one round
    p50_precision_rel: float     # 95 % half-width of p50 if calls were independent (a lower bound), relative
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("warnings")
        d.pop("p50_precision_rel")
        return d


def trimmed_spread(values) -> float | None:
    """max / min - 1 of `values` after dropping the lowest and highest fifth of them (nothing dropped with fewer
    than 5 values): the spread that a median over them can feel. None with fewer than two positive values."""
    v = np.sort(np.asarray([x for x in values if x is not None and x > 0], dtype=np.float64))
    if len(v) < 2:
        return None
    cut = int(len(v) * ROUND_TRIM)
    if len(v) - 2 * cut >= 2:
        v = v[cut:len(v) - cut]
    return float(v[-1] / v[0] - 1.0)


def round_spread(rounds) -> float | None:
    """Spread of the round medians (trimmed_spread): slowest over fastest minus 1, leaving out the fastest and
    slowest fifth of the rounds when there are 5 or more (one round hit by a neighbour's burst out of 10 does not
    make the run's median unreproducible). None with fewer than two non-empty rounds."""
    return trimmed_spread([float(np.median(r)) for r in rounds if len(r)])


def dispersion(rounds, effect_rel: float = EFFECT_REL) -> Dispersion:
    """Robust spread, outliers and round agreement of a measurement given as rounds of raw latencies (any unit).

    Warned about only when they threaten a reported figure:
    * rounds disagree: the round medians differ by more than `effect_rel`, so p50 is not reproducible to the
      effect size (the rounds are the independent units; calls within a round are not);
    * p50 imprecise: even treating calls as independent (which flatters it), the per-call spread and count pin
      p50 down only to more than +-`effect_rel` (95 %: 1.96 x 1.2533 x sigma / sqrt(n), sigma = IQR / 1.349);
    * outliers in the tail: more calls lie beyond the far fence than the tail above p90/p99 holds, allowing for
      the count (the tail share plus 2.576 binomial standard errors), so that percentile is itself an outlier.
    """
    parts = [np.asarray(r, dtype=np.float64) for r in rounds]
    parts = [r for r in parts if r.size]
    if not parts:
        raise ValueError("no latency samples")
    lat = np.concatenate(parts)
    n = int(lat.size)
    q25, p50, q75 = (float(v) for v in np.percentile(lat, [25, 50, 75]))
    iqr = q75 - q25
    iqr_rel = iqr / p50 if p50 > 0 else 0.0
    mad_rel = float(np.median(np.abs(lat - p50))) / p50 if p50 > 0 else 0.0
    fence = max(q75 + OUTLIER_FENCE_IQR * iqr, OUTLIER_MIN_REL * p50)
    outliers = float(np.count_nonzero(lat > fence)) / n
    spread = round_spread(parts)
    precision = 1.96 * 1.2533 * (iqr_rel / 1.349) / math.sqrt(n)
    warnings = []
    if spread is not None and spread > effect_rel:
        warnings.append(f"rounds disagree: their medians differ by {spread:.1%} (> {effect_rel:.0%}), so p50 is "
                        f"not reproducible to {effect_rel:.0%}; the machine changed speed during the run")
    if precision > effect_rel:
        warnings.append(f"p50 imprecise: calls spread by {iqr_rel:.0%} of the median (IQR) over only {n} calls: "
                        f"p50 is known to +-{precision:.0%} at best; measure longer (--min-duration)")
    tail_hit = []
    for key, q in TAIL_CHECKED.items():
        if n < _MIN_SAMPLES[key]:
            continue                      # too few samples for this percentile: warned about by summarize
        allowed = (1.0 - q) + 2.576 * math.sqrt(q * (1.0 - q) / n)
        if outliers > allowed:
            tail_hit.append(key[:-3])
    if tail_hit:
        warnings.append(f"outliers: {outliers:.1%} of calls are slower than {fence / p50:.2f}x the median (and "
                        f"beyond Q3 + {OUTLIER_FENCE_IQR:g} IQR), so {' and '.join(tail_hit)} "
                        f"{'lies' if len(tail_hit) == 1 else 'lie'} among them and measure"
                        f"{'s' if len(tail_hit) == 1 else ''} interruptions more than the model")
    return Dispersion(iqr_rel=iqr_rel, mad_rel=mad_rel, outlier_fraction=outliers, round_spread=spread,
                      p50_precision_rel=precision, warnings=tuple(warnings))
