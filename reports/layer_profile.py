"""The per-layer profile of a run (`harness bench --profile-layers`) as the dashboard and the report show it.

Rows come from harness.store.queries.layer_profile_rows (each variant's layers with the FP32 root's time for the
same layer); the explanation lines are harness.core.layer_diagnosis.explain's, fed with the p50 speedup and the
accuracy drop harness.core.comparison.against_base computes (what `harness bench` prints at its end), so the CLI,
the dashboard and the report say the same thing. Kept free of Panel so the static report can use it.

Layer names come from user model files: nothing here formats markup; callers escape (or hand the text to Bokeh
data sources and Tabulator cells, which show it as text).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.core.layer_diagnosis import explain_variants, order_layers, time_added_ms

HOW_TO = ("No per-layer profile in this run. `harness bench MODEL --recipe int8-static --profile-layers` times "
          "every layer of each variant against the FP32 root and measures where output error enters; "
          "`harness layers RUN` prints the same rows.")

# the precision a layer ran in (read from the kernels that ran): one colour each, the root's bars in grey
PRECISION_COLOURS = {"int8": "#1f77b4", "int4": "#9467bd", "fp8": "#17becf", "fp16": "#2ca02c",
                     "bf16": "#bcbd22", "fp32": "#ff7f0e", "fp64": "#8c564b", "qdq": "#d62728"}
PRECISION_LABELS = {"qdq": "Q/DQ only"}
OTHER_COLOUR = "#7f7f7f"
ROOT_COLOUR = "#b0b0b0"

TABLE_COLUMNS = {"layer": "layer", "ran_as": "ran as", "precision": "precision", "time_ms": "ms",
                 "base_time_ms": "FP32 ms", "time_added_ms": "added ms", "rel_l2": "rel err",
                 "error_added": "err added", "qdq": "Q/DQ"}


def precision_label(precision: Any) -> str:
    p = str(precision) if precision is not None and precision == precision else "unknown"
    return PRECISION_LABELS.get(p, p)


def precision_colour(precision: Any) -> str:
    return PRECISION_COLOURS.get(str(precision), OTHER_COLOUR)


def significant(value: Any, digits: int = 4) -> float | None:
    """Times rounded for reading: 4 significant digits (None for a missing value)."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(v):
        return None
    return v if v == 0 or math.isinf(v) else float(f"{v:.{digits}g}")


def decimals(value: Any, places: int = 4) -> float | None:
    """Relative errors as `harness layers` prints them: 4 decimals (None for a missing value)."""
    v = significant(value, 17)
    return None if v is None else round(v, places) + 0.0       # + 0.0: no "-0.0"


@dataclass
class VariantProfile:
    """One profiled variant: its layer rows (graph order), its root's rows, and what explain() says of it."""

    variant_id: str
    name: str
    root_id: str | None
    rows: list[dict[str, Any]]
    root_rows: list[dict[str, Any]] = field(default_factory=list)
    root_name: str | None = None
    speedup: float | None = None
    quality_drop: float | None = None
    agreement: float | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def is_root(self) -> bool:
        return self.root_id is None or self.root_id == self.variant_id

    @property
    def total_ms(self) -> float:
        return sum(r.get("time_ms") or 0.0 for r in self.rows)

    @property
    def base_total_ms(self) -> float:
        return sum(r.get("time_ms") or 0.0 for r in self.root_rows) if not self.is_root else 0.0

    @property
    def time_source(self) -> str | None:
        return next((r["time_source"] for r in self.rows if r.get("time_source")), None)

    def summary(self) -> str:
        """One line: the layers' total against the root's, and the p50 speedup and accuracy the bench measured."""
        n = len(self.rows)
        text = f"{self.name}: {n} layer{'s' if n != 1 else ''}, {self.total_ms:.4g} ms per call in layers"
        if self.is_root:
            return text + " (the FP32 root)."
        if self.root_rows:
            text += f" against {self.base_total_ms:.4g} ms in its FP32 root" + (
                f" ({self.root_name})" if self.root_name else "")
        figures = []
        if self.speedup is not None:
            figures.append(f"p50 speedup {self.speedup:.2f}x")
        if self.quality_drop is not None:
            figures.append(f"accuracy drop {self.quality_drop:.2f} points")
        if self.agreement is not None:
            figures.append(f"top-1 agreement {100 * self.agreement:.1f} %")
        return text + (f"; {', '.join(figures)}" if figures else "") + "."

    def explanation(self) -> list[str]:
        """explain()'s lines, or one line saying nothing needed explaining."""
        if self.lines:
            return list(self.lines)
        if self.is_root:
            return []
        return [f"{self.name}: no layer to blame; it is not slower than its FP32 root and lost no accuracy "
                "past the thresholds (1 point, 99 % top-1 agreement)."]

    def layers(self) -> list[dict[str, Any]]:
        """Every layer of the variant or its root, in the root's graph order, with both times side by side."""
        mine = {r["layer"]: r for r in self.rows}
        base = {r["layer"]: r for r in self.root_rows} if not self.is_root else {}
        out = []
        for layer in dict.fromkeys([*mine, *base]):
            r, b = mine.get(layer), base.get(layer)
            src = r or b
            row = {
                "layer": str(layer), "layer_order": src.get("layer_order"),
                "op_type": src.get("op_type"), "ran_as": (r or {}).get("ran_as"),
                "precision": (r or {}).get("precision"),
                "time_ms": (r or {}).get("time_ms"),
                "base_time_ms": (b or {}).get("time_ms") if b else (r or {}).get("base_time_ms"),
                "base_ran_as": (b or {}).get("ran_as") if b else (r or {}).get("base_ran_as"),
                "qdq_ms": (r or {}).get("qdq_ms"), "unfused_qdq": bool((r or {}).get("unfused_qdq")),
                "rel_l2": (r or {}).get("rel_l2"), "error_added": (r or {}).get("error_added"),
                "cosine": (r or {}).get("cosine"),
            }
            row["time_added_ms"] = None if self.is_root else time_added_ms(row)
            out.append(row)
        big = 1 << 30
        return sorted(out, key=lambda x: (x["layer_order"] if x["layer_order"] is not None else big))

    def table(self, sort: str = "time", top: int | None = None) -> pd.DataFrame:
        """The compact table: layer, ran as, precision, ms, FP32 ms, added ms, rel err, err added, Q/DQ, rounded
        to 4 significant digits; sorted by time added (the root: by its own time) or by error added."""
        rows = [r for r in self.layers() if r["time_ms"] is not None or r["rel_l2"] is not None]
        rows = order_layers(rows, sort)[: top or None]
        frame = pd.DataFrame([{
            "layer": r["layer"], "ran_as": r["ran_as"] or "-", "precision": r["precision"] or "-",
            "time_ms": significant(r["time_ms"]), "base_time_ms": significant(r["base_time_ms"]),
            "time_added_ms": significant(r["time_added_ms"]), "rel_l2": decimals(r["rel_l2"]),
            "error_added": decimals(r["error_added"]),
            "qdq": _qdq_text(r),
        } for r in rows], columns=list(TABLE_COLUMNS))
        if self.is_root:
            frame = frame.drop(columns=["base_time_ms", "time_added_ms", "rel_l2", "error_added"])
        return frame.rename(columns=TABLE_COLUMNS)


def _qdq_text(r: dict[str, Any]) -> str:
    """As `harness layers` shows it: the Q/DQ conversions' time, "unfused" where float work ran between them."""
    ms = f"{significant(r['qdq_ms'])} ms" if r.get("qdq_ms") else ""
    return ", ".join(t for t in ("unfused" if r.get("unfused_qdq") else "", ms) if t)


def build_profiles(rows: list[dict[str, Any]], variants: list[dict[str, Any]] | None = None,
                   measurements: list[dict[str, Any]] | None = None,
                   quality: list[dict[str, Any]] | None = None) -> dict[str, VariantProfile]:
    """{variant_id: VariantProfile} of every profiled variant, in the stored order (the root first when it was
    made first), each with explain()'s lines from against_base (as `harness bench --profile-layers` prints them).
    `variants`, `measurements`, `quality` are harness.store.queries.comparison_rows; without them no lines."""
    out: dict[str, VariantProfile] = {}
    for r in rows:
        vid = r["variant_id"]
        if vid not in out:
            out[vid] = VariantProfile(vid, str(r["variant"]), r.get("root_id"), [])
        out[vid].rows.append(r)
    names = {vid: p.name for vid, p in out.items()}
    for p in out.values():
        if not p.is_root:
            p.root_rows = out[p.root_id].rows if p.root_id in out else []
            p.root_name = names.get(p.root_id) or next(
                (str(v["name"]) for v in variants or [] if v["variant_id"] == p.root_id), None)
    for vid, figures in explain_variants(rows, variants or [], measurements or [], quality or []).items():
        p = out[vid]
        p.speedup, p.quality_drop, p.agreement = figures["speedup"], figures["quality_drop"], figures["agreement"]
        p.lines = figures["lines"]
    return out


def load_profiles(db, run_id: str) -> dict[str, VariantProfile]:
    """Read and build through any handle harness.store.queries takes (a Store, or an open read connection)."""
    from harness.store.queries import comparison_rows, layer_profile_rows

    rows = layer_profile_rows(db, run_id)
    if not rows:
        return {}
    return build_profiles(rows, *comparison_rows(db, run_id))


def default_variant(profiles: dict[str, VariantProfile]) -> str | None:
    """The first profiled variant that is not a root (the root alone has nothing to compare)."""
    return next((vid for vid, p in profiles.items() if not p.is_root), next(iter(profiles), None))
