"""A tegrastats log recorded anywhere (`tegrastats --interval N --logfile F`, or its stdout saved to a file), turned
into per-rail mean power, the board total with its rails and scope, the duration and the energy integrated over
time. `harness power --tegrastats-log` prints it; it needs no sensor, so it also reads logs from boards where
harness itself is not installed.

Sample times: tegrastats stamps each line with the local time at 1 s resolution (JetPack 5/6, and `--logfile` on
older releases), or not at all. With timestamps that advance every line, the samples sit at those times (uneven
spacing is integrated as recorded). When several lines share a second (an interval under 1000 ms), the interval is
estimated from the timestamps across the log - first and last second boundary over the lines between them - and
the samples are spaced evenly at it. Without timestamps the spacing is `--interval-ms`, else tegrastats' default
of 1000 ms; the summary says which.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.device_profiles.energy import integrate_power_mj
from harness.device_profiles.jetson_board import BoardSpec, load_boards
from harness.device_profiles.jetson_power import INPUT_RAILS, TotalRule, total_mw, total_rule
from harness.device_profiles.tegrastats import TegrastatsSample, parse_line
from harness.core.errors import SensorError, UsageError

TEGRASTATS_DEFAULT_INTERVAL_MS = 1000   # tegrastats without --interval
# timestamps and --interval-ms that disagree by more than this are reported (a wrong --interval-ms, or a log
# that was paused)
INTERVAL_MISMATCH = 0.2


@dataclass
class LogSummary:
    """What one log says about power; units in the names."""

    path: str
    lines: int
    samples: int
    malformed_lines: int
    malformed_examples: list[str]
    samples_without_rails: int
    duration_s: float
    interval_ms: float
    interval_source: str
    rail_mean_power_mw: dict[str, float]
    rail_energy_mj: dict[str, float]
    board: str | None
    board_source: str | None
    total_rails: list[str] | None
    total_scope: str | None
    total_missing_rails: list[str] | None
    total_mean_power_mw: float | None
    total_peak_power_mw: float | None
    energy_mj: float | None
    energy_reason: str | None
    warnings: list[str] = field(default_factory=list)
    first_timestamp: str | None = None
    last_timestamp: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def board_by_key(key: str, boards: Sequence[BoardSpec] | None = None) -> BoardSpec:
    boards = list(load_boards() if boards is None else boards)
    for b in boards:
        if b.key == key:
            return b
    raise UsageError(f"unknown board {key!r}; choose one of {', '.join(sorted(b.key for b in boards))}")


def guess_board(rails: Sequence[str], boards: Sequence[BoardSpec] | None = None) -> BoardSpec | None:
    """The one board whose documented total-rail set overlaps these rails, when exactly one does. Only used
    without an input rail (where the input rail alone decides the total and the board does not matter)."""
    have = set(rails)
    hits = [b for b in (load_boards() if boards is None else boards)
            if not set(b.total_rails) & set(INPUT_RAILS) and set(b.total_rails) & have]
    return hits[0] if len(hits) == 1 else None


def _sample_times(samples: Sequence[TegrastatsSample], interval_ms: float | None) -> tuple[list[float], float, str,
                                                                                            list[str]]:
    """Seconds since the first sample, the interval used, and where it came from."""
    warnings: list[str] = []
    stamps = [s.timestamp for s in samples]
    n = len(samples)
    if n and all(t is not None for t in stamps):
        secs = [(t - stamps[0]).total_seconds() for t in stamps]   # type: ignore[operator]
        if any(b < a for a, b in zip(secs, secs[1:])):
            warnings.append("timestamps go backwards (clock changed while recording?); spacing from "
                            + ("--interval-ms" if interval_ms else "tegrastats' default interval"))
        elif n > 1 and len(set(secs)) == n:
            source = "timestamps"
            if interval_ms:
                _check(interval_ms, (secs[-1] - secs[0]) * 1000 / (n - 1), warnings)
                source = "timestamps (one line per second or slower; --interval-ms only checked against them)"
            return secs, (secs[-1] - secs[0]) * 1000 / (n - 1), source, warnings
        elif n > 1 and secs[-1] > secs[0]:
            # several lines per second: the first line of the first full second to the first line of the last
            first = next(i for i, s in enumerate(secs) if s > secs[0])
            last = secs.index(secs[-1])
            if last > first:
                est_ms = (secs[last] - secs[first]) * 1000 / (last - first)
                if interval_ms:
                    _check(interval_ms, est_ms, warnings)
                    return [i * interval_ms / 1000 for i in range(n)], interval_ms, "--interval-ms", warnings
                return ([i * est_ms / 1000 for i in range(n)], est_ms,
                        "estimated from timestamps (1 s resolution, several lines per second)", warnings)
    if interval_ms:
        return [i * interval_ms / 1000 for i in range(n)], interval_ms, "--interval-ms", warnings
    source = f"tegrastats default ({TEGRASTATS_DEFAULT_INTERVAL_MS} ms; the log has no usable timestamps - give " \
             f"--interval-ms if it was recorded with --interval)"
    return ([i * TEGRASTATS_DEFAULT_INTERVAL_MS / 1000 for i in range(n)], float(TEGRASTATS_DEFAULT_INTERVAL_MS),
            source, warnings)


def _check(given_ms: float, stamped_ms: float, warnings: list[str]) -> None:
    if stamped_ms > 0 and abs(given_ms - stamped_ms) / stamped_ms > INTERVAL_MISMATCH:
        warnings.append(f"--interval-ms {given_ms:g} disagrees with the log's timestamps (about {stamped_ms:.0f} ms "
                        f"per line)")


def summarize_log(path: str | Path, board: str | None = None, interval_ms: float | None = None) -> LogSummary:
    """Read a tegrastats log. Malformed lines are counted, not fatal; SensorError when no line parses."""
    path = Path(path)
    if interval_ms is not None and interval_ms <= 0:
        raise UsageError(f"--interval-ms must be positive, not {interval_ms:g}")
    spec = board_by_key(board) if board else None
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read tegrastats log {path}: {exc.strerror or exc}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    samples: list[TegrastatsSample] = []
    bad: list[str] = []
    for line in lines:
        try:
            samples.append(parse_line(line))
        except SensorError:
            bad.append(line.strip()[:80])
    if not samples:
        raise SensorError(f"{path}: no tegrastats line in {len(lines)} non-empty line(s)"
                          + (f" (first: {bad[0]!r})" if bad else ""))
    with_rails = [s for s in samples if s.rails_mw]
    times_all, interval, source, warnings = _sample_times(samples, interval_ms)
    times = [t for t, s in zip(times_all, samples) if s.rails_mw]
    if bad:
        warnings.append(f"{len(bad)} malformed line(s) skipped, e.g. {bad[0]!r}")
    summary = LogSummary(
        path=str(path), lines=len(lines), samples=len(samples), malformed_lines=len(bad),
        malformed_examples=bad[:3], samples_without_rails=len(samples) - len(with_rails),
        duration_s=(times_all[-1] - times_all[0]) if times_all else 0.0, interval_ms=interval,
        interval_source=source, rail_mean_power_mw={}, rail_energy_mj={}, board=spec.key if spec else None,
        board_source="--board" if spec else None, total_rails=None, total_scope=None, total_missing_rails=None,
        total_mean_power_mw=None, total_peak_power_mw=None, energy_mj=None, energy_reason=None, warnings=warnings,
        first_timestamp=samples[0].timestamp.isoformat(sep=" ") if samples[0].timestamp else None,
        last_timestamp=samples[-1].timestamp.isoformat(sep=" ") if samples[-1].timestamp else None)
    if len(with_rails) < 2:
        summary.energy_reason = (f"{len(with_rails)} line(s) with power rails; energy needs two or more (tegrastats "
                                 f"prints rails only where it can read the INA3221 monitors, as root on some boards)")
        return summary
    span = times[-1] - times[0]
    # a rail is integrated over the lines that carry it (a truncated last line may lack some)
    for rail in sorted(set().union(*(s.rails_mw for s in with_rails))):
        pts = [(t, s.rails_mw[rail]) for t, s in zip(times, with_rails) if rail in s.rails_mw]
        if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
            continue
        e = integrate_power_mj([p[0] for p in pts], [p[1] for p in pts])
        summary.rail_energy_mj[rail] = e
        summary.rail_mean_power_mw[rail] = e / (pts[-1][0] - pts[0][0])
    rails_seen = sorted(summary.rail_energy_mj)
    rule, reason = _rule(rails_seen, spec, summary)
    if rule is None:
        summary.energy_reason = reason
        return summary
    pts = [(t, total_mw(s.rails_mw, rule)) for t, s in zip(times, with_rails)]
    kept = [(t, v) for t, v in pts if v is not None]
    if len(kept) < len(pts):
        warnings.append(f"{len(pts) - len(kept)} line(s) lack a rail of the total ({', '.join(rule.rails)}) and were "
                        f"bridged by their neighbours")
    if len(kept) < 2 or span <= 0:
        summary.energy_reason = "fewer than two lines carry every rail of the total"
        return summary
    energy = integrate_power_mj([t for t, _ in kept], [v for _, v in kept])
    summary.energy_mj = energy
    summary.total_mean_power_mw = energy / (kept[-1][0] - kept[0][0])
    summary.total_peak_power_mw = max(v for _, v in kept)
    summary.total_rails = list(rule.rails)
    summary.total_scope = rule.scope
    summary.total_missing_rails = list(rule.missing) or None
    if rule.missing:
        warnings.append(rule.warning())
    return summary


def _rule(rails: list[str], spec: BoardSpec | None, summary: LogSummary) -> tuple[TotalRule | None, str | None]:
    if spec is None and not set(rails) & set(INPUT_RAILS):
        spec = guess_board(rails)
        if spec is not None:
            summary.board, summary.board_source = spec.key, "guessed from the rail names (give --board to choose)"
    if spec is None:
        return total_rule(rails)
    return total_rule(rails, spec.total_rails, spec.total_scope)
