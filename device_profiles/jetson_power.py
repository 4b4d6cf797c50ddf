"""Jetson power arithmetic shared by the INA3221 sysfs sampler and the tegrastats fallback.

Which rails make the board's total (DESIGN rule 8): where the module has an input rail (`VDD_IN`, or `POM_5V_IN`
on Nano/TX1) that rail *is* the total and is never added to its own sub-rails. Boards without one (AGX Xavier,
AGX Orin) get the sum of the channels their board file lists, and the scope says so. An unknown board without an
input rail gets no total at all (rule 9) unless the user names the rails (`ProfileConfig.options["power_rails"]`).

A module variant that exposes only some of the board's listed channels (AGX Orin under JetPack 6 prints three of
its four: VDDQ_VDD2_1V8AO is missing) gets the sum of the channels it has, with the scope "partial sum of rails",
the missing rails named in the record and a warning - never called the total, and not withheld either, since the
channels present still carry most of the module's draw.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from harness.device_profiles.energy import integrate_power_mj

# module-input rails, in order of preference
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
SCOPE_MODULE_INPUT = "module input"
SCOPE_SUM_OF_RAILS = "sum of rails"
SCOPE_PARTIAL_SUM = "partial sum of rails"


@dataclass(frozen=True)
class TotalRule:
    """How the total is made on this board: the rails and what they cover."""

    rails: tuple[str, ...]
    scope: str
    note: str = ""
    missing: tuple[str, ...] = ()      # board rails the total should include but this module does not expose

    @property
    def scope_text(self) -> str:
        """`scope: A + B` as stored in energy_scope, with the missing rails named for a partial sum."""
        text = f"{self.scope}: {' + '.join(self.rails)}"
        return text + (f" (missing: {', '.join(self.missing)})" if self.missing else "")

    def warning(self) -> str | None:
        if not self.missing:
            return None
        return (f"power is a partial sum of rails: {', '.join(self.missing)} not exposed by this module, so the "
                f"figure ({' + '.join(self.rails)}) is below the board's documented total")


def total_rule(available: Sequence[str], board_total_rails: Sequence[str] = (), board_scope: str | None = None,
               override: Sequence[str] | None = None) -> tuple[TotalRule | None, str | None]:
    """Pick the rails for the total power from the rails this board exposes.

    Returns (rule, None) or (None, reason)."""
    have = set(available)
    if override:
        missing = [r for r in override if r not in have]
        if missing:
            return None, f"power_rails option names rails this board lacks: {', '.join(missing)}"
        scope = SCOPE_MODULE_INPUT if len(override) == 1 and override[0] in INPUT_RAILS else SCOPE_SUM_OF_RAILS
        return TotalRule(tuple(override), scope, "rails chosen by the power_rails option"), None
    for rail in INPUT_RAILS:
        if rail in have:
            return TotalRule((rail,), SCOPE_MODULE_INPUT), None
    if board_total_rails and all(r in have for r in board_total_rails):
        scope = board_scope or (SCOPE_MODULE_INPUT if len(board_total_rails) == 1 else SCOPE_SUM_OF_RAILS)
        return TotalRule(tuple(board_total_rails), scope), None
    if board_total_rails:
        present = tuple(r for r in board_total_rails if r in have)
        missing = tuple(r for r in board_total_rails if r not in have)
        if present:
            return TotalRule(present, SCOPE_PARTIAL_SUM, "the board's documented total needs rails this module "
                             "does not expose", missing=missing), None
        return None, (f"the board's total needs rails {', '.join(board_total_rails)} but none of them was found "
                      f"(found: {', '.join(sorted(have)) or 'none'})")
    return None, (f"no input rail ({' or '.join(INPUT_RAILS)}) among {', '.join(sorted(have)) or 'no rails'} and the "
                  f"board is unknown; name the rails to sum with options['power_rails']")


def total_mw(rails_mw: Mapping[str, float], rule: TotalRule) -> float | None:
    """The total for one sample; None when a rail of the rule is missing from this sample."""
    try:
        return float(sum(rails_mw[r] for r in rule.rails))
    except KeyError:
        return None


class PowerSeries:
    """Timestamped per-rail power samples (mW) of one window, integrated by time at the end."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, dict[str, float]]] = []

    def add(self, t_s: float, rails_mw: Mapping[str, float]) -> None:
        self.samples.append((t_s, dict(rails_mw)))

    def __len__(self) -> int:
        return len(self.samples)

    def rails(self) -> list[str]:
        """Rails present in every sample (only those can be integrated over the whole window)."""
        if not self.samples:
            return []
        common = set(self.samples[0][1])
        for _, s in self.samples[1:]:
            common &= set(s)
        return sorted(common)

    def reading(self, rule: TotalRule | None, rule_reason: str | None, source: str,
                duration_s: float) -> dict[str, Any]:
        """WindowReading fields: total energy and average power per the rule, plus per-rail energy in `extra`."""
        out: dict[str, Any] = {"extra": {}}
        times = [t for t, _ in self.samples]
        extra = out["extra"]
        extra["power_samples"] = len(self.samples)
        extra["power_source"] = source
        if len(self.samples) < 2:
            out["energy_reason"] = f"{source}: fewer than two power samples in the window"
            return out
        rails_energy = {}
        for rail in self.rails():
            rails_energy[rail] = integrate_power_mj(times, [s[rail] for _, s in self.samples])
        extra["rail_energy_mj"] = rails_energy
        span_s = times[-1] - times[0]
        extra["power_span_s"] = span_s       # first to last reading: the time the energy is integrated over
        if span_s > 0:
            extra["rail_avg_power_mw"] = {r: e / span_s for r, e in rails_energy.items()}
        if rule is None:
            out["energy_reason"] = f"{source}: {rule_reason}"
            return out
        totals = [total_mw(s, rule) for _, s in self.samples]
        if any(v is None for v in totals):
            out["energy_reason"] = f"{source}: rail(s) {', '.join(rule.rails)} missing from some samples"
            return out
        energy = integrate_power_mj(times, totals)
        out["energy_mj"] = energy
        out["energy_source"] = source
        out["energy_scope"] = rule.scope_text
        if span_s > 0:
            out["avg_power_mw"] = energy / span_s
        extra["power_rails_used"] = list(rule.rails)
        extra["power_scope"] = rule.scope
        if rule.note:
            extra["power_note"] = rule.note
        if rule.missing:
            extra["power_rails_missing"] = list(rule.missing)
            out["warnings"] = [rule.warning()]
        extra["power_peak_mw"] = max(totals)
        return out


def clip_to_window(samples: Sequence[tuple[float, dict[str, float]]], t0: float,
                   t1: float) -> list[tuple[float, dict[str, float]]]:
    """Samples of a continuous stream restricted to [t0, t1], with edge values interpolated from neighbours.

    An edge with a real sample on both sides is linearly interpolated; with a neighbour on one side only, that
    sample's value is held (sample-and-hold, as the sensor itself reports it until the next reading)."""
    ordered = sorted(samples, key=lambda s: s[0])
    inside = [s for s in ordered if t0 <= s[0] <= t1]
    if not inside:
        return []

    def at(t: float) -> dict[str, float]:
        before = [s for s in ordered if s[0] <= t]
        after = [s for s in ordered if s[0] >= t]
        if before and after:
            (ta, a), (tb, b) = before[-1], after[0]
            if tb == ta:
                return dict(a)
            w = (t - ta) / (tb - ta)
            return {k: a[k] + w * (b[k] - a[k]) for k in a if k in b}
        return dict((before or after)[-1 if before else 0][1])

    out = list(inside)
    if out[0][0] > t0:
        out.insert(0, (t0, at(t0)))
    if out[-1][0] < t1:
        out.append((t1, at(t1)))
    return out
