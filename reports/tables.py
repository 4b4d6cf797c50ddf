"""The variant table as people read it: display units in the headers, a ×base column per metric (the variant's
value as a multiple of the base's), and Compression Board's size ratio and speedups (base / variant, the numbers
`harness compare` prints).

Kept free of Panel so the static report can use it without pulling Panel's resources into its page.
"""
from __future__ import annotations

import pandas as pd

from harness.reports.metrics import COMPARISON_COLUMNS, METRICS, ratio_key


def display_table(full: pd.DataFrame) -> pd.DataFrame:
    """The variant table as shown and downloaded: units in the headers, values in display units, a × column per
    metric; metrics this run never recorded are dropped."""
    out = pd.DataFrame({"variant": full["label"], "precision": full["precision"], "operation": full["operation"],
                        "status": full["measurement_status"]})
    for key, m in METRICS.items():
        if full[key].isna().all():
            continue
        out[m.title] = [_significant(m.display(v)) for v in full[key]]
        out[f"{m.label} ×base"] = pd.to_numeric(full[ratio_key(key)], errors="coerce").round(4)
    for key, title in COMPARISON_COLUMNS.items():
        if key in full and full[key].notna().any():
            out[title] = pd.to_numeric(full[key], errors="coerce").round(4)
    return out.reset_index(drop=True)


def _significant(value: float | None, digits: int = 4) -> float | None:
    """Round for reading (4 significant digits); the CSV carries the same numbers the page shows."""
    if value is None or value != value or value == 0:
        return value
    return float(f"{value:.{digits}g}")


def board_table(full: pd.DataFrame) -> pd.DataFrame:
    """A fleet run side by side: one row per variant (and scenario), one p50 and one energy column per board.
    Empty for a run measured on one machine."""
    if "board" not in full or full["board"].isna().all():
        return pd.DataFrame()
    ok = full[(full["measurement_status"] == "ok") & full["board"].notna()]
    out = pd.DataFrame({"variant": list(dict.fromkeys(full["scenario_label"]))})
    for board in sorted(full["board"].dropna().unique()):
        mine = ok[ok["board"] == board].set_index("scenario_label")
        out[f"{board} p50 ms"] = [_significant(mine["p50_ms"].get(v)) if v in mine.index else None
                                  for v in out["variant"]]
        if mine["energy_per_inference_mj"].notna().any():
            out[f"{board} mJ/inference"] = [_significant(mine["energy_per_inference_mj"].get(v))
                                            if v in mine.index else None for v in out["variant"]]
    return out


def drift_frame(data) -> pd.DataFrame:
    """Per-output drift of every variant against the root (harness.core.output_drift.drift_table) as a frame."""
    from harness.core.output_drift import drift_table, present_columns

    if data is None or data.quality is None or data.quality.empty:
        return pd.DataFrame()
    names = dict(zip(data.table["variant_id"], data.table["name"]))
    rows = drift_table(data.quality.to_dict("records"), names)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows, columns=["variant", "output", *present_columns(rows)])


def no_effect_notes(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(variant name, reason) of the variants flagged as having changed nothing (harness.exporters.effect)."""
    from harness.core.json_column import json_object

    out, seen = [], set()
    if "variant_info" not in table:
        return out
    for name, info in zip(table["name"], table["variant_info"]):
        reason = json_object(info).get("no_effect")
        if reason and name not in seen:
            seen.add(name)
            out.append((str(name), str(reason)))
    return out
