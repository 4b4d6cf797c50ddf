"""Regression gates: which changes between a baseline and a candidate count, read from a small TOML file.

The shipped `default_gates.toml` holds sensible defaults; a user file given with `--gates` is merged over it
key by key, so it only needs the entries it changes (`enabled = false` switches a gate off).
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LATENCY_METRIC = re.compile(r"^p(\d+)_ms$")
QUALITY_REFERENCES = ("task", "base", "root")

# outcome of one gate on one variant; INCONCLUSIVE: a latency change the machine's own variation could explain
PASS, IMPROVED, REGRESSED, FAILED, SKIPPED = "pass", "improved", "regressed", "failed", "skipped"
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class LatencyGate:
    metric: str                  # p50_ms, p90_ms, ...
    quantile: float
    min_effect: float            # relative change that counts (0.05 = 5 %)


@dataclass(frozen=True)
class LatencySettings:
    alpha: float = 0.01
    confidence: float = 0.95
    bootstrap_iterations: int = 2000
    seed: int = 0
    block_len: int = 0           # 0: automatic
    history_runs: int = 10       # earlier runs of the candidate's tag used to estimate run-to-run noise
    noise_sigmas: float = 3.0    # the effect must also exceed this many run-to-run sigmas (0: off)
    gates: tuple[LatencyGate, ...] = ()


@dataclass(frozen=True)
class Outcome:
    status: str                  # pass | improved | regressed | skipped
    message: str


@dataclass(frozen=True)
class ThresholdGate:
    """Baseline-relative and absolute thresholds on one metric."""

    name: str
    better: str = "lower"        # lower | higher
    tolerance_rel: float | None = None
    tolerance_abs: float | None = None
    limit: float | None = None

    def evaluate(self, baseline: float | None, candidate: float | None) -> Outcome:
        if candidate is None or (isinstance(candidate, float) and math.isnan(candidate)):
            return Outcome(SKIPPED, "no candidate value")
        sign = 1.0 if self.better == "lower" else -1.0
        if self.limit is not None and sign * (candidate - self.limit) > 0:
            bound = "maximum" if self.better == "lower" else "minimum"
            return Outcome(REGRESSED, f"{_num(candidate)} is beyond the {bound} {_num(self.limit)}")
        if baseline is None or (isinstance(baseline, float) and math.isnan(baseline)):
            return Outcome(SKIPPED if self.limit is None else PASS, "no baseline value")
        worse_by = sign * (candidate - baseline)            # > 0: the candidate is worse
        text = f"{_num(baseline)} -> {_num(candidate)} ({_change(baseline, candidate)})"
        if self._exceeds(abs(worse_by), baseline):
            if worse_by > 0:
                return Outcome(REGRESSED, f"{text}, beyond {self.tolerance_text()}")
            return Outcome(IMPROVED, text)
        return Outcome(PASS, text)

    def _exceeds(self, amount: float, baseline: float) -> bool:
        """True when `amount` is larger than every tolerance given (no tolerance: any change counts)."""
        if amount == 0:
            return False
        if self.tolerance_rel is not None and amount <= self.tolerance_rel * abs(baseline):
            return False
        if self.tolerance_abs is not None and amount <= self.tolerance_abs:
            return False
        return True

    def tolerance_text(self) -> str:
        parts = []
        if self.tolerance_rel is not None:
            parts.append(f"{self.tolerance_rel:.0%}" if self.tolerance_rel >= 0.01 else f"{self.tolerance_rel:.2%}")
        if self.tolerance_abs is not None:
            parts.append(f"{_num(self.tolerance_abs)} absolute")
        return "tolerance " + (" and ".join(parts) if parts else "0")


@dataclass(frozen=True)
class Gates:
    latency: LatencySettings
    thresholds: dict[str, ThresholdGate] = field(default_factory=dict)
    source: str = "defaults"

    def threshold_for(self, reference: str | None, metric: str) -> ThresholdGate | None:
        """The gate for a measurement/variant column, or for a quality metric (`task.accuracy` first, then the
        bare metric name that applies to every reference)."""
        if reference:
            gate = self.thresholds.get(f"{reference}.{metric}")
            if gate is not None:
                return gate
        return self.thresholds.get(metric)


def _num(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g}"
    return f"{value:.3e}"


def _change(baseline: float, candidate: float) -> str:
    if baseline == 0:
        return f"{candidate - baseline:+.4g}"
    return f"{(candidate - baseline) / abs(baseline):+.1%}"


def default_gates_text() -> str:
    return resources.files("harness.regress").joinpath("default_gates.toml").read_text()


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_gates(path: str | Path | None = None) -> Gates:
    """Defaults merged with the user's gate file; UsageError with the file and key on anything malformed."""
    data = tomllib.loads(default_gates_text())
    source = "defaults"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"gate file {p} does not exist")
        try:
            user = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"gate file {p} is not valid TOML: {exc}") from None
        unknown = set(user) - {"latency", "gates"}
        if unknown:
            raise UsageError(f"gate file {p}: unknown section(s) {', '.join(sorted(unknown))}; "
                             "use [latency], [latency.pNN_ms] and [gates.METRIC]")
        data = _merge(data, user)
        source = str(p)
    return _parse(data, source)


def _parse(data: dict[str, Any], source: str) -> Gates:
    def bad(key: str, why: str) -> UsageError:
        return UsageError(f"gate file {source}: {key}: {why}")

    def number(table: dict, key: str, where: str, lo: float | None = None, hi: float | None = None):
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"{where}.{key}", f"expected a number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise bad(f"{where}.{key}", f"{value} is out of range [{lo}, {hi}]")
        return value

    lat = dict(data.get("latency", {}))
    latency_gates = []
    for key in sorted(k for k, v in lat.items() if isinstance(v, dict)):
        table = lat.pop(key)
        match = LATENCY_METRIC.match(key)
        if not match:
            raise bad(f"latency.{key}", "latency gates are named pNN_ms, e.g. p50_ms or p99_ms")
        if not table.get("enabled", True):
            continue
        digits = match.group(1)
        quantile = int(digits) / 10 ** len(digits)       # p50 -> 0.5, p999 -> 0.999
        effect = number(table, "min_effect", f"latency.{key}", 0.0, 10.0)
        latency_gates.append(LatencyGate(key, quantile, 0.05 if effect is None else float(effect)))
    settings = LatencySettings(
        alpha=float(number(lat, "alpha", "latency", 1e-9, 0.5) or 0.01),
        confidence=float(number(lat, "confidence", "latency", 0.5, 0.9999) or 0.95),
        bootstrap_iterations=int(number(lat, "bootstrap_iterations", "latency", 100, 1e6) or 2000),
        seed=int(number(lat, "seed", "latency") or 0),
        block_len=int(number(lat, "block_len", "latency", 0) or 0),
        history_runs=int(number(lat, "history_runs", "latency", 0, 1000) or 0),
        noise_sigmas=float(number(lat, "noise_sigmas", "latency", 0, 100) or 0.0),
        gates=tuple(latency_gates),
    )
    thresholds: dict[str, ThresholdGate] = {}
    for name, table in data.get("gates", {}).items():
        where = f"gates.{name}"
        if not isinstance(table, dict):
            raise bad(where, "expected a table like [gates.size_bytes]")
        if not table.get("enabled", True):
            continue
        better = table.get("better", "lower")
        if better not in ("lower", "higher"):
            raise bad(f"{where}.better", f"expected 'lower' or 'higher', got {better!r}")
        unknown = set(table) - {"better", "tolerance_rel", "tolerance_abs", "limit", "enabled"}
        if unknown:
            raise bad(where, f"unknown key(s) {', '.join(sorted(unknown))}")
        thresholds[name] = ThresholdGate(
            name=name, better=better,
            tolerance_rel=number(table, "tolerance_rel", where, 0.0),
            tolerance_abs=number(table, "tolerance_abs", where, 0.0),
            limit=number(table, "limit", where),
        )
    return Gates(latency=settings, thresholds=thresholds, source=source)
