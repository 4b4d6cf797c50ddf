"""The latency of a variant not measured yet, timed on this host from its size-only export instead of predicted.

A size-only export (harness.meta.sizing) is the real variant's graph: the same nodes, shapes and data types, only
some weight and scale *values* differ (structured pruning without fine-tuning, INT8 scales from min-max on a few
calls). A kernel's speed does not depend on those values (pruned weights stay dense; an INT8 kernel runs the same
instructions whatever its scale), so timing that graph against its FP32 root, on the device the root was measured
on, gives the variant's latency ratio by measurement, not by extrapolation from other architectures. Predicted from
them the ratio errs by 15-30 % for an unseen architecture (benchmarks/recommend.py: mae_latency_ratio), which at a
latency limit decides between the best candidate and one that breaks the limit.

The timing follows the sweep's rules (harness.meta.sweep): short rounds, every graph once per round in a rotating
order, the root among them, one session each with the root's thread count; the ratio is the one
harness.meta.dataset.latency_ratio takes from a measurement (the fast ends, the 1st percentile over every timed
call, when enough calls were timed; else the median of the round-paired ratios), so a timed ratio and a measured
one estimate the same quantity. Its 80 % interval (`interval`) comes from resampling the rounds, widened to at least
SESSION_NOISE either side: resampling sees the spread within this timing, not the machine's drift between two
sessions, which a measurement taken later will see.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np


# the spread of a latency ratio between two sessions on one host, in log space: the sweep keeps ratios of identical
# compute within about +-6 % (harness.meta.sweep), so a timed ratio's 80 % interval is never narrower than that
SESSION_NOISE = 0.06

# the device profiles whose variants are timed here (onnxruntime on the host CPU); elsewhere latency is predicted
TIMEABLE_DEVICES = ("cpu",)
# the parts of a CPU's description (device_profiles.cpu.CpuProfile.describe) that make two hosts time alike
HOST_KEYS = ("device", "cpu_model", "machine", "logical_cores", "isa")


def host_key(described: dict | None) -> str | None:
    """A short key of the host a measurement's environment describes (its `device` record), or None."""
    import hashlib
    import json

    if not described:
        return None
    parts = {k: described.get(k) for k in HOST_KEYS}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def this_host_key(device: str) -> str | None:
    """host_key of this machine for `device`, or None when its variants are not timed here."""
    if device not in TIMEABLE_DEVICES:
        return None
    from harness.device_profiles import load_profile

    return host_key(load_profile(device).describe())


def timing_refusal(device: str, root_environment: str | dict | None) -> str | None:
    """Why the candidates of a root measured in `root_environment` (a run's environment record) cannot be timed
    here, or None when they can: the device must be one this host times, and the root measured on a host alike."""
    import json

    if device not in TIMEABLE_DEVICES:
        return f"device {device}: candidates are timed only on {', '.join(TIMEABLE_DEVICES)}"
    env = json.loads(root_environment) if isinstance(root_environment, str) else (root_environment or {})
    theirs = host_key(env.get("device"))
    if theirs is None or theirs != this_host_key(device):
        model = (env.get("device") or {}).get("cpu_model") or "an unknown CPU"
        return f"its FP32 root was measured on another host ({model}): timing it here would not tell its latency"
    return None


@dataclass(frozen=True)
class TrialTiming:
    """How the size-only exports are timed: shorter than a sweep point (they are many, and a user waits)."""
    rounds: int = 10
    min_iterations: int = 20
    min_duration_s: float = 0.05
    warmup_s: float = 0.01
    resamples: int = 200          # bootstrap over rounds for the interval
    seed: int = 0


@dataclass(frozen=True)
class TimedRatio:
    """A variant's latency against its FP32 root, timed side by side: the estimate and its 80 % interval."""
    ratio: float
    low: float
    high: float
    calls: int                    # timed calls of the variant (over every round)

    def interval(self) -> tuple[float, float]:
        """The 80 % interval a ranking should use: the resampled one, at least SESSION_NOISE either side."""
        import math

        return (min(self.low, self.ratio * math.exp(-SESSION_NOISE)),
                max(self.high, self.ratio * math.exp(SESSION_NOISE)))


def _ratio(v_rounds: list[np.ndarray], r_rounds: list[np.ndarray]) -> float:
    """The ratio harness.meta.dataset.latency_ratio takes from a measurement: fast ends with enough calls, else
    the median of the round-paired p50 ratios."""
    from harness.meta.dataset import FAST_MIN_CALLS

    v, r = np.concatenate(v_rounds), np.concatenate(r_rounds)
    if min(len(v), len(r)) >= FAST_MIN_CALLS:
        return float(np.percentile(v, 1) / max(np.percentile(r, 1), 1e-9))
    return float(np.median([np.median(a) / max(np.median(b), 1e-9) for a, b in zip(v_rounds, r_rounds)]))


def ratios(samples: Mapping[str, list[np.ndarray]], root: str, timing: TrialTiming = TrialTiming()
           ) -> dict[str, TimedRatio]:
    """Per timed graph but the root: its ratio to the root and the 80 % interval from resampling whole rounds
    (round k of every graph together, so the pairing survives). samples: name -> per-round latencies."""
    rng = np.random.default_rng(timing.seed)
    r_rounds = samples[root]
    n = len(r_rounds)
    picks = rng.integers(0, n, size=(timing.resamples, n))
    out = {}
    for name, v_rounds in samples.items():
        if name == root:
            continue
        boot = [_ratio([v_rounds[i] for i in pick], [r_rounds[i] for i in pick]) for pick in picks]
        out[name] = TimedRatio(_ratio(v_rounds, r_rounds), float(np.percentile(boot, 10)),
                               float(np.percentile(boot, 90)), int(sum(len(a) for a in v_rounds)))
    return out


# fewer pairs of one method family than this: its interval comes from every family's pairs
MIN_FAMILY_PAIRS = 20
MIN_PAIRS = 10          # fewer pairs in all: the timing's own interval (resampled rounds, SESSION_NOISE) alone


@dataclass(frozen=True)
class TimingError:
    """How far timed ratios fell from measurements of the same variants, taken in other sessions: the 10th and
    90th percentiles of log(measured / timed), per method family (harness.meta.dataset.method_of) and over all.
    Resampling one timing's rounds does not see a machine whose INT8-to-FP32 speed moves between sessions (on the
    2-core VM a BatchNorm CNN's int8-static timed at 0.85x FP32 and measured at 1.00x on another day); these
    pairs do, so a timed ratio's interval is widened to them (`interval`)."""
    by_family: dict
    overall: tuple | None

    @classmethod
    def fit(cls, pairs) -> "TimingError":
        """pairs: (recipe, timed ratio, measured ratio) of variants both timed and measured on a host alike."""
        import math

        from harness.meta.dataset import method_of

        logs: dict[str, list[float]] = {}
        every = []
        for recipe, timed, measured in pairs:
            if timed and measured and timed > 0 and measured > 0:
                v = math.log(measured / timed)
                logs.setdefault(method_of(recipe), []).append(v)
                every.append(v)

        def q(vs):
            return float(np.percentile(vs, 10)), float(np.percentile(vs, 90))
        return cls({f: q(vs) for f, vs in logs.items() if len(vs) >= MIN_FAMILY_PAIRS},
                   q(every) if len(every) >= MIN_PAIRS else None)

    @property
    def pairs_seen(self) -> bool:
        return self.overall is not None

    def interval(self, recipe: str, t: TimedRatio) -> tuple[float, float]:
        """`t`'s 80 % interval (TimedRatio.interval) widened to the timing error of its method family."""
        import math

        from harness.meta.dataset import method_of

        low, high = t.interval()
        q = self.by_family.get(method_of(recipe)) or self.overall
        if q is None:
            return low, high
        return min(low, t.ratio * math.exp(q[0])), max(high, t.ratio * math.exp(q[1]))


NO_ERROR = TimingError({}, None)


def timing_error(store, device: str, points) -> TimingError:
    """The TimingError of the variants among `points` (measured points of harness.meta.dataset.measured) whose
    size-only export was also timed (stored by `harness recommend`, then measured: by --verify or a sweep) on
    this host."""
    from harness.meta.dataset import point_targets
    from harness.store.meta import stored_latencies

    host = this_host_key(device)
    if host is None:
        return NO_ERROR
    pairs, by_root = [], {}
    for p in points:
        if p["variant_id"] == p["root_id"]:
            continue
        if p["root_id"] not in by_root:
            by_root[p["root_id"]] = stored_latencies(store, p["root_id"], device, host)[0]
        t = by_root[p["root_id"]].get(p["name"])
        if t is not None:
            pairs.append((p["name"], t[0], point_targets(p)[1]["latency_ratio"]))
    return TimingError.fit(pairs)
