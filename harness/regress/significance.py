"""Is the candidate's latency really different from the baseline's? Statistics on raw per-inference samples.

Why not a plain test on all samples: on a shared VM the samples of one run are not independent. Consecutive
inferences share cache, frequency and neighbour-load state (autocorrelation), and whole rounds run at different
speeds because the machine's load changes between them. A Mann-Whitney U over 5 000 raw samples per side calls a
1 % shift "p < 1e-20" and then flags identical reruns every night.

What we do instead (hierarchical, noise-aware, seeded so a verdict is reproducible):

* Units for the rank test are **block medians**: each round's samples, in order, are cut into contiguous blocks of
  `block_len` samples and each block is summarised by its median. Contiguous blocks absorb short-range
  autocorrelation, and the rank test then sees tens of units, not thousands of correlated samples.
* The confidence interval of the quantile ratio candidate / baseline comes from a **two-stage block bootstrap**:
  resample the rounds with replacement (so round-to-round drift widens the interval), then within each chosen
  round resample moving blocks of `block_len` samples (keeping local autocorrelation intact). For the median the
  second stage resamples the block medians themselves: the same units as the rank test, and 30x less work on a
  fast model with 30 000 samples a run.
* A latency regression needs all three: the one-sided rank test is significant, the bootstrap interval excludes a
  ratio of 1, and the point estimate exceeds the minimum effect size (5 % on p50 by default). The effect-size
  floor is what protects against the run-to-run shift that no within-run resampling can see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

Rounds = Sequence[np.ndarray]


def as_rounds(rounds: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """Non-empty rounds as float64 arrays (samples kept in measurement order)."""
    out = [np.asarray(r, dtype=np.float64) for r in rounds]
    return [r for r in out if r.size]


def auto_block_len(rounds: Rounds) -> int:
    """Block length from the shortest round: n^(1/3) (the usual block-bootstrap rate), at least 5 samples so a
    block median is a stable unit, and no longer than the shortest round."""
    shortest = min(len(r) for r in rounds)
    return int(max(1, min(shortest, max(5, round(shortest ** (1 / 3))))))


def round_block_medians(rounds: Rounds, block_len: int) -> list[np.ndarray]:
    """Per round, the medians of non-overlapping contiguous blocks; a short tail block is merged into the
    previous one so every unit summarises at least `block_len` samples."""
    out = []
    for r in rounds:
        n_blocks = max(1, len(r) // block_len)
        head = np.asarray(r[:(n_blocks - 1) * block_len]).reshape(-1, block_len) if n_blocks > 1 else None
        tail = np.median(r[(n_blocks - 1) * block_len:])
        out.append(np.append(np.median(head, axis=1) if head is not None else [], tail))
    return out


def block_medians(rounds: Rounds, block_len: int) -> np.ndarray:
    """All rounds' block medians in one array (the units of the rank test)."""
    return np.concatenate(round_block_medians(rounds, block_len))


def hierarchical_bootstrap(rounds: Rounds, quantile: float, n_iter: int, block_len: int,
                           rng: np.random.Generator, chunk: int = 256) -> np.ndarray:
    """Bootstrap distribution of a quantile: rounds resampled with replacement, then moving blocks within rounds.

    Every resampled round contributes the same number of samples (the median round length, rounded up to whole
    blocks), so rounds are equally weighted units and the arrays stay rectangular for numpy.
    """
    lengths = np.array([len(r) for r in rounds])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    values = np.concatenate(rounds)
    n_rounds = len(rounds)
    block_len = int(min(block_len, lengths.min()))
    blocks_per_round = int(math.ceil(np.median(lengths) / block_len))
    within = np.arange(block_len)
    out = np.empty(n_iter)
    done = 0
    while done < n_iter:
        m = min(chunk, n_iter - done)
        picked = rng.integers(0, n_rounds, size=(m, n_rounds))                     # which round fills each slot
        span = (lengths[picked] - block_len + 1)[..., None]                           # valid block starts
        starts = (rng.random((m, n_rounds, blocks_per_round)) * span).astype(np.int64)
        idx = offsets[picked][..., None, None] + starts[..., None] + within           # (m, R, B, L)
        stat = np.quantile(values[idx.reshape(m, -1)], quantile, axis=1)
        out[done:done + m] = stat
        done += m
    return out


@dataclass(frozen=True)
class LatencyComparison:
    """Outcome of comparing one latency quantile between baseline and candidate. Ratios are candidate/baseline."""

    quantile: float
    baseline_ms: float
    candidate_ms: float
    ratio: float                 # point estimate: candidate / baseline (see compare_latency)
    ci_low: float                # bootstrap confidence interval of the ratio
    ci_high: float
    confidence: float
    p_slower: float | None       # one-sided Mann-Whitney U p-value: candidate block medians larger (p50 only)
    p_faster: float | None
    n_baseline: int
    n_candidate: int
    units_baseline: int          # block medians fed to the rank test
    units_candidate: int
    block_len: int
    rounds_baseline: int
    rounds_candidate: int
    pooled_baseline_ms: float = 0.0      # the quantile over all samples pooled (what `harness show` reports)
    pooled_candidate_ms: float = 0.0
    round_spread_baseline: float = 0.0   # slowest / fastest round median - 1: did the machine change speed?
    round_spread_candidate: float = 0.0

    @property
    def change(self) -> float:
        """Relative change of the quantile: +0.10 is 10 % slower."""
        return self.ratio - 1.0

    def is_regression(self, min_effect: float, alpha: float) -> bool:
        significant = self.ci_low > 1.0 and (self.p_slower is None or self.p_slower < alpha)
        return significant and self.ratio >= 1.0 + min_effect

    def is_improvement(self, min_effect: float, alpha: float) -> bool:
        significant = self.ci_high < 1.0 and (self.p_faster is None or self.p_faster < alpha)
        return significant and self.ratio <= 1.0 - min_effect

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self) | {"change": self.change}


def mann_whitney(candidate: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """One-sided Mann-Whitney U p-values (candidate slower, candidate faster)."""
    from scipy.stats import mannwhitneyu

    if len(candidate) < 2 or len(baseline) < 2:
        return 1.0, 1.0
    slower = mannwhitneyu(candidate, baseline, alternative="greater").pvalue
    faster = mannwhitneyu(candidate, baseline, alternative="less").pvalue
    return float(slower), float(faster)


def compare_latency(baseline_rounds: Sequence[Sequence[float]], candidate_rounds: Sequence[Sequence[float]],
                    quantile: float = 0.5, confidence: float = 0.95, n_iter: int = 2000, seed: int = 0,
                    block_len: int | None = None, ns_per_unit: float = 1e6) -> LatencyComparison:
    """Compare a latency quantile of two measurements from their raw samples, grouped by round.

    `ns_per_unit` converts the sample unit to milliseconds for the reported values (samples are latency_ns).
    The rank test runs on block medians and is only meaningful for the median; for tail quantiles the verdict
    rests on the bootstrap interval alone.

    For the median, the point estimate is the median of the block medians, the same statistic the bootstrap
    resamples. It is robust to the way shared machines misbehave: a burst of interference inflates a few blocks,
    and two rounds stuck in a slower speed state move it far less than they move the pooled median (whose
    sample mixture they skew: measured on the CI VM, 3 rounds at 436 us and 2 at 490 us pool to 466 us).
    """
    base = as_rounds(baseline_rounds)
    cand = as_rounds(candidate_rounds)
    if not base or not cand:
        raise ValueError("both sides need at least one non-empty round of samples")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    block = int(block_len) if block_len else min(auto_block_len(base), auto_block_len(cand))
    pooled_base = float(np.quantile(np.concatenate(base), quantile))
    pooled_cand = float(np.quantile(np.concatenate(cand), quantile))
    # independent, seeded streams: the verdict for a pair of runs is the same every time it is computed
    rng_base, rng_cand = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    units_base = round_block_medians(base, block)
    units_cand = round_block_medians(cand, block)
    if quantile == 0.5:
        boot_base = hierarchical_bootstrap(units_base, quantile, n_iter, 1, rng_base)
        boot_cand = hierarchical_bootstrap(units_cand, quantile, n_iter, 1, rng_cand)
    else:                        # a tail quantile needs the raw samples, not block summaries
        boot_base = hierarchical_bootstrap(base, quantile, n_iter, block, rng_base)
        boot_cand = hierarchical_bootstrap(cand, quantile, n_iter, block, rng_cand)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = boot_cand / boot_base
    ratios = ratios[np.isfinite(ratios)]
    tail = (1.0 - confidence) / 2.0
    ci_low, ci_high = (float(v) for v in np.quantile(ratios, [tail, 1.0 - tail]))
    flat_base, flat_cand = np.concatenate(units_base), np.concatenate(units_cand)
    if quantile == 0.5:
        base_q, cand_q = float(np.median(flat_base)), float(np.median(flat_cand))
    else:
        base_q, cand_q = pooled_base, pooled_cand
    p_slower = p_faster = None
    if quantile == 0.5:
        p_slower, p_faster = mann_whitney(flat_cand, flat_base)
    return LatencyComparison(
        quantile=quantile,
        baseline_ms=base_q / ns_per_unit,
        candidate_ms=cand_q / ns_per_unit,
        ratio=cand_q / base_q if base_q > 0 else math.inf,
        ci_low=ci_low, ci_high=ci_high, confidence=confidence,
        p_slower=p_slower, p_faster=p_faster,
        n_baseline=int(sum(len(r) for r in base)), n_candidate=int(sum(len(r) for r in cand)),
        units_baseline=len(flat_base), units_candidate=len(flat_cand),
        block_len=block, rounds_baseline=len(base), rounds_candidate=len(cand),
        pooled_baseline_ms=pooled_base / ns_per_unit, pooled_candidate_ms=pooled_cand / ns_per_unit,
        round_spread_baseline=round_spread(base), round_spread_candidate=round_spread(cand),
    )


def round_spread(rounds: Rounds) -> float:
    """Slowest round median over fastest, minus 1. A shared machine can switch between speed states that last
    seconds (on the 2-core CI VM: two levels ~9 % apart); a run whose rounds straddle them is a weak reference."""
    medians = [float(np.median(r)) for r in rounds]
    return max(medians) / min(medians) - 1.0 if min(medians) > 0 else 0.0


def run_to_run_noise(values: Sequence[float], min_runs: int = 5) -> float | None:
    """Relative run-to-run noise (a robust sigma of log p50) of earlier runs of the same configuration, or None
    with fewer than `min_runs` runs.

    Within-run resampling cannot see a machine that is uniformly busier during the whole candidate run; only
    earlier runs can. Successive differences make the estimate robust to an old step in the series (a step is
    one large difference, which the median ignores): sigma = 1.4826 * median|diff log x| / sqrt(2).
    """
    x = np.log(np.asarray([v for v in values if v and v > 0], dtype=np.float64))
    if len(x) < min_runs:
        return None
    return float(1.4826 * np.median(np.abs(np.diff(x))) / math.sqrt(2.0))
