"""The zoo's training recipe: the FP32 root gets the same fine-tune schedule its structurally pruned variants get
(the "polish"), so a fine-tuned variant's accuracy change measures the pruning, not extra training."""
from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from harness.examples.zoo import models as Z  # noqa: E402


def _tiny_member() -> Z.Member:
    return Z.Member("zoo-test-mlp", "mlp", 8, 4, Z._mlp, "a 3-layer MLP for this test")


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_root_is_trained_then_polished_with_the_fine_tune_schedule(tmp_path, monkeypatch):
    monkeypatch.setenv(Z.CACHE_ENV, str(tmp_path))
    member = _tiny_member()
    built = member.build_model()

    torch.manual_seed(Z.SEED)
    by_hand = Z._mlp()
    Z.train(by_hand, 8, member.epochs)
    assert not _same(built, by_hand), "the root must be trained beyond its epochs (the polish)"
    Z.train(by_hand, 8, member.fine_tune_epochs, lr=Z.FINE_TUNE_LR)
    assert _same(built, by_hand)

    # the variants' fine-tune is the very same schedule
    torch.manual_seed(Z.SEED)
    tuned = Z._mlp()
    Z.train(tuned, 8, member.epochs)
    member.example().fine_tune(tuned)
    assert _same(tuned, built)

    # the cache holds the polished weights: a second build loads, and gives the same module
    assert len(list(tmp_path.glob("zoo-test-mlp-*.pt"))) == 1
    assert _same(member.build_model(), built)


def test_cache_key_follows_the_training_schedule(monkeypatch):
    member = _tiny_member()
    key = member.key()
    assert key != replace(member, epochs=8).key()    # epochs // 4 changes the polish too
    assert member.fine_tune_epochs == 1 and replace(member, epochs=8).fine_tune_epochs == 2
    # the polish's learning rate is part of the key: weights cached before a change to it are not reused
    monkeypatch.setattr(Z, "FINE_TUNE_LR", Z.FINE_TUNE_LR / 2)
    assert member.key() != key


@pytest.mark.parametrize("name", ["zoo-inception", "zoo-attention", "zoo-conv1d"])
def test_the_newer_families_export_quantize_and_prune(name, tmp_path):
    """The three families that joined last (parallel branches, self-attention written out in MatMul/Softmax, 1-D
    convolutions): the ONNX file computes what the torch module does, and the sweep's method families build on
    it (untrained weights and no fine-tune, to keep this fast; training is the same recipe as every member's)."""
    from dataclasses import replace as dc_replace

    import numpy as np
    import onnxruntime as ort

    from harness.exporters.base import ExportContext
    from harness.exporters.recipes import build_variants

    member = Z.MEMBERS[name]
    torch.manual_seed(0)
    module = member.net().eval()
    example = dc_replace(member.example(), build_model=lambda: module, fine_tune=None)
    variants = build_variants(example, ["fp32", "int8-static", "int8-dynamic", "prune-structured:0.5"],
                              ExportContext(example, tmp_path, "cpu", {"machine": "x86_64"}))
    by_name = {v.name: v for v in variants}
    assert all(v.status == "ok" for v in variants), [(v.name, v.status, v.info.get("error")) for v in variants]
    x = Z.load_split(member.size)[2][:16]
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(by_name["fp32"].path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert by_name["prune-structured:0.5"].param_count < by_name["fp32"].param_count
