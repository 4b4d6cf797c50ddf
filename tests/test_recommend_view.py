"""The dashboard's Recommend tab without a browser, over real sweep points and a stored predictor."""
from __future__ import annotations


import pytest

from meta_fixtures import *  # noqa: F403
from harness.store import Store
from harness.reports.recommend_view import ALL, RecommendView


@pytest.fixture(scope="module")
def db(meta_db, tmp_path_factory):
    return copy_meta_db(meta_db, tmp_path_factory, "view", train=True)


def test_ranks_measured_and_predicted_with_constraints_as_params(db):
    view = RecommendView(str(db))
    view.load()
    assert view.device == "cpu" and view.param.model.objects == [ALL, "zoo-mlp"]
    assert view.message.object.startswith("**Recommended: zoo-mlp")
    frame = view.frame
    assert set(frame["source"]) == {"measured", "predicted"}
    assert list(frame["rank"]) == list(range(1, len(frame) + 1))
    assert (frame["pareto"] == "yes").any() and "Pareto front" in view.front.object
    n_all = len(frame)
    view.max_drop_pts = 5.0                      # a widget change re-ranks
    assert 0 < len(view.frame) < n_all
    assert "prune-unstructured:0.9" not in set(view.frame["recipe"])
    view.max_latency_ms = 1e-7                   # impossible: the binding constraint is named
    assert view.message.object.startswith("**No candidate fits.**")
    assert "binding constraint: --max-latency-ms" in view.message.object and view.frame.empty
    view.max_latency_ms = None
    assert view.message.object.startswith("**Recommended")


def test_without_a_stored_predictor_ranks_measured_only(meta_db):
    view = RecommendView(str(meta_db))          # the fixture's store has no predictor
    view.load()
    assert set(view.frame["source"]) == {"measured"}
    assert "no predictor stored" in view.message.object


def test_empty_and_missing_stores(tmp_path):
    view = RecommendView(str(tmp_path / "missing.duckdb"))
    view.load()
    assert "Nothing to recommend from" in view.message.object and view.frame.empty
    empty = tmp_path / "empty.duckdb"
    Store(empty).migrate()
    view = RecommendView(str(empty))
    view.load()
    assert "Nothing measured yet" in view.message.object


def test_dashboard_has_the_tab(db):
    from harness.reports.dashboard import RECOMMEND_TAB, Dashboard

    app = Dashboard(str(db))
    assert app.tabs._names[app.tab_index(RECOMMEND_TAB)] == "Recommend"
    assert not app.recommend.loaded              # nothing computed until the tab is shown
    app.tabs.active = app.tab_index(RECOMMEND_TAB)
    assert app.recommend.loaded and not app.recommend.frame.empty
