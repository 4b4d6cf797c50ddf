"""The latency verdict: is a change big enough to be told apart from the machine's own variation?

The unit of evidence is the round (and, with several baseline runs, the run), not the per-call sample: calls of
one round share the machine's state, so thousands of them are not thousands of independent observations. A rank
test and a bootstrap on block medians (significance.py) say whether the candidate's samples differ from the
baseline's; this module then asks whether the difference is larger than what repeating the same measurement on
the same machine produces:

* one baseline run: the change must exceed the spread between the rounds of the baseline run and of the
  candidate run. The spread is the range of the round medians with the fastest and slowest fifth of the rounds
  left out (all of them with fewer than 5 rounds), the same rounds a median-based estimate ignores;
* several baseline runs (`TAG@lastN`, or a baseline set from several runs): the change must exceed the spread
  between the baseline runs' own estimates (and the candidate's round spread), which also sees a machine that is
  uniformly faster or slower for a whole run;
* a change that clears the minimum effect size but not these is INCONCLUSIVE: reported as such, never as improved
  or regressed, and not a failure. When the host-load sensor saw other processes using the CPU during the rounds
  this is said, because that is the usual reason;
* rounds during which the host-load sensor saw other processes use the CPU measure the neighbours as much as the
  model: when both sides keep a quiet round, only the quiet rounds are judged; otherwise a change whose slower
  side was the busier one is inconclusive.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np

from harness.regress.gates import IMPROVED, INCONCLUSIVE, PASS, REGRESSED
from harness.regress.significance import LatencyComparison, as_rounds, auto_block_len, block_medians, compare_latency
from harness.core.stats import trimmed_spread

# other processes using more than this many cores during a round make the round "busy": the same limit as the
# host-load sensor's warning (harness.device_profiles.host_load.BUSY_OTHER_CORES), not imported so regress needs no sensor
BUSY_OTHER_CORES = 0.25


def round_estimates(rounds: Sequence[np.ndarray], quantile: float) -> list[float]:
    """Each round's own estimate of the quantile."""
    return [float(np.quantile(r, quantile)) for r in rounds if len(r)]


def run_estimate(rounds: Sequence[np.ndarray], quantile: float, block_len: int) -> float:
    """A run's estimate, as compare_latency computes it: median of block medians for p50, else pooled quantile."""
    if quantile == 0.5:
        return float(np.median(block_medians(rounds, block_len)))
    return float(np.quantile(np.concatenate(rounds), quantile))


def busy_rounds(loads: Sequence[float | None] | None) -> tuple[list[bool], int]:
    """(busy flag per round, rounds with a reading): busy when others used more than BUSY_OTHER_CORES."""
    flags, known = [], 0
    for load in loads or []:
        if load is None:
            flags.append(False)
            continue
        known += 1
        flags.append(load > BUSY_OTHER_CORES)
    return flags, known


@dataclass(frozen=True)
class LatencyVerdict:
    status: str                          # pass | improved | regressed | inconclusive
    comparison: LatencyComparison
    min_effect: float
    spread: float                        # what the change had to exceed (relative)
    spread_source: str                   # "rounds" (one baseline run) or "runs" (several)
    baseline_runs: int
    between_run_spread: float | None     # several baseline runs: trimmed range of their estimates
    round_spread_baseline: float | None  # trimmed range of round estimates (worst baseline run)
    round_spread_candidate: float | None
    busy_rounds_baseline: int
    busy_rounds_candidate: int
    rounds_with_load_baseline: int
    rounds_with_load_candidate: int
    quiet_only: bool                     # busy rounds were left out: judged on the quiet rounds of both sides
    reason: str                          # why inconclusive ("" otherwise)

    @property
    def change(self) -> float:
        return self.comparison.change

    @property
    def host_busy(self) -> bool:
        return bool(self.busy_rounds_baseline or self.busy_rounds_candidate)

    def busy_text(self) -> str:
        parts = []
        for side, busy, known in (("baseline", self.busy_rounds_baseline, self.rounds_with_load_baseline),
                                  ("candidate", self.busy_rounds_candidate, self.rounds_with_load_candidate)):
            if busy:
                parts.append(f"{side} {busy} of {known} rounds")
        return ("host busy (other processes used > "
                f"{BUSY_OTHER_CORES:g} cores in {', '.join(parts)})") if parts else ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("comparison")
        return self.comparison.as_dict() | d | {"host_busy": self.host_busy}


def judge_latency(baseline_runs: Sequence[Sequence[np.ndarray]], candidate_rounds: Sequence[np.ndarray],
                  quantile: float = 0.5, min_effect: float = 0.05, alpha: float = 0.01, confidence: float = 0.95,
                  n_iter: int = 2000, seed: int = 0, block_len: int | None = None,
                  baseline_loads: Sequence[Sequence[float | None] | None] | None = None,
                  candidate_loads: Sequence[float | None] | None = None) -> LatencyVerdict:
    """Judge one latency quantile of a candidate run against one or more baseline runs (each a list of rounds of
    raw samples, ns). `*_loads` are the other processes' CPU use (cores) per round, from the host-load sensor,
    or None where it was not measured.

    With busy rounds on either side and a quiet round left on each, only the quiet rounds are judged (the busy
    ones measure the neighbours). Otherwise all rounds are, and a change whose slower side was the busier one is
    inconclusive."""
    base_runs = [as_rounds(r) for r in baseline_runs]
    keep = [i for i, r in enumerate(base_runs) if r]
    cand = as_rounds(candidate_rounds)
    if not keep or not cand:
        raise ValueError("both sides need at least one non-empty round of samples")
    loads = list(baseline_loads or [])
    loads += [None] * (len(base_runs) - len(loads))
    base_flags = [_flags(loads[i], len(base_runs[i])) for i in keep]
    base_runs = [base_runs[i] for i in keep]
    cand_flags = _flags(candidate_loads, len(cand))
    counts = (sum(sum(f) for f, _ in base_flags), sum(cand_flags[0]),
              sum(k for _, k in base_flags), cand_flags[1])

    quiet_base = [[r for r, busy in zip(run, f) if not busy] for run, (f, _) in zip(base_runs, base_flags)]
    quiet_base = [run for run in quiet_base if run]
    quiet_cand = [r for r, busy in zip(cand, cand_flags[0]) if not busy]
    any_busy = counts[0] or counts[1]
    if any_busy and quiet_base and quiet_cand:
        v = _judge(quiet_base, quiet_cand, quantile, min_effect, alpha, confidence, n_iter, seed, block_len, counts)
        note = "judged on quiet rounds only"
        return replace(v, quiet_only=True, reason=f"{v.reason}; {note}" if v.reason else "")
    v = _judge(base_runs, cand, quantile, min_effect, alpha, confidence, n_iter, seed, block_len, counts)
    if v.status in (REGRESSED, IMPROVED):
        slower = v.status == REGRESSED
        base_all = [b for f, _ in base_flags for b in f]
        slow, fast = (cand_flags[0], base_all) if slower else (base_all, cand_flags[0])
        if _busier(slow, fast):
            side = "candidate" if slower else "baseline"
            return replace(v, status=INCONCLUSIVE,
                           reason=f"the slower side ({side}) was timed on a busier host, with too few quiet rounds "
                                  "to judge without it")
    return v


def _flags(loads: Sequence[float | None] | None, n_rounds: int) -> tuple[list[bool], int]:
    flags, known = busy_rounds(loads)
    return (flags + [False] * n_rounds)[:n_rounds], known


def _judge(base_runs: list[list[np.ndarray]], cand: list[np.ndarray], quantile: float, min_effect: float,
           alpha: float, confidence: float, n_iter: int, seed: int, block_len: int | None,
           counts: tuple[int, int, int, int]) -> LatencyVerdict:
    pooled = [r for run in base_runs for r in run]
    block = int(block_len) if block_len else min(auto_block_len(pooled), auto_block_len(cand))
    comp = compare_latency(pooled, cand, quantile=quantile, confidence=confidence, n_iter=n_iter, seed=seed,
                           block_len=block)
    change = comp.change
    cand_spread = trimmed_spread(round_estimates(cand, quantile))
    base_spreads = [s for s in (trimmed_spread(round_estimates(run, quantile)) for run in base_runs) if s is not None]
    base_spread = max(base_spreads) if base_spreads else None
    between = None
    if len(base_runs) >= 2:
        between = trimmed_spread([run_estimate(run, quantile, block) for run in base_runs])
        spread, source = max(between or 0.0, cand_spread or 0.0), "runs"
    else:
        spread, source = max(base_spread or 0.0, cand_spread or 0.0), "rounds"

    def verdict(status: str, reason: str = "") -> LatencyVerdict:
        return LatencyVerdict(status, comp, min_effect, spread, source, len(base_runs), between, base_spread,
                              cand_spread, *counts, False, reason)

    if abs(change) < min_effect:
        return verdict(PASS)
    slower = change > 0
    significant = comp.is_regression(min_effect, alpha) if slower else comp.is_improvement(min_effect, alpha)
    if not significant:
        return verdict(INCONCLUSIVE, "not significant")
    if abs(change) <= spread:
        what = ("the spread between the baseline runs" if source == "runs" and (between or 0) >= (cand_spread or 0)
                else "the spread between rounds")
        return verdict(INCONCLUSIVE, f"within {what} ({spread:.1%})")
    return verdict(REGRESSED if slower else IMPROVED)


def _busier(slow: list[bool], fast: list[bool]) -> bool:
    """True when a larger share of the slower side's rounds were busy than of the faster side's."""
    if not slow or not any(slow):
        return False
    return sum(slow) / len(slow) > (sum(fast) / len(fast) if fast else 0.0)


def spread_text(v: LatencyVerdict) -> str:
    """One line on the variation the verdict was weighed against."""
    parts = []
    if v.baseline_runs >= 2 and v.between_run_spread is not None:
        parts.append(f"{v.baseline_runs} baseline runs differ by {v.between_run_spread:.1%}")
    elif v.round_spread_baseline is not None:
        parts.append(f"baseline rounds differ by {v.round_spread_baseline:.1%}")
    if v.round_spread_candidate is not None:
        parts.append(f"candidate rounds by {v.round_spread_candidate:.1%}")
    return ", ".join(parts)

