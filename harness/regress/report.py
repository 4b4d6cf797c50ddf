"""Render a regression report: a plain table for logs, Markdown for PR comments, JUnit XML for CI, JSON."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from harness.regress.check import RegressReport
from harness.regress.gates import FAILED, IMPROVED, INCONCLUSIVE, PASS, REGRESSED, SKIPPED

MARK = {FAILED: "FAIL", REGRESSED: "REGRESSED", INCONCLUSIVE: "inconclusive", IMPROVED: "improved", PASS: "ok",
        SKIPPED: "skipped"}


def _value(v) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1e6 or (0 < abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:.4g}"


def _change(c) -> str:
    return "-" if c is None else f"{c:+.1%}"


def _run_line(label: str, run: dict) -> str:
    tag = f" tag {run['tag']}" if run.get("tag") else ""
    pooled = f" (newest of {len(run['runs'])} pooled runs: {', '.join(run['runs'])})" if run.get("runs") else ""
    return f"{label}: {run['run_id']}{tag}, {run.get('device')}, {run.get('created_at')}{pooled}"


def render_text(report: RegressReport) -> str:
    from harness.core.units import print_table

    out = io.StringIO()
    out.write(_run_line("baseline ", report.baseline) + "\n")
    out.write(_run_line("candidate", report.candidate) + "\n")
    for diff in report.fingerprint:
        word = "ERROR" if report.strict else "warning"
        out.write(f"{word}: environment differs: {diff.text()}\n")
    out.write("\n")
    rows = [{"variant": c.label, "metric": c.metric, "baseline": _value(c.baseline),
             "candidate": _value(c.candidate), "change": _change(c.change), "verdict": MARK[c.status],
             "detail": c.message} for c in report.checks if c.status != SKIPPED]
    if rows:
        print_table(rows, ["variant", "metric", "baseline", "candidate", "change", "verdict", "detail"], out=out)
    else:
        out.write("no metrics to compare\n")
    for note in report.notes:
        out.write(f"note: {note}\n")
    out.write("\n" + report.summary() + "\n")
    return out.getvalue()


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: RegressReport) -> str:
    icon = "✅" if report.passed else "❌"
    lines = [f"## {icon} harness regress: {report.summary()}", "",
             f"- baseline: `{report.baseline['run_id']}`" + (f" ({report.baseline['tag']})"
                                                            if report.baseline.get("tag") else "")
             + (f", pooled with {len(report.baseline['runs']) - 1} earlier run(s)" if report.baseline.get("runs")
                else ""),
             f"- candidate: `{report.candidate['run_id']}`" + (f" ({report.candidate['tag']})"
                                                              if report.candidate.get("tag") else ""),
             f"- device: {report.candidate.get('device')}; gates: {report.gates_source}", ""]
    if report.fingerprint:
        lines += ["### Environment differences" + (" (failing: --strict)" if report.strict else ""), "",
                  "| key | baseline | candidate |", "|---|---|---|"]
        lines += [f"| `{_md(d.key)}` | {_md(d.baseline)} | {_md(d.candidate)} |" for d in report.fingerprint]
        lines.append("")
    shown = [c for c in report.checks if c.status != SKIPPED]
    if shown:
        lines += ["| variant | metric | baseline | candidate | change | verdict | detail |",
                  "|---|---|---:|---:|---:|---|---|"]
        for c in shown:
            verdict = (f"**{MARK[c.status]}**" if c.status in (FAILED, REGRESSED)
                       else f"_{MARK[c.status]}_" if c.status == INCONCLUSIVE else MARK[c.status])
            lines.append(f"| {_md(c.label)} | {c.metric} | {_value(c.baseline)} | {_value(c.candidate)} | "
                         f"{_change(c.change)} | {verdict} | {_md(c.message)} |")
        lines.append("")
    if report.notes:
        lines += ["### Notes", ""] + [f"- {_md(n)}" for n in report.notes] + [""]
    return "\n".join(lines)


def render_junit(report: RegressReport) -> str:
    """One testcase per variant x metric. Regressions and missing variants are <failure>s; skipped metrics are
    <skipped/>; an environment difference is its own testcase, failing only with --strict."""
    created = report.candidate.get("created_at")
    # the Ant/Jenkins schema wants an ISO 8601 timestamp without a zone, and a time on every suite and case
    stamp = created.isoformat(timespec="seconds") if hasattr(created, "isoformat") else str(created or "")
    suite = ET.Element("testsuite", name="harness.regress", timestamp=stamp, time="0",
                       hostname=str(report.candidate.get("host") or "localhost"))
    props = ET.SubElement(suite, "properties")
    for key, value in (("baseline", report.baseline["run_id"]), ("candidate", report.candidate["run_id"]),
                       ("device", report.candidate.get("device")), ("gates", report.gates_source),
                       ("verdict", "pass" if report.passed else "regression")):
        ET.SubElement(props, "property", name=key, value=str(value))
    ET.SubElement(props, "property", name="inconclusive", value=str(report.count(INCONCLUSIVE)))
    if report.baseline.get("runs"):
        ET.SubElement(props, "property", name="baseline_runs", value=",".join(report.baseline["runs"]))
    failures = skipped = 0
    for c in report.checks:
        case = ET.SubElement(suite, "testcase", classname=f"harness.regress.{c.label}", name=c.metric, time="0")
        if c.status in (REGRESSED, FAILED):
            failures += 1
            kind = "regression" if c.status == REGRESSED else "missing"
            node = ET.SubElement(case, "failure", message=f"{c.label} {c.metric}: {c.message}", type=kind)
            node.text = f"baseline={_value(c.baseline)} candidate={_value(c.candidate)} change={_change(c.change)}"
        elif c.status == SKIPPED:
            skipped += 1
            ET.SubElement(case, "skipped", message=c.message)
        elif c.status == INCONCLUSIVE:
            # no verdict either way: JUnit has no such state, and <skipped> is what CI shows as "not decided"
            skipped += 1
            ET.SubElement(case, "skipped", message=f"inconclusive: {c.message}")
        else:
            ET.SubElement(case, "system-out").text = f"{MARK[c.status]}: {c.message}"
    env = ET.SubElement(suite, "testcase", classname="harness.regress.environment", name="fingerprint", time="0")
    if report.fingerprint:
        text = "\n".join(d.text() for d in report.fingerprint)
        if report.strict:
            failures += 1
            ET.SubElement(env, "failure", message=f"{len(report.fingerprint)} environment difference(s)",
                          type="environment").text = text
        else:
            ET.SubElement(env, "system-out").text = "warning: environment differs\n" + text
    suite.set("tests", str(len(report.checks) + 1))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    if report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(report.notes)
    root = ET.Element("testsuites", name="harness regress", tests=suite.get("tests"), failures=str(failures),
                      errors="0", skipped=str(skipped))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
