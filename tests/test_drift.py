"""Drift metrics against values computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.core import drift

# two instances, three classes; reference and variant logits
REF = np.array([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0]])
VAR = np.array([[math.log(2.0), 0.0, 0.0], [0.0, 0.0, 0.0]])
# softmax by hand: [1/3, 1/3, 1/3] and [1/2, 1/4, 1/4]
P_UNIFORM = np.array([1 / 3, 1 / 3, 1 / 3])
P_HALF = np.array([0.5, 0.25, 0.25])


def test_softmax_by_hand():
    np.testing.assert_allclose(drift.softmax(REF), [P_UNIFORM, P_HALF])
    np.testing.assert_allclose(drift.log_softmax(REF), np.log([P_UNIFORM, P_HALF]))


def test_kl_divergence_by_hand():
    kl = drift.kl_divergence(REF, VAR)
    # KL(uniform || half) = sum 1/3 log((1/3)/q) ; KL(half || uniform) = sum p log(p/(1/3))
    kl0 = sum(1 / 3 * math.log((1 / 3) / q) for q in P_HALF)
    kl1 = sum(p * math.log(p / (1 / 3)) for p in P_HALF)
    np.testing.assert_allclose(kl, [kl0, kl1], rtol=1e-12)
    # 1/3 (ln 2/3 + 2 ln 4/3) and 1/2 ln 3/2 + 1/2 ln 3/4
    assert kl0 == pytest.approx(0.056633, abs=1e-6) and kl1 == pytest.approx(0.058892, abs=1e-6)
    np.testing.assert_allclose(drift.kl_divergence(REF, REF), [0.0, 0.0], atol=1e-15)


def test_agreement_flips_mse_maxabs():
    ref = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [1.0, 0.0]])
    var = np.array([[2.0, 1.5], [4.0, 3.0], [5.0, 1.0], [0.0, 1.0]])
    assert drift.top1_agreement(ref, var) == 0.5
    assert drift.flipped(ref, var).tolist() == [1, 3]
    np.testing.assert_allclose(drift.mse(ref, var), [0.125, 8.0, 0.0, 1.0])
    assert drift.max_abs_diff(ref, var) == 4.0


def test_cosine_by_hand():
    ref = np.array([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    var = np.array([[0.0, 2.0], [2.0, 2.0], [4.0, 3.0]])
    np.testing.assert_allclose(drift.cosine(ref, var), [0.0, 1.0, 24 / 25])


def test_comparison_kinds_by_hand():
    c = drift.comparisons(REF, VAR)
    q0, q1 = P_HALF, P_UNIFORM            # the variant's probabilities
    np.testing.assert_allclose(c["difference"], [np.mean(q0 - P_UNIFORM), np.mean(q1 - P_HALF)], atol=1e-15)
    np.testing.assert_allclose(c["abs_difference"], [np.mean(np.abs(q0 - P_UNIFORM)), np.mean(np.abs(q1 - P_HALF))])
    np.testing.assert_allclose(c["abs_difference"], [1 / 9, 1 / 9])
    np.testing.assert_allclose(c["ratio"], [np.mean(q0 / P_UNIFORM), np.mean(q1 / P_HALF)])
    np.testing.assert_allclose(c["mse"], [np.mean((q0 - P_UNIFORM) ** 2), np.mean((q1 - P_HALF) ** 2)])
    np.testing.assert_allclose(c["mse"], [(1 / 36 + 2 / 144) / 3] * 2)
    # argmax forms at the reference's predicted class: 0 for both instances (ties resolve to the first)
    np.testing.assert_allclose(c["difference_argmax"], [0.5 - 1 / 3, 1 / 3 - 0.5])
    np.testing.assert_allclose(c["abs_difference_argmax"], [1 / 6, 1 / 6])
    np.testing.assert_allclose(c["ratio_argmax"], [1.5, 2 / 3])
    np.testing.assert_allclose(c["mse_argmax"], [1 / 36, 1 / 36])
    bern = lambda p, q: p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))  # noqa: E731
    np.testing.assert_allclose(c["kl_divergence_argmax"], [bern(1 / 3, 0.5), bern(0.5, 1 / 3)])
    np.testing.assert_allclose(c["kl_divergence"], drift.kl_divergence(REF, VAR))


def test_embedding_comparisons_by_hand():
    ref = np.array([[1.0, 2.0], [2.0, -4.0]])
    var = np.array([[2.0, 2.0], [1.0, -2.0]])
    c = drift.comparisons(ref, var, classification=False)
    np.testing.assert_allclose(c["difference"], [0.5, 0.5])
    np.testing.assert_allclose(c["abs_difference"], [0.5, 1.5])
    np.testing.assert_allclose(c["ratio"], [1.5, 0.5])
    np.testing.assert_allclose(c["mse"], [0.5, 2.5])
    assert "kl_divergence" not in c


def test_accuracy_and_per_class():
    logits = np.eye(3)[[0, 1, 2, 2, 0]]
    labels = np.array([0, 1, 2, 1, 1])
    assert drift.accuracy(logits, labels) == 0.6
    per = drift.per_class_accuracy(logits, labels)
    assert per == {0: (1.0, 1), 1: (pytest.approx(1 / 3), 3), 2: (1.0, 1)}


def test_summary():
    s = drift.summary(np.array([1.0, 2.0, 3.0, 10.0]))
    assert s["mean"] == 4.0 and s["median"] == 2.5 and s["min"] == 1.0 and s["max"] == 10.0
    assert drift.summary(np.array([])) == {}
