"""End to end: the dashboard served by `harness dashboard` on 127.0.0.1, driven by Debian's chromium."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from dashboard_fixtures import *  # noqa: F403
from dashboard_fixtures import profiled_db, serve_dashboard  # noqa: F401  (profiled_db: built once per process)
from harness.store import Store

from browser_fixtures import ARTIFACTS, browser  # noqa: F401  (the module-scoped chromium)

pytestmark = pytest.mark.browser
TITLES_JS = "() => Bokeh.documents.flatMap(d => [...d.all_models]).filter(m => m.type === 'Title').map(m => m.text)"


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="networkidle", timeout=60_000)
    return page, errors


def _titles(page) -> list[str]:
    return page.evaluate(TITLES_JS)


def test_dashboard_in_chromium(browser, dash_db):
    flips = Store(dash_db).query(
        "SELECT v.name, q.value FROM quality q JOIN variants v USING (run_id, variant_id) "
        "WHERE q.reference = 'root' AND q.metric = 'flip_count' ORDER BY q.value DESC, v.name LIMIT 1")
    with serve_dashboard(dash_db) as server:
        page, errors = _open(browser, server.url)
        try:
            # the table lists the variants
            cells = page.locator(".tabulator-cell")
            cells.get_by_text("int8-static", exact=True).first.wait_for(timeout=30_000)
            for name in ("fp32", "int8-dynamic", "fp16"):
                assert cells.get_by_text(name, exact=True).count() >= 1
            assert "Traceback" not in page.content()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # changing the Pareto axes redraws the plot
            page.get_by_text("Pareto", exact=True).click()
            page.wait_for_function(f"({TITLES_JS})().some(t => t.startsWith('Pareto'))", timeout=30_000)
            assert "Pareto: p90 latency vs Accuracy" in _titles(page)
            x_axis = page.locator("select", has=page.locator("option", has_text="Size (KiB)")).first
            x_axis.select_option(label="Size (KiB)")
            page.wait_for_function(f"({TITLES_JS})().includes('Pareto: Size vs Accuracy')", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard-pareto.png"), full_page=True)

            # selecting two variants shows the flipped instances
            page.get_by_text("Behaviour", exact=True).click()
            if not flips or not flips[0]["value"]:
                pytest.skip("no variant of this bench flipped a prediction against fp32")
            name, count = flips[0]["name"], int(flips[0]["value"])
            # the base picker and variant A also list the variants; B is the last of them
            b_select = page.locator("select", has=page.locator("option", has_text=name)).last
            page.get_by_text(re.compile(r"instances flipped")).first.wait_for(timeout=30_000)
            b_select.select_option(label=name)
            page.get_by_text(re.compile(rf"{count} of \d+ instances flipped")).first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard-behaviour.png"), full_page=True)
            page.locator("table.flips").first.wait_for(timeout=30_000)
            assert page.locator("table.flips th", has_text="fp32 predicts").count() >= 1
            assert page.locator("table.flips svg").count() >= 1
            assert not errors, errors
        finally:
            page.close()


# markup that runs script when inserted as HTML (an inline <script> inserted that way would not run, so it alone
# proves nothing): the page must show it as text
PAYLOAD = '<img src=x onerror="window.__pwned=1;alert(1)">'


def test_unknown_run_in_url_and_missing_db_get_clear_pages(browser, dash_db, tmp_path):
    with serve_dashboard(dash_db) as server:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            page.goto(server.url + "?run=" + quote(PAYLOAD), wait_until="networkidle", timeout=60_000)
            banner = page.get_by_text(re.compile("Unknown run")).first
            banner.wait_for(timeout=30_000)
            page.locator(".tabulator-cell").get_by_text("int8-static", exact=True).first.wait_for(timeout=30_000)
            page.wait_for_timeout(500)      # give an injected onerror handler time to fire
            assert page.evaluate("() => window.__pwned") is None, "the run name from the URL ran as script"
            assert dialogs == []
            # shown as the literal text the user typed, not as an element
            assert PAYLOAD in banner.inner_text()
        finally:
            page.close()
    with serve_dashboard(tmp_path / "nothing.duckdb") as server:
        page, errors = _open(browser, server.url)
        try:
            page.get_by_text(re.compile("No result database at")).first.wait_for(timeout=30_000)
            assert "Traceback" not in page.content()
            assert not errors, errors
        finally:
            page.close()


def test_layers_tab_shows_the_per_layer_profile(browser, profiled_db, tmp_path):  # noqa: F811
    """The Layers tab of a `bench --profile-layers` run: the time-per-layer chart, and a layer named like markup
    shown as text in the table (never run as script)."""
    import shutil

    import duckdb

    db = tmp_path / "profiled.duckdb"
    shutil.copy(profiled_db, db)
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO layer_profile SELECT run_id, variant_id, measurement_id, ? AS layer, 999, op_type, "
                "ran_as, provider, precision, time_ms, qdq_ms, unfused_qdq, profiled_calls, rel_l2, cosine, "
                "error_added, error_n, time_source, error_source FROM layer_profile p WHERE variant_id = "
                "(SELECT variant_id FROM variants WHERE name = 'int8-static') ORDER BY layer_order LIMIT 1",
                [PAYLOAD])
    con.close()
    with serve_dashboard(db) as server:
        page, errors = _open(browser, server.url)
        try:
            page.locator(".tabulator-cell").get_by_text("int8-static", exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("Layers", exact=True).click()
            title = "Time per layer: fp32 (FP32 root) vs int8-static"
            page.wait_for_function(f"({TITLES_JS})().includes({title!r})", timeout=30_000)
            assert "Output error per layer: int8-static" in _titles(page)
            page.locator(".tabulator-cell").get_by_text(PAYLOAD, exact=True).first.wait_for(timeout=30_000)
            page.wait_for_timeout(500)
            assert page.evaluate("() => window.__pwned") is None, "a layer name ran as script"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-layers.png"), full_page=True)
            assert not errors, errors
        finally:
            page.close()
