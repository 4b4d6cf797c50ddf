"""The Recommend tab in Debian's chromium: served by `harness dashboard`, constraints typed into its widgets."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dashboard_fixtures import serve_dashboard
from meta_fixtures import *  # noqa: F403
from harness.meta.predictor import train_and_store

from browser_fixtures import ARTIFACTS, browser  # noqa: F401  (the module-scoped chromium)

pytestmark = pytest.mark.browser


def test_recommend_tab_in_chromium(browser, meta_db, tmp_path):
    db = tmp_path / "meta.duckdb"
    shutil.copy(meta_db, db)
    train_and_store(str(db), device="cpu")
    with serve_dashboard(db) as server:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(server.url, wait_until="networkidle", timeout=60_000)
            page.get_by_text("Recommend", exact=True).first.click()
            page.get_by_text(re.compile(r"Recommended: zoo-mlp")).first.wait_for(timeout=60_000)
            cells = page.locator(".tabulator-cell")
            cells.get_by_text("predicted", exact=True).first.wait_for(timeout=30_000)
            assert cells.get_by_text("measured", exact=True).count() >= 1
            # an impossible latency limit typed into its widget: the page names the binding constraint
            labelled = page.get_by_label(re.compile("Max p50 latency"))
            # the latency limit is the tab's first number input (Bokeh may not tie the label to it)
            box = labelled.first if labelled.count() else page.locator("input").first
            box.fill("0.0000001")
            box.press("Enter")
            page.get_by_text(re.compile(r"binding constraint: --max-latency-ms")).first.wait_for(timeout=30_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-recommend.png"), full_page=True)
            assert "Traceback" not in page.content()
            assert not errors, errors
        finally:
            page.close()
