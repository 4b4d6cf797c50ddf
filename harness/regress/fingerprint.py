"""Are the baseline and candidate runs comparable? Diff the parts of their environment records that change
performance: device and board, power mode, clocks, driver and runtime versions, threads, providers.

Numbers measured under a different power mode or onnxruntime version are not a regression of the model; the
verdict says so (a warning, or a failure with --strict) instead of blaming the variant.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

# Readings that change from one run to the next on the same machine and say nothing about comparability.
# Matched against the last component of a flattened key.
_VOLATILE = re.compile(
    r"(^|_)(time|timestamp|date|created|started|finished|uptime|pid|boot|load|loadavg|available|free|used"
    r"|temp|temperature|temp_c|cur_?freq.*|cpu_freq_khz|current_?freq.*|git_sha|git_dirty|sha|host|hostname|node|run_id)($|_)",
)
# whole subtrees that are readings, not configuration, or derived copies of other keys (fingerprint_parts repeats
# device, libraries and settings; diffing both would report every change twice)
_VOLATILE_PREFIXES = ("sensors.", "idle.", "readings.", "fingerprint_parts.")


@dataclass(frozen=True)
class Difference:
    key: str
    baseline: Any
    candidate: Any

    def text(self) -> str:
        return f"{self.key}: {_show(self.baseline)} -> {_show(self.candidate)}"


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists stay whole values (a provider list is compared as a list)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value} if prefix else {}


def _load(text_or_dict: Any) -> dict[str, Any]:
    if text_or_dict is None:
        return {}
    if isinstance(text_or_dict, dict):
        return text_or_dict
    try:
        value = json.loads(text_or_dict)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def is_volatile(key: str) -> bool:
    if key.startswith(_VOLATILE_PREFIXES):
        return True
    return bool(_VOLATILE.search(key.rsplit(".", 1)[-1].lower()))


def comparable_view(run: dict[str, Any], scenarios: Iterable[tuple] = ()) -> dict[str, Any]:
    """What must match between two runs: the environment minus readings, the run's device, the comparable part
    of its config, and the set of (threads, provider, runtime) its measurements used."""
    view = {f"environment.{k}": v for k, v in flatten(_load(run.get("environment"))).items() if not is_volatile(k)}
    view["device"] = run.get("device")
    config = _load(run.get("config"))
    for key in ("threads", "provider", "providers", "runtime", "graph_optimization", "power_mode", "lock_clocks",
                "exclusive"):
        if key in config:
            view[f"config.{key}"] = config[key]
    scen = sorted({tuple("-" if v is None else str(v) for v in s) for s in scenarios})
    if scen:
        view["measurements.threads/provider/runtime"] = ["/".join(s) for s in scen]
    return view


def compare_fingerprints(baseline: dict[str, Any], candidate: dict[str, Any],
                         baseline_scenarios: Iterable[tuple] = (),
                         candidate_scenarios: Iterable[tuple] = ()) -> list[Difference]:
    """Differences between two runs' comparable environments (empty when the fingerprint hashes match and the
    scenarios agree)."""
    a = comparable_view(baseline, baseline_scenarios)
    b = comparable_view(candidate, candidate_scenarios)
    return [Difference(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
