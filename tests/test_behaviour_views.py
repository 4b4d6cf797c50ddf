"""Behaviour views beyond the flip list, activation similarity and label placement: pure functions on known
inputs, then the dashboard's panes on a real bench."""
from __future__ import annotations

import numpy as np
import pytest

from dashboard_fixtures import *  # noqa: F403
from harness import activations
from harness.core import drift
from helpers import make_mlp_onnx
from harness.reports import behaviour_views as bv
from harness.reports import label_layout
from harness.reports.behaviour import OutputContrast


def _comparison(pred_a, pred_b, logits_a=None, logits_b=None):
    rng = np.random.default_rng(0)
    n = len(pred_a)
    a = logits_a if logits_a is not None else rng.standard_normal((n, 3))
    b = logits_b if logits_b is not None else a + 0.1 * rng.standard_normal((n, 3))
    scores = drift.comparisons(a, b)
    return OutputContrast(n=n, classification=True, kind="kl_divergence", scores=scores["kl_divergence"],
                      changed=[i for i in range(n) if pred_a[i] != pred_b[i]], pred_a=np.asarray(pred_a),
                      pred_b=np.asarray(pred_b), labels=np.asarray(pred_a), class_names=["cat", "dog", "owl"],
                      instances=[f"sentence {i}" for i in range(n)], scores_all=scores)


def test_change_matrix_counts_and_cells():
    m = bv.change_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], n_classes=3)
    assert m.classes == [0, 1, 2]
    assert m.counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert m.instances(0, 1) == [1] and m.instances(2, 0) == [4] and m.instances(1, 2) == []
    assert m.changed == 2 and m.counts.sum() == 6


def test_histograms_cover_every_comparison_kind():
    comp = _comparison([0, 1, 2, 0], [0, 1, 2, 0])
    hists = bv.kind_histograms(comp, bins=10)
    assert set(hists) == set(drift.comparisons(np.zeros((2, 3)), np.zeros((2, 3))))   # all 10 C&C kinds
    for h in hists.values():
        assert sum(h["counts"]) == 4 and len(h["edges"]) == 11


def test_top_divergent_even_when_nothing_flipped():
    a = np.array([[5.0, 0, 0], [5.0, 0, 0], [5.0, 0, 0], [5.0, 0, 0]])
    b = a.copy()
    b[2] = [3.0, 1.0, 0.0]          # the same class, but much less confident: the most divergent
    b[0] = [4.8, 0.1, 0.0]
    comp = _comparison([0, 0, 0, 0], [0, 0, 0, 0], a, b)
    assert comp.changed == []
    assert bv.top_divergent(comp, k=2) == [2, 0]
    html = bv.instances_html(comp, bv.top_divergent(comp, k=2), "fp32", "int8", "top")
    assert "sentence 2" in html and html.index("sentence 2") < html.index("sentence 0") and ">no<" in html
    # ratio and difference kinds are divergent in both directions
    assert bv.divergence("ratio", np.array([0.5, 2.0, 1.0])).round(6).tolist() == [0.693147, 0.693147, 0.0]
    assert bv.divergence("difference", np.array([-0.2, 0.1])).tolist() == [0.2, 0.1]


def test_linear_cka_properties():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 20))
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    assert activations.linear_cka(x, x) == pytest.approx(1.0)
    assert activations.linear_cka(x, 3.0 * x @ q) == pytest.approx(1.0)          # rotation and scale invariant
    assert activations.linear_cka(x, rng.standard_normal((64, 7))) < 0.5          # unrelated, other width
    assert activations.mean_cosine(x, x) == pytest.approx(1.0)
    assert activations.mean_cosine(x, x[:, :5]) is None


def test_activation_comparison_exposes_intermediate_onnx_outputs(tmp_path):
    from harness.examples.base import EvalData

    a = make_mlp_onnx(tmp_path / "a.onnx", layers=3)
    b = make_mlp_onnx(tmp_path / "b.onnx", layers=3, seed=5)
    data = EvalData(inputs={"x": np.random.default_rng(0).standard_normal((40, 64)).astype(np.float32)})
    same = activations.compare_files(str(a), str(a), data)
    assert [r["layer"] for r in same] == ["mm0", "add0", "relu0", "mm1", "add1", "relu1", "mm2", "add2"]
    assert all(r["cka"] == pytest.approx(1.0) and r["cosine"] == pytest.approx(1.0) and r["n"] == 40 for r in same)
    other = activations.compare_files(str(a), str(b), data)
    assert all(r["cka"] < 0.99 for r in other)
    import onnx

    assert len(onnx.load(str(a)).graph.output) == 1          # the file on disk is untouched


def test_labels_never_overlap_even_when_points_coincide():
    pts = [(100.0, 100.0)] * 6 + [(104.0, 102.0), (400.0, 50.0)]
    texts = [f"variant-{i}-with-a-long-name" for i in range(len(pts))]
    offsets = label_layout.place(pts, texts, (820, 340))
    boxes = []
    for (x, y), (dx, dy), t in zip(pts, offsets, texts):
        w, h = label_layout.text_size(t)
        boxes.append(label_layout.Box(x + dx, y + dy, x + dx + w, y + dy + h))
    for i, b in enumerate(boxes):
        assert all(not b.overlaps(o, margin=0) for o in boxes[i + 1:]), i
        for px, py in pts:                       # nor over a marker
            assert not b.overlaps(label_layout.Box(px - 8, py - 8, px + 8, py + 8), margin=0)


# -- the dashboard's panes on a real bench ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(dash_db):
    from harness.reports.dashboard import Dashboard

    return Dashboard(str(dash_db))


def test_dashboard_behaviour_panel_matrix_click_and_top_k(app):
    names = app.param.variant_b.names
    app.variant_a, app.variant_b = names["fp32"], names["fp16"]
    more = app.behaviour_more
    assert more.table.visible and len(more.table.value) == 10            # digits: 10 classes
    assert "most divergent" in more.top.object and more.top.object.count("<svg") >= 10
    diagonal = int(more.table.value.iloc[3, 4])                           # class 3 -> class 3
    listed = more.select_cell(3, "3")
    assert len(listed) == diagonal and f"{diagonal} instance(s): fp32 predicts 3, fp16 predicts 3" in more.cell.object
    titles = [m.text for m in more.hists.object.references() if type(m).__name__ == "Title"]
    kinds = {t.split(" (")[0] for t in titles}
    assert kinds == set(bv.kind_histograms(more.comp)) and len(kinds) == 10

def test_dashboard_activations_beside_weight_change(app):
    app.layer_variant = app.param.layer_variant.names["int8-static"]
    row = app.layers_pane.objects[0]
    fig = row.objects[1].object
    assert fig.title.text.startswith("Activations of int8-static vs fp32")


def test_wide_layers_are_compared_on_a_fixed_feature_subset(tmp_path, monkeypatch):
    from harness.examples.base import EvalData

    monkeypatch.setattr(activations, "MAX_FEATURES", 16)
    a = make_mlp_onnx(tmp_path / "a.onnx")                     # hidden layers of 128 values per instance
    data = EvalData(inputs={"x": np.random.default_rng(0).standard_normal((20, 64)).astype(np.float32)})
    rows = activations.compare_files(str(a), str(a), data)
    assert rows and all(r["cka"] == pytest.approx(1.0) and r["cosine"] == pytest.approx(1.0) for r in rows)
