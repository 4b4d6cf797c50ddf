"""What regress and history read from the result store: runs, their measured variants, raw samples, quality."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.core.errors import UsageError
from harness.store import queries

# How a variant measured in one run is found again in another. The variant_id is a content hash that changes
# whenever the model is retrained, so variants match on their name, not their id.
KEY_FIELDS = ("model", "variant", "device", "batch_size", "threads", "provider", "runtime")


@dataclass
class Entry:
    """One variant of a run in one scenario (or with no measurement when its export or measurement failed)."""

    key: tuple
    variant: dict[str, Any]
    measurement: dict[str, Any] | None
    quality: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return entry_label(self.key)

    @property
    def scenario(self) -> dict[str, Any]:
        return dict(zip(KEY_FIELDS[3:], self.key[3:]))


def device_key(device: str | None, board: str | None) -> str | None:
    """The `device` part of a key: a fleet measurement is matched on its board too (`jetson@orin-1`), so regress
    compares each board with itself."""
    return f"{device}@{board}" if board else device


def entry_label(key: tuple) -> str:
    model, name, device, batch, threads, provider, _runtime = key
    parts = [f"batch {batch}" if batch is not None else None,
             f"{threads} threads" if threads is not None else None,
             _short_provider(provider)]
    scen = ", ".join(p for p in parts if p)
    board = str(device).partition("@")[2] if device else ""
    return (f"{board}: " if board else "") + f"{model}/{name}" + (f" [{scen}]" if scen else "")


def _short_provider(provider: str | None) -> str | None:
    if not provider:
        return None
    return provider.removesuffix("ExecutionProvider").lower()


def load_run(store, run_id: str) -> dict[str, Any]:
    row = queries.run_row(store, run_id)
    if row is None:
        raise UsageError(f"run {run_id} is not in {store.path}")
    return row


def load_entries(store, run: dict[str, Any]) -> tuple[list[Entry], list[Entry]]:
    """(measured entries, variants with no measurement) of one run, with quality metrics attached."""
    run_id = run["run_id"]
    variants = queries.variants_of_run(store, run_id, order="name")
    measurements = queries.measurements_of_run(store, run_id)
    # keyed by (variant, board): a fleet run has each variant's quality once per board (board None otherwise)
    quality: dict[tuple, dict[str, float]] = defaultdict(dict)
    for row in queries.quality_of_run(store, run_id):
        quality[(row["variant_id"], row["board"])][f"{row['reference']}.{row['metric']}"] = row["value"]
    by_id = {v["variant_id"]: v for v in variants}
    measured_ids = set()
    entries = []
    for m in measurements:
        v = by_id.get(m["variant_id"])
        if v is None:
            continue
        measured_ids.add(v["variant_id"])
        board = m.get("board")
        key = (v.get("model") or run.get("model"), v["name"], device_key(run["device"], board), m.get("batch_size"),
               m.get("threads"), m.get("provider"), m.get("runtime"))
        entries.append(Entry(key, v, m, quality.get((v["variant_id"], board), {})))
    unmeasured = [Entry((v.get("model") or run.get("model"), v["name"], run["device"], None, None, None, None),
                        v, None, quality.get((v["variant_id"], None), {}))
                  for v in variants if v["variant_id"] not in measured_ids]
    return entries, unmeasured


def load_samples(reader, measurement_ids: list[str]) -> dict[str, list[np.ndarray]]:
    """Raw latencies (ns) per measurement, as a list of rounds in measurement order."""
    if not measurement_ids:
        return {}
    cols = queries.sample_columns(reader, measurement_ids)
    ids = np.asarray(cols["measurement_id"], dtype=object)
    rounds = np.asarray(cols["round"])
    latency = np.asarray(cols["latency_ns"], dtype=np.int64)
    out: dict[str, list[np.ndarray]] = {}
    if not len(ids):
        return out
    # rows are sorted by (measurement, round): split where either changes
    change = np.flatnonzero((ids[1:] != ids[:-1]) | (rounds[1:] != rounds[:-1])) + 1
    for a, b in zip(np.concatenate([[0], change]), np.concatenate([change, [len(ids)]])):
        out.setdefault(ids[a], []).append(latency[a:b])
    return out


def load_previous_p50(store, candidate: dict[str, Any], max_runs: int) -> dict[tuple, list[tuple[str, float]]]:
    """(variant_id, p50 ms) of each variant key in the `max_runs` complete runs with the candidate's tag that
    precede it, oldest first. Empty when the candidate has no tag."""
    if not candidate.get("tag") or max_runs <= 0:
        return {}
    runs = queries.previous_runs(store, candidate["tag"], candidate["created_at"], candidate["device"], max_runs)
    if not runs:
        return {}
    rows = queries.p50_rows_of_runs(store, [r["run_id"] for r in runs])
    out: dict[tuple, list[tuple[str, float]]] = defaultdict(list)
    for row in rows:
        if row["p50_ms"] is not None:
            key = (row["model"], row["name"], device_key(row["device"], row["board"]), row["batch_size"], row["threads"], row["provider"],
                   row["runtime"])
            out[key].append((row["variant_id"], float(row["p50_ms"])))
    return dict(out)
