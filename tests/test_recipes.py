"""Recipe parsing and chains: shared prefixes exported once, full provenance, failed and skipped steps."""
from __future__ import annotations

import pytest

from compression_fixtures import tiny_example
from harness.exporters.base import ExportContext
from harness.exporters.recipes import build_variants, parse_recipe
from harness.core.errors import UsageError

X86 = {"machine": "x86_64"}


def test_parse_bare_value_keywords_and_chains():
    steps = parse_recipe("prune-structured:0.5>int8-static:calibration_method=entropy,per_channel=false")
    assert [s.exporter for s in steps] == ["prune-structured", "int8-static"]
    assert steps[0].params == {"amount": 0.5}
    assert steps[1].params == {"calibration_method": "entropy", "per_channel": False}
    assert parse_recipe("fp16:keep_io_types=true")[0].params == {"keep_io_types": True}
    assert parse_recipe("int8-static:calibration_count=64")[0].params == {"calibration_count": 64}


@pytest.mark.parametrize("recipe, words", [
    ("int8-statik", ["unknown exporter", "int8-static"]),
    ("int8-static:calibraton=64", ["unknown parameter", "calibraton", "calibration_count"]),
    ("fp32>>fp16", ["empty step"]),
])
def test_bad_recipes_fail_before_any_export(tmp_path, recipe, words):
    with pytest.raises(UsageError) as err:
        build_variants(tiny_example(), ["fp16", recipe], ExportContext(tiny_example(), tmp_path, "cpu", X86))
    for w in words:
        assert w in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_chains_share_prefixes_and_record_provenance(tmp_path):
    ex = tiny_example()
    done = []
    variants = build_variants(
        ex, ["prune-unstructured:0.5>int8-static", "prune-unstructured:0.5>fp16", "prune-unstructured:0.5"],
        ExportContext(ex, tmp_path, "cpu", X86), progress=done.append)
    # the root and the shared prefix are exported once each
    assert done == ["fp32", "prune-unstructured:0.5", "prune-unstructured:0.5>int8-static",
                    "prune-unstructured:0.5>fp16"]
    by = {v.name: v for v in variants}
    assert list(by) == done                   # root first, intermediate before its children
    root, pruned = by["fp32"], by["prune-unstructured:0.5"]
    assert all(v.ok for v in variants)
    assert pruned.base_id == root.variant_id
    for child in ("prune-unstructured:0.5>int8-static", "prune-unstructured:0.5>fp16"):
        assert by[child].base_id == pruned.variant_id and by[child].root_id == root.variant_id
        assert by[child].operation == child.rpartition(">")[2]
    # the int8 child really was made from the pruned model: its weights keep the zeros
    assert by["prune-unstructured:0.5>int8-static"].sparsity > 0.4


def test_steps_after_a_failure_are_skipped_with_the_reason(tmp_path):
    ex = tiny_example()
    variants = build_variants(ex, ["int8-static:format=bad>fp16>int8-dynamic", "fp16"],
                              ExportContext(ex, tmp_path, "cpu", X86))
    by = {v.name: v for v in variants}
    failed = by["int8-static:format=bad"]
    assert failed.status == "failed" and "unknown format" in failed.error
    for name in ("int8-static:format=bad>fp16", "int8-static:format=bad>fp16>int8-dynamic"):
        assert by[name].status == "skipped" and "int8-static:format=bad" in by[name].error
    assert by["int8-static:format=bad>fp16"].base_id == failed.variant_id
    assert by["fp16"].ok
    # failed variants get distinct, stable ids from their recipe
    ids = [v.variant_id for v in variants]
    assert len(set(ids)) == len(ids)


def test_a_configured_root_is_the_root_of_every_chain(tmp_path):
    ex = tiny_example()
    variants = build_variants(ex, ["fp16", "fp32:opset=18"], ExportContext(ex, tmp_path, "cpu", X86))
    by = {v.name: v for v in variants}
    assert set(by) == {"fp32:opset=18", "fp16"}
    assert by["fp16"].base_id == by["fp32:opset=18"].variant_id


def test_failed_root_fails_every_chain(tmp_path):
    def broken():
        raise RuntimeError("weights file missing")

    ex = tiny_example(build=broken)
    variants = build_variants(ex, ["int8-static", "fp16"], ExportContext(ex, tmp_path, "cpu", X86))
    by = {v.name: v for v in variants}
    assert by["fp32"].status == "failed" and "weights file missing" in by["fp32"].error
    assert by["int8-static"].status == "skipped" and by["fp16"].status == "skipped"
