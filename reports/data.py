"""Read-only access to the result store for the reports: fixed, parameterised queries only.

A bench holds the DuckDB file exclusively while it commits a variant, so a long-lived dashboard must not keep a
connection open: every load here opens a read-only connection, runs its few queries, and closes it, retrying
on the lock for a short while (`lock_timeout_s`). A load that still finds the file busy raises `StoreBusy` and
the caller keeps showing what it had.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import (NotAHarnessStoreError, StoreError, StoreLockedError, StoreMissingError,
                                 StoreSchemaError)
from harness.store import Store, queries
from harness.store.schema import LATEST
from harness.core.comparison import relative, scenario_key, size_ratio, speedup
from harness.reports.layer_profile import load_profiles
from harness.reports.metrics import COMPARISON_COLUMNS, METRICS, QUALITY_COLUMNS, ratio_key


class StoreBusy(StoreLockedError):
    """A bench held the database past the reader's short lock timeout; try again on the next refresh."""


@dataclass(frozen=True)
class StoreState:
    """Whether the store can be shown, and if not, a message that says what to do."""

    status: str             # ok | missing | empty | old_schema | newer_schema | not_harness | busy | error
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def probe(path: str | Path, lock_timeout_s: float = 2.0) -> StoreState:
    """Classify the database at `path` without raising."""
    path = Path(path)
    if not path.exists():
        return StoreState("missing", f"No result database at {path}. Run `harness bench --db {path}` to create "
                                     "one, or start the dashboard with --db pointing at an existing file.")
    store = Store(path, lock_timeout_s=lock_timeout_s)
    try:
        with store.read() as con:
            runs = queries.run_count(con)
    except StoreLockedError as exc:
        return StoreState("busy", f"{exc}. The page retries on its next refresh.")
    except NotAHarnessStoreError:
        return StoreState("not_harness", f"{path} is not a harness result database (no schema_version "
                                         "table). Point --db at a file written by `harness bench`.")
    except StoreSchemaError as exc:
        if exc.newer:
            return StoreState("newer_schema", str(exc))
        return StoreState("old_schema", f"{exc}. The dashboard only reads, so it never upgrades a file "
                                        f"itself (schema v{LATEST} needed).")
    except StoreMissingError as exc:   # removed between the exists() check and the open
        return StoreState("missing", str(exc))
    except StoreError as exc:
        return StoreState("error", str(exc))
    if not runs:
        return StoreState("empty", f"{path} holds no runs yet. Run `harness bench --db {path}`; the page "
                                   "refreshes when the first run lands.")
    return StoreState("ok")


@dataclass
class RunData:
    """One run as the views need it. `table` has one row per (variant, scenario); failed variants have a row
    with no measurement so their reason is still shown."""

    run: dict[str, Any]
    table: pd.DataFrame
    layers: pd.DataFrame
    quality: pd.DataFrame
    root_id: str | None
    scenarios: list[tuple[Any, Any]] = field(default_factory=list)
    # `bench --profile-layers`: {variant_id: harness.reports.layer_profile.VariantProfile}, empty without one
    profiles: dict[str, Any] = field(default_factory=dict)

    @property
    def ok_rows(self) -> pd.DataFrame:
        return self.table[self.table["measurement_status"] == "ok"]

    def variant_label(self, variant_id: str) -> str:
        rows = self.table[self.table["variant_id"] == variant_id]
        return str(rows["name"].iloc[0]) if len(rows) else variant_id


def _frame(cursor) -> pd.DataFrame:
    names = [d[0] for d in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=names)


class ReportReader:
    """Short read-only connections over one store file."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 2.0):
        self.path = Path(path)
        self.store = Store(self.path, lock_timeout_s=lock_timeout_s)

    @contextlib.contextmanager
    def _connection(self):
        try:
            with self.store.read() as con:
                yield con
        except StoreLockedError as exc:
            raise StoreBusy(str(exc)) from None

    # -- what changed --------------------------------------------------------------------------------------------
    def change_token(self) -> tuple:
        """Cheap summary that changes whenever a run starts, gains a variant or finishes."""
        with self._connection() as con:
            return queries.change_token(con)

    # -- runs ----------------------------------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        with self._connection() as con:
            return _frame(queries.report_runs(con))

    def run_data(self, run_id: str) -> RunData:
        with self._connection() as con:
            run_rows = _frame(queries.report_run(con, run_id))
            if run_rows.empty:
                raise StoreError(f"no run {run_id!r} in {self.path}")
            table = _frame(queries.report_variant_table(con, run_id))
            quality = _frame(queries.report_quality(con, run_id))
            layers = _frame(queries.report_layers(con, run_id))
            profiles = load_profiles(con, run_id)
        data = build_run_data(run_rows.iloc[0].to_dict(), table, quality, layers)
        data.profiles = profiles
        return data

    # -- samples -------------------------------------------------------------------------------------------------
    def histograms(self, measurement_ids: list[str], bins: int = 60, upper_quantile: float = 0.995
                   ) -> dict[str, Any]:
        """Latency histograms computed in DuckDB, so a million samples never leave the database.

        One shared bin range for all measurements (so they overlay): from the fastest sample to the
        `upper_quantile` of all of them; slower samples are counted in the last bin (`overflow` says how many).
        """
        if not measurement_ids:
            return {"edges_ms": [], "series": {}}
        with self._connection() as con:
            lo, hi, total = queries.latency_range(con, measurement_ids, upper_quantile)
            if not total:
                return {"edges_ms": [], "series": {}}
            hi = max(float(hi), float(lo) + 1.0)
            width = (hi - float(lo)) / bins
            rows = queries.latency_bins(con, measurement_ids, float(lo), width, bins, hi)
        series: dict[str, dict[str, Any]] = {}
        for mid, b, n, over in rows:
            s = series.setdefault(mid, {"counts": [0] * bins, "total": 0, "overflow": 0})
            s["counts"][int(b)] += int(n)
            s["total"] += int(n)
            s["overflow"] += int(over)
        edges_ms = [(float(lo) + i * width) / 1e6 for i in range(bins + 1)]
        return {"edges_ms": edges_ms, "series": series, "upper_quantile": upper_quantile}

    def sample_stats(self, measurement_id: str, bins: int = 60) -> dict[str, Any] | None:
        """What a TensorBoard histogram needs (min, max, num, sum, sum_squares, bucket_limits, bucket_counts)
        in ms, computed in DuckDB; bucket limits are right edges, the last one the slowest sample."""
        with self._connection() as con:
            row = queries.latency_moments_ms(con, measurement_id)
        if not row or not row[2]:
            return None
        lo, hi, num, total, squares = row
        hist = self.histograms([measurement_id], bins=bins)
        edges = hist["edges_ms"]
        counts = [float(c) for c in hist["series"][measurement_id]["counts"]]
        limits = [float(e) for e in edges[1:]]
        limits[-1] = max(limits[-1], float(hi))
        return {"min": float(lo), "max": float(hi), "num": int(num), "sum": float(total),
                "sum_squares": float(squares), "bucket_limits": limits, "bucket_counts": counts}

    # -- history -------------------------------------------------------------------------------------------------
    def history(self, tag: str | None, model: str | None, device: str | None) -> pd.DataFrame:
        """p50 and task accuracy per variant name across complete runs with the same tag, model and device
        (runs without a tag are compared with other untagged runs), oldest first."""
        with self._connection() as con:
            return _frame(queries.report_history(con, tag, model, device))


def build_run_data(run: dict[str, Any], table: pd.DataFrame, quality: pd.DataFrame,
                   layers: pd.DataFrame) -> RunData:
    """Join quality into the per-scenario table and give each row a unique, readable label."""
    table = table.copy()
    for key, candidates in QUALITY_COLUMNS.items():
        values: dict[str, float] = {}
        for reference, metric in reversed(candidates):   # first candidate wins: applied last
            sel = quality[(quality["reference"] == reference) & (quality["metric"] == metric)]
            values.update({vid: val for vid, val in zip(sel["variant_id"], sel["value"]) if val is not None})
        table[key] = table["variant_id"].map(values).astype("float64")
    roots = table[(table["variant_id"] == table["root_id"]) | table["base_id"].isna()]
    root_id = str(roots["variant_id"].iloc[0]) if len(roots) else None
    if root_id is not None:
        # agreement/KL of the root against itself are exact (1 and 0); filling them keeps the root on the plots
        is_root = table["variant_id"] == root_id
        if table["agreement"].notna().any():
            table.loc[is_root & table["agreement"].isna(), "agreement"] = 1.0
        if table["kl"].notna().any():
            table.loc[is_root & table["kl"].isna(), "kl"] = 0.0
    if root_id is not None and len(table):
        # the root first: it is the default base and the reader's anchor
        table = table.assign(_not_root=table["variant_id"] != root_id).sort_values(
            "_not_root", kind="stable").drop(columns="_not_root")
    scenarios = sorted({(b, t) for b, t in zip(table["batch_size"], table["threads"])
                        if b == b and b is not None}, key=lambda s: (s[0] or 0, s[1] or 0))
    multi = len(scenarios) > 1

    def label(row) -> str:
        if not multi or row["batch_size"] != row["batch_size"] or row["batch_size"] is None:
            return str(row["name"])
        threads = "" if row["threads"] is None or row["threads"] != row["threads"] else f" t{int(row['threads'])}"
        return f"{row['name']} bs{int(row['batch_size'])}{threads}"

    def board_label(row) -> str:
        board = row.get("board")
        return label(row) + (f" @{board}" if isinstance(board, str) and board else "")

    table["scenario_label"] = [label(r) for _, r in table.iterrows()] if len(table) else []
    table["label"] = [board_label(r) for _, r in table.iterrows()] if len(table) else []
    table["warnings"] = [json.loads(w) if isinstance(w, str) and w else [] for w in table["warnings"]]
    table["measurement_status"] = [
        ms if isinstance(ms, str) else (vs if vs != "ok" else "not measured")
        for ms, vs in zip(table["measurement_status"], table["variant_status"])]
    return RunData(run=run, table=table.reset_index(drop=True), layers=layers, quality=quality,
                   root_id=root_id, scenarios=scenarios)


def with_ratios(table: pd.DataFrame, base_id: str | None) -> pd.DataFrame:
    """Add the figures against the base variant, all from harness.core.comparison (the same functions
    `harness compare` uses): `<metric>_ratio` = value / base value (the "x base" multiples), and Compression
    Board's `size_ratio` = base / variant size and `speedup_p50` / `speedup_p90` = base / variant latency.
    Latency-type metrics are compared within the same scenario (batch size, threads, provider); size is a property
    of the variant, so every row of a variant, measured or not, gets the same size figures."""
    out = table.copy()
    for key in [*(ratio_key(k) for k in METRICS), *COMPARISON_COLUMNS]:
        out[key] = float("nan")
    if base_id is None or out.empty:
        return out
    base_rows = out[out["variant_id"] == base_id]
    base = base_rows[base_rows["measurement_status"] == "ok"]
    by_scenario = {scenario_key(b): b for _, b in base.iterrows()}
    base_size = next((s for s in base_rows["size_bytes"] if not pd.isna(s)), None)

    def figures(row) -> dict[str, float | None]:
        b = by_scenario.get(scenario_key(row))
        values = {ratio_key(k): relative(row[k], b[k]) if b is not None else None for k in METRICS}
        values[ratio_key("size_bytes")] = relative(row["size_bytes"], base_size)
        values["size_ratio"] = size_ratio(base_size, row["size_bytes"])
        values["speedup_p50"] = speedup(b["p50_ms"], row["p50_ms"]) if b is not None else None
        values["speedup_p90"] = speedup(b["p90_ms"], row["p90_ms"]) if b is not None else None
        return values

    computed = pd.DataFrame([figures(r) for _, r in out.iterrows()], index=out.index, dtype="float64")
    for key in computed.columns:
        out[key] = computed[key]
    return out
