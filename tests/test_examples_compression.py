"""The shipped ResNet-18-shaped and MiniLM examples: registered, shaped as documented, and compressible."""
from __future__ import annotations

import numpy as np
import pytest

from harness.examples import load_example
from harness.exporters.base import ExportContext
from harness.exporters.recipes import build_variants


def test_resnet18_is_resnet18_shaped_and_prunes_around_residuals():
    import torch
    import torch.nn as nn

    from harness.exporters.prune_structured import prune_channels

    ex = load_example("resnet18")
    assert ex.task == "none" and ex.example_inputs[0].shape == (1, 3, 224, 224)
    model = ex.build_model()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 20                                   # 17 3x3/7x7 + 3 downsample 1x1
    assert 11_000_000 < sum(p.numel() for p in model.parameters()) < 12_000_000
    report = prune_channels(model, 0.5)
    # only the first conv of each basic block can shrink: everything else feeds a residual add
    shrunk = {k: v for k, v in report.items() if v["after"] < v["before"]}
    assert sorted(shrunk) == [f"layer{i}.{j}.conv1" for i in range(1, 5) for j in range(2)]
    assert model.layer1[0].bn1.num_features == 32 and model.layer1[0].conv2.in_channels == 32
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    data = ex.eval_data()
    assert data.labels is None and data.inputs["input"].shape[1:] == (3, 224, 224)
    assert ex.calibration(4)[0]["input"].shape == (1, 3, 224, 224)


@pytest.mark.slow
def test_minilm_int8_dynamic_keeps_the_embeddings(tmp_path):
    """MiniLM offline: the fp32 ONNX matches sentence-transformers, dynamic int8 and fp16 stay close in cosine
    (fp16 also checks the Cast repair: the pooling's mask cast would otherwise not load)."""
    import onnxruntime as ort

    from harness.core.drift import cosine
    from harness.store.outputs_file import OutputsFile
    from harness.quality import QualityPass

    ex = load_example("minilm")
    data = ex.eval_data()
    assert ex.task == "embedding" and len(data.instances) == 64 and data.inputs["input_ids"].shape == (64, 16)
    assert set(data.inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    variants = build_variants(ex, ["int8-dynamic", "fp16"],
                              ExportContext(ex, tmp_path, "cpu", {"machine": "x86_64"}))
    assert all(v.ok for v in variants), [v.error for v in variants]
    outs = [ort.InferenceSession(v.path, providers=["CPUExecutionProvider"]).run(None, data.inputs)
            for v in variants]
    assert outs[0][0].shape == (64, 384)

    from harness.examples.minilm.model import model_dir, sentences
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir()), device="cpu").encode(sentences()[:8], convert_to_numpy=True)
    # same pooling as sentence-transformers (which also normalises; cosine ignores that); our 16-token cut
    # may shorten the longest sentences, so allow a little
    assert cosine(st, outs[0][0][:8]).min() > 0.97

    qp = QualityPass(ex, data, str(tmp_path / "outputs.h5"))
    for v, o in zip(variants, outs):
        qp.add(v, o)
    rows, layers = qp.rows("r", variants[1], {v.variant_id: v for v in variants})
    task = {r["metric"]: r["value"] for r in rows if r["reference"] == "task"}
    assert task["cosine_similarity"] > 0.98
    assert any(r["kind"] == "MatMulInteger.weight" and r["change_mean_rel"] is not None for r in layers)
    assert OutputsFile(tmp_path / "outputs.h5").instances()[0] == sentences()[0]
    assert np.isfinite(outs[1][0]).all()
    assert variants[2].info["repaired_casts"] >= 1
    assert cosine(outs[0][0], outs[2][0]).min() > 0.999


def test_users_own_model_through_the_entry_point(tmp_path):
    """`--example module:function` with a user's factory: exported, measured, judged, a failure recorded."""
    import json
    import os
    from pathlib import Path

    from harness.store import Store
    from helpers import FAST, run_cli

    tests_dir = str(Path(__file__).parent)
    env = {"PYTHONPATH": os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH")) if p)}
    db = tmp_path / "own.duckdb"
    proc = run_cli("bench", "--example", "compression_fixtures:tiny_example", "--recipe", "int8-static",
                   "--recipe", "int8-static:format=u4u4", "--db", str(db), *FAST, cwd=tmp_path, env=env)
    assert "unknown format 'u4u4'" in proc.stdout + proc.stderr
    variants = {v["name"]: v for v in Store(db).query("SELECT name, status, error, variant_id FROM variants")}
    assert variants["fp32"]["status"] == "ok" and variants["int8-static"]["status"] == "ok"
    assert variants["int8-static:format=u4u4"]["status"] == "failed"
    rows = Store(db).query("SELECT variant_id, reference, metric, value, detail FROM quality")
    acc = [r for r in rows if r["metric"] == "accuracy" and r["variant_id"] == variants["int8-static"]["variant_id"]]
    assert len(acc) == 1 and json.loads(acc[0]["detail"])["n"] == 48
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["own.duckdb"]   # nothing else in cwd
