"""The regression verdict: match the variants of two runs and judge every gated metric.

Latency is judged on the raw samples (significance.py) and then against the machine's own variation between
rounds and runs (verdict.py): a change that variation could explain is inconclusive, never a verdict. Several
baseline runs (`TAG@lastN`, or a baseline set from several runs) are pooled. Size, memory, energy, accuracy and
drift against thresholds from the gate file (see gates.py). A variant that is missing from the candidate, or
whose export or measurement failed there, is a failure: a nightly that silently stops measuring INT8 must not
pass.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.core.errors import HarnessError, UsageError
from harness.regress.data import Entry, entry_label, load_entries, load_previous_p50, load_run, load_samples
from harness.regress.fingerprint import Difference, compare_fingerprints
from harness.regress.gates import FAILED, IMPROVED, INCONCLUSIVE, PASS, REGRESSED, SKIPPED, Gates, ThresholdGate
from harness.regress.significance import run_to_run_noise
from harness.regress.verdict import judge_latency, spread_text
from harness.store.store import ReadSession

STATUS_ORDER = {FAILED: 0, REGRESSED: 1, INCONCLUSIVE: 2, IMPROVED: 3, PASS: 4, SKIPPED: 5}


@dataclass(frozen=True)
class Check:
    """One metric of one variant (in one scenario for latency and memory)."""

    label: str                   # model/variant [scenario]
    model: str | None
    variant: str
    scenario: dict[str, Any]
    metric: str
    status: str                  # pass | improved | regressed | inconclusive | failed | skipped
    baseline: float | None
    candidate: float | None
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.candidate is None or not self.baseline:
            return None
        return (self.candidate - self.baseline) / abs(self.baseline)


@dataclass
class RegressReport:
    baseline: dict[str, Any]
    candidate: dict[str, Any]
    gates_source: str
    strict: bool
    fingerprint: list[Difference]
    checks: list[Check]
    notes: list[str]

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.checks)

    @property
    def environment_failed(self) -> bool:
        return self.strict and bool(self.fingerprint)

    @property
    def passed(self) -> bool:
        return not (self.count(REGRESSED) or self.count(FAILED) or self.environment_failed)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in (REGRESSED, FAILED, INCONCLUSIVE, IMPROVED, PASS, SKIPPED)
                 if self.count(s)]
        if self.fingerprint:
            word = "failing (--strict)" if self.strict else "warning"
            parts.append(f"{len(self.fingerprint)} environment difference(s), {word}")
        return ("PASS" if self.passed else "REGRESSION") + ": " + (", ".join(parts) or "nothing to compare")

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": "pass" if self.passed else "regression",
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "inconclusive": self.count(INCONCLUSIVE),
            "baseline": self.baseline,
            "candidate": self.candidate,
            "gates": self.gates_source,
            "strict": self.strict,
            "environment_differences": [asdict(d) for d in self.fingerprint],
            "checks": [asdict(c) | {"change": c.change} for c in self.checks],
            "notes": self.notes,
        }


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    return {k: run.get(k) for k in ("run_id", "tag", "model", "device", "status", "created_at", "host", "git_sha")}


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def regress(store, baseline_ref: str, candidate_ref: str, gates: Gates, strict: bool = False) -> RegressReport:
    """Compare a candidate run with a baseline of one or more runs; raises UsageError on bad references,
    HarnessError when the baseline has no raw samples to test against."""
    cand_id = store.resolve_run(candidate_ref)
    base_ids = store.resolve_runs(baseline_ref, before=cand_id)
    pooled = len(base_ids) > 1
    base_ids = [b for b in base_ids if b != cand_id]        # a pooled baseline may hold the candidate itself
    if not base_ids:
        raise UsageError(f"--baseline {baseline_ref!r} and --candidate {candidate_ref!r} are the same run "
                         f"({cand_id}); compare two different runs")
    with store.session() as session:
        report = _regress(session, base_ids, cand_id, gates, strict)
    if pooled and len(base_ids) == 1:
        report.notes.append(f"baseline {baseline_ref!r}: only one run besides the candidate; judged against the "
                            "spread between its rounds")
    return report


def _regress(store: ReadSession, base_ids: list[str], cand_id: str, gates: Gates, strict: bool) -> RegressReport:
    base_id = base_ids[0]                       # the newest baseline run: matching, thresholds, fingerprint
    base_run, cand_run = load_run(store, base_id), load_run(store, cand_id)
    base_entries, base_unmeasured = load_entries(store, base_run)
    cand_entries, cand_unmeasured = load_entries(store, cand_run)
    notes: list[str] = []
    # the other baseline runs only add latency rounds for the same variant key (by name, as always)
    extra_base: dict[tuple, list[Entry]] = {}
    for other_id in base_ids[1:]:
        other_run = load_run(store, other_id)
        if other_run.get("status") != "complete":
            notes.append(f"baseline run {other_id} is {other_run.get('status')}, not complete")
        for e in load_entries(store, other_run)[0]:
            if e.measurement.get("status") == "ok":
                extra_base.setdefault(e.key, []).append(e)
    for run, label in ((base_run, "baseline"), (cand_run, "candidate")):
        if run.get("status") != "complete":
            notes.append(f"{label} run {run['run_id']} is {run.get('status')}, not complete")
    if not base_entries and not base_unmeasured:
        raise HarnessError(f"baseline run {base_id} has no variants; nothing to compare against")

    ok_base = [e for e in base_entries if e.measurement.get("status") == "ok"]
    extra_ids = [e.measurement["measurement_id"] for es in extra_base.values() for e in es]
    samples = load_samples(store, [e.measurement["measurement_id"] for e in base_entries + cand_entries] + extra_ids)
    if gates.latency.gates and ok_base and not any(e.measurement["measurement_id"] in samples for e in ok_base):
        raise HarnessError(f"baseline run {base_id} has no raw latency samples, so latency cannot be tested for "
                           "significance; re-run the baseline with `harness bench` and mark it with "
                           "`harness baseline set`")

    previous = load_previous_p50(store, cand_run, gates.latency.history_runs) if gates.latency.noise_sigmas else {}
    checks: list[Check] = []
    cand_by_key = {e.key: e for e in cand_entries}
    cand_by_name: dict[tuple, list[Entry]] = {}
    for e in cand_entries + cand_unmeasured:
        cand_by_name.setdefault((e.key[0], e.key[1]), []).append(e)
    variant_level_done: set[tuple] = set()

    for base in base_entries:
        name_key = (base.key[0], base.key[1])
        if base.measurement.get("status") != "ok" or base.variant.get("status") != "ok":
            notes.append(f"{base.label}: baseline measurement {base.measurement.get('status')}; not compared")
            continue
        cand = cand_by_key.get(base.key)
        failure = _missing_reason(base, cand, cand_by_name.get(name_key, []))
        if failure:
            checks.append(_check(base, "variant", FAILED, None, None, failure))
            continue
        # run-to-run noise is a property of identical configurations: only earlier runs of the very same model
        # file (same content hash) count, so a retrained model or an earlier slow night does not pose as noise
        same_file = [p50 for vid, p50 in previous.get(base.key, []) if vid == cand.variant["variant_id"]]
        checks.extend(_latency_checks(base, extra_base.get(base.key, []), cand, samples, gates, same_file))
        notes.extend(_busy_notes(base, cand))
        notes.extend(_unsteady_notes(base, checks))
        checks.extend(_measurement_gates(base, cand, gates))
        # once per variant (and per board in a fleet run: key[2] is device@board there)
        if (*name_key, base.key[2]) not in variant_level_done:
            variant_level_done.add((*name_key, base.key[2]))
            checks.extend(_variant_gates(base, cand, gates))

    base_keys = {e.key for e in base_entries}
    base_names = {(e.key[0], e.key[1]) for e in base_entries + base_unmeasured}
    for e in cand_entries:
        if e.key not in base_keys:
            notes.append(f"{e.label}: new in the candidate (not in the baseline)")
    for e in base_unmeasured:
        notes.append(f"{e.label}: {e.variant.get('status')} in the baseline"
                     + (f" ({e.variant.get('error')})" if e.variant.get("error") else "") + "; not compared")
    for e in cand_unmeasured:
        if (e.key[0], e.key[1]) not in base_names:
            notes.append(f"{e.label}: new in the candidate and {e.variant.get('status')}")

    if not checks:
        # a nightly that compared nothing must not be green: every baseline variant failed or was unmeasured
        checks.append(Check("(run)", None, "(all variants)", {}, "comparison", FAILED, None, None,
                            f"nothing in baseline run {base_id} could be compared (see notes)"))
    def scenarios(entries: list[Entry]) -> list[tuple]:
        return [(e.key[4], e.key[5], e.key[6]) for e in entries]      # threads, provider, runtime

    fingerprint = compare_fingerprints(base_run, cand_run, scenarios(base_entries), scenarios(cand_entries))
    checks.sort(key=lambda c: (STATUS_ORDER.get(c.status, 9), c.label, c.metric))
    notes.extend(_inconclusive_notes(checks, len(base_ids)))
    summary = _run_summary(base_run)
    if len(base_ids) > 1:
        summary["runs"] = list(base_ids)
    return RegressReport(summary, _run_summary(cand_run), gates.source, strict, fingerprint, checks, notes)


def _inconclusive_notes(checks: list[Check], baseline_runs: int) -> list[str]:
    """One note on what an inconclusive latency verdict means and what would settle it."""
    undecided = [c for c in checks if c.status == INCONCLUSIVE]
    if not undecided:
        return []
    busy = any(c.detail.get("host_busy") for c in undecided)
    text = (f"{len(undecided)} latency change(s) inconclusive: larger than the minimum effect but not beyond what "
            "this machine's own variation between rounds or runs (or a busy host) can explain, so neither improved "
            "nor regressed (not a failure)")
    if busy:
        text += "; the host was busy (other processes used the CPU while timing)"
    if baseline_runs < 2:
        text += "; re-run on a quieter host, or pool several baseline runs (--baseline TAG@last5)"
    else:
        text += "; re-run on a quieter host or with more rounds (--rounds 10 --min-duration 3)"
    return [text]


def _check(entry: Entry, metric: str, status: str, baseline: float | None, candidate: float | None, message: str,
           detail: dict | None = None, variant_level: bool = False) -> Check:
    board = str(entry.key[2] or "").partition("@")[2]
    label = (f"{board}: " if board else "") + f"{entry.key[0]}/{entry.key[1]}" if variant_level else entry.label
    scenario = {} if variant_level else entry.scenario
    return Check(label, entry.key[0], entry.key[1], scenario, metric, status, baseline, candidate, message,
                 detail or {})


def _missing_reason(base: Entry, cand: Entry | None, same_name: list[Entry]) -> str | None:
    if cand is not None:
        if cand.variant.get("status") != "ok":
            return f"export {cand.variant.get('status')} in the candidate: {cand.variant.get('error') or 'no reason'}"
        if cand.measurement.get("status") != "ok":
            return f"measurement failed in the candidate: {cand.measurement.get('error') or 'no reason'}"
        return None
    if not same_name:
        return "missing from the candidate run"
    broken = [e for e in same_name if e.variant.get("status") != "ok"]
    if broken:
        e = broken[0]
        return f"export {e.variant.get('status')} in the candidate: {e.variant.get('error') or 'no reason'}"
    others = sorted({entry_label(e.key) for e in same_name if e.measurement is not None})
    if others:
        return f"not measured in this scenario in the candidate (it has {', '.join(others)})"
    return "exported but not measured in the candidate"


def _unsteady_notes(base: Entry, checks: list[Check]) -> list[str]:
    """Say when a run's rounds disagree by more than the effect size: the verdict then leans on a machine that
    changed speed mid-run (changes of that size are inconclusive)."""
    out = []
    for c in checks:
        if c.label != base.label or "round_spread_baseline" not in c.detail:
            continue
        for side in ("baseline", "candidate"):
            spread = c.detail[f"round_spread_{side}"]
            if spread is not None and spread > c.detail["configured_min_effect"]:
                out.append(f"{c.label}: {side} rounds differ by {spread:.0%} in {c.metric}: the machine changed "
                           f"speed during that run, so a change this small is hard to tell from it"
                           + ("; consider re-measuring the baseline" if side == "baseline" else ""))
    return out


def _busy_notes(base: Entry, cand: Entry) -> list[str]:
    """The bench's own "machine may be busy" warnings, repeated where a reader of the verdict will see them: a
    latency verdict from a busy run deserves a second look."""
    out = []
    for side, entry in (("baseline", base), ("candidate", cand)):
        try:
            warnings = json.loads(entry.measurement.get("warnings") or "[]")
        except ValueError:
            continue
        out += [f"{entry.label}: {side}: {w}" for w in warnings
                if isinstance(w, str) and any(k in w for k in ("variation", "host busy", "rounds disagree"))]
    return out


def _round_loads(entry: Entry) -> list[float | None] | None:
    """Other processes' CPU use (cores) in each timed round, from the host-load sensor's windows (None when the
    measurement has no such reading)."""
    try:
        windows = json.loads(entry.measurement.get("sensors") or "{}").get("windows") or []
    except (ValueError, AttributeError):
        return None
    loads = [w.get("other_cpu_cores") if isinstance(w, dict) else None for w in windows]
    return loads if any(v is not None for v in loads) else None


def _latency_checks(base: Entry, others: list[Entry], cand: Entry, samples: dict, gates: Gates,
                    previous_p50: list[float]) -> list[Check]:
    settings = gates.latency
    out = []
    noise = run_to_run_noise(previous_p50)
    base_rounds = samples.get(base.measurement["measurement_id"])
    cand_rounds = samples.get(cand.measurement["measurement_id"])
    pooled = [(base_rounds, _round_loads(base))] if base_rounds else []
    pooled += [(samples[e.measurement["measurement_id"]], _round_loads(e)) for e in others
               if samples.get(e.measurement["measurement_id"])]
    for gate in settings.gates:
        b_val = _finite(base.measurement.get(gate.metric))
        c_val = _finite(cand.measurement.get(gate.metric))
        if not base_rounds or not cand_rounds:
            side = "baseline" if not base_rounds else "candidate"
            out.append(_check(base, gate.metric, FAILED, b_val, c_val,
                              f"no raw latency samples in the {side}; cannot test {gate.metric} for significance"))
            continue
        min_effect = gate.min_effect
        if noise is not None and settings.noise_sigmas:
            min_effect = max(min_effect, math.expm1(settings.noise_sigmas * noise))
        v = judge_latency([r for r, _ in pooled], cand_rounds, quantile=gate.quantile, min_effect=min_effect,
                          alpha=settings.alpha, confidence=settings.confidence, n_iter=settings.bootstrap_iterations,
                          seed=settings.seed, block_len=settings.block_len or None,
                          baseline_loads=[l for _, l in pooled], candidate_loads=_round_loads(cand))
        result, status = v.comparison, v.status
        ci = f"{settings.confidence:.0%} CI {result.ci_low - 1:+.1%}..{result.ci_high - 1:+.1%}"
        p = result.p_slower if result.change >= 0 else result.p_faster
        p_text = f", U-test p={p:.2g}" if p is not None else ""
        runs = f", {v.baseline_runs} baseline runs" if v.baseline_runs > 1 else ""
        text = f"{result.baseline_ms:.4g} -> {result.candidate_ms:.4g} ms ({result.change:+.1%}, {ci}{p_text}{runs})"
        floor = (f" (run-to-run noise {noise:.1%} over {len(previous_p50)} earlier runs)"
                 if min_effect > gate.min_effect else "")
        if status == PASS:
            text += f"; within {min_effect:.1%}{floor}"
        elif status == INCONCLUSIVE:
            text += f"; inconclusive: {v.reason}"
            spread = spread_text(v)
            if spread and "spread" not in v.reason:
                text += f" ({spread})"
            if v.host_busy:
                text += f"; {v.busy_text()}"
        else:
            word = "slower" if status == REGRESSED else "faster"
            spread = spread_text(v)
            text += f"; {word} by more than {min_effect:.1%}{floor} and than the variation" + (
                f" ({spread})" if spread else "")
        if v.quiet_only and status != INCONCLUSIVE:
            text += f"; judged on quiet rounds only ({v.busy_text()})"
        out.append(_check(base, gate.metric, status, result.baseline_ms, result.candidate_ms, text,
                          v.as_dict() | {"min_effect": min_effect, "configured_min_effect": gate.min_effect,
                                         "run_to_run_noise": noise, "alpha": settings.alpha}))
    return out


def _threshold_check(entry: Entry, gate: ThresholdGate, metric: str, b_val, c_val, variant_level: bool):
    outcome = gate.evaluate(_finite(b_val), _finite(c_val))
    if outcome.status == SKIPPED and b_val is None and c_val is None:
        return None                      # not measured on this device (e.g. energy on a VM): nothing to say
    return _check(entry, metric, outcome.status, _finite(b_val), _finite(c_val), outcome.message,
                  {"gate": gate.name, "better": gate.better, "tolerance_rel": gate.tolerance_rel,
                   "tolerance_abs": gate.tolerance_abs, "limit": gate.limit}, variant_level=variant_level)


def _measurement_gates(base: Entry, cand: Entry, gates: Gates) -> list[Check]:
    out = []
    for name, gate in gates.thresholds.items():
        if name in base.measurement or name in cand.measurement:
            check = _threshold_check(base, gate, name, base.measurement.get(name), cand.measurement.get(name), False)
            if check:
                out.append(check)
    return out


def _variant_gates(base: Entry, cand: Entry, gates: Gates) -> list[Check]:
    """Gates on the variant itself (size) and its quality metrics: one check per variant, not per scenario."""
    out = []
    for name, gate in gates.thresholds.items():
        if name in base.measurement or name in cand.measurement:
            continue
        if name in base.variant or name in cand.variant:
            check = _threshold_check(base, gate, name, base.variant.get(name), cand.variant.get(name), True)
            if check:
                out.append(check)
    for key in sorted(set(base.quality) | set(cand.quality)):
        reference, _, metric = key.partition(".")
        gate = gates.threshold_for(reference, metric)
        if gate is None:
            continue
        check = _threshold_check(base, gate, key, base.quality.get(key), cand.quality.get(key), True)
        if check:
            out.append(check)
    return out
