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
