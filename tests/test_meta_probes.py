"""Probe features (harness.meta.probes): known measured probe points -> known feature values."""
from __future__ import annotations

import math

import pytest

from harness.meta.dataset import MetaRow
from harness.meta.probes import PROBES, probe_feature_names, probe_features, with_probes


def row(model, recipe, drop, lat):
    return MetaRow(run_id="r", variant_id=f"{model}-{recipe}", model=model, recipe=recipe, device="cpu",
                   operation=None, task="classification", features={"log_params": 1.0},
                   targets={"drop_pts": drop, "latency_ratio": lat, "size_ratio": 0.5}, base={}, measured={})


def test_probe_features_from_known_points():
    f = probe_features({"int8-dynamic": {"drop_pts": 1.5, "latency_ratio": 0.5},
                        "prune-unstructured:0.5": {"drop_pts": 12.0, "latency_ratio": 1.0},
                        "fp16": {"drop_pts": 0.0, "latency_ratio": 2.0}})        # not a probe: ignored
    assert sorted(f) == sorted(probe_feature_names())
    assert f["probe_drop_int8_dynamic"] == 1.5
    assert f["probe_log_lat_int8_dynamic"] == pytest.approx(math.log(0.5))
    assert f["probe_drop_prune_unstructured_0_5"] == 12.0
    assert f["probe_log_lat_prune_unstructured_0_5"] == 0.0
    # a probe not measured is missing (NaN), not a zero drop
    assert math.isnan(f["probe_drop_int8_static"]) and math.isnan(f["probe_log_lat_int8_static"])


def test_with_probes_gives_each_model_its_own_probes_and_respects_what_is_known():
    rows = [row("a", "fp32", 0.0, 1.0), row("a", "int8-dynamic", 2.0, 0.4), row("a", "int8-static", 3.0, 0.3),
            row("a", "prune-unstructured:0.5", 20.0, 1.1), row("a", "fp16", 0.1, 1.2),
            row("b", "fp32", 0.0, 1.0), row("b", "int8-dynamic", 0.5, 0.6)]
    out = with_probes(rows)
    a_fp16 = next(r for r in out if r.model == "a" and r.recipe == "fp16")
    assert a_fp16.features["probe_drop_int8_dynamic"] == 2.0
    assert a_fp16.features["probe_drop_int8_static"] == 3.0
    assert a_fp16.features["probe_drop_prune_unstructured_0_5"] == 20.0
    assert a_fp16.features["log_params"] == 1.0 and "probe_drop_int8_dynamic" not in rows[4].features  # copies
    b_root = next(r for r in out if r.model == "b")
    assert b_root.features["probe_drop_int8_dynamic"] == 0.5
    assert math.isnan(b_root.features["probe_drop_int8_static"])
    # leave-one-method-out: a probe of the held-out family is not measured, so it is missing
    held = with_probes(rows, known={"a": {"fp32", "int8-dynamic", "prune-unstructured:0.5", "fp16"}, "b": set()})
    a_fp16 = next(r for r in held if r.model == "a" and r.recipe == "fp16")
    assert math.isnan(a_fp16.features["probe_drop_int8_static"])
    assert a_fp16.features["probe_drop_int8_dynamic"] == 2.0
    assert math.isnan(next(r for r in held if r.model == "b").features["probe_drop_int8_dynamic"])
    assert len(PROBES) == 3
