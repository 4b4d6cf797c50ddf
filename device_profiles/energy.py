"""Energy arithmetic shared by all profiles: cumulative counters with wrap-around, and time-integrated power."""
from __future__ import annotations

from typing import Sequence


def counter_delta(start: int, end: int, max_range: int | None) -> int:
    """Delta of a cumulative counter that wraps to 0 after `max_range` (RAPL `max_energy_range_uj`)."""
    if end >= start:
        return end - start
    if not max_range:
        raise ValueError("counter went backwards and its wrap range is unknown")
    return max_range - start + end


def integrate_power_mj(times_s: Sequence[float], power_mw: Sequence[float]) -> float:
    """Energy in mJ from power samples by the trapezoid rule over time (mW * s = mJ).

    Integrating by time, not averaging readings, keeps unevenly spaced samples honest.
    """
    if len(times_s) != len(power_mw):
        raise ValueError("times and power series differ in length")
    if len(times_s) < 2:
        raise ValueError("need at least two power samples to integrate")
    energy = 0.0
    for i in range(1, len(times_s)):
        dt = times_s[i] - times_s[i - 1]
        if dt < 0:
            raise ValueError("sample times are not increasing")
        energy += 0.5 * (power_mw[i] + power_mw[i - 1]) * dt
    return energy


def per_inference(energy_mj: float | None, inferences: int, idle_power_mw: float | None,
                  duration_s: float) -> tuple[float | None, float | None]:
    """(total, above-idle) energy per inference in mJ; None where the inputs are missing."""
    if energy_mj is None or inferences <= 0:
        return None, None
    total = energy_mj / inferences
    if idle_power_mw is None:
        return total, None
    above = (energy_mj - idle_power_mw * duration_s) / inferences
    return total, above
