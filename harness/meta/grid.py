"""The recipe grids of `harness sweep`, apart from the sweep itself so that recommend (and the dashboard's
Recommend tab, a report-layer view) can name the candidate recipes without importing the bench engine."""
from __future__ import annotations

# The default grid: every method at several levels, the calibration choices of static INT8, and chains.
DEFAULT_GRID: tuple[str, ...] = (
    "fp32",
    "fp16",
    "int8-dynamic", "int8-dynamic:per_channel=false",
    "int8-static", "int8-static:per_channel=false",
    "int8-static:calibration_method=entropy", "int8-static:calibration_method=percentile",
    "int8-static:calibration_method=entropy,per_channel=false",
    "int8-static:calibration_method=percentile,per_channel=false",
    "prune-unstructured:0.3", "prune-unstructured:0.5", "prune-unstructured:0.7", "prune-unstructured:0.8",
    "prune-unstructured:0.9", "prune-unstructured:0.95",
    "prune-structured:0.25", "prune-structured:0.5", "prune-structured:0.75",
    "prune-structured:amount=0.5,fine_tune=false",
    "prune-unstructured:0.5>int8-static", "prune-unstructured:0.8>int8-static",
    "prune-structured:0.25>int8-static", "prune-structured:0.5>int8-static",
    "prune-unstructured:0.5>fp16",
)
# MiniLM: static QDQ of every op is known to wreck BERT (examples/minilm), structured pruning cannot trace it
MINILM_GRID: tuple[str, ...] = (
    "fp32", "fp16", "int8-dynamic", "int8-dynamic:per_channel=false", "int8-dynamic:op_types=MatMul",
    "prune-unstructured:0.3", "prune-unstructured:0.5", "prune-unstructured:0.7",
    "prune-unstructured:0.3>int8-dynamic",
)
