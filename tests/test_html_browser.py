"""The HTML pages in a real browser: Debian's headless Chromium, driven by Playwright.

It loads the run page and the summary page from files, checks that nothing logs a console
error or throws, that the waterfall holds one drawn bar per phase span and marks the critical
path and the straggler, and saves full-page screenshots: under ``test-artifacts/`` at the
repository's root (gitignored), or in ``$LAPTIME_TEST_ARTIFACTS`` when it is set.

Without /usr/bin/chromium the test is skipped, except in CI (``CI`` set), where it fails:
``.ci/run`` installs Chromium. Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from helpers import FIXED_RUN_ID, invoke_json
from html_helpers import FIXED_PHASES, fixed_detail, with_batch
from laptime.analysis.report_results import Summary
from laptime.analysis.results import RunList
from laptime.analysis.trends import RunsOverTime, costliest_runs, daily_trends, slowest_runs
from laptime.report.html import render_run_page, render_summary_page

if TYPE_CHECKING:
    from collections.abc import Iterator

    from laptime.store import Store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
REPO = Path(__file__).resolve().parents[1]


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("LAPTIME_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(name="browser", scope="module")
def _browser() -> Iterator[Any]:
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401 - only whether it imports
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[dev]')"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(f"no browser to test the HTML pages with: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


def open_page(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """The page loaded from the file, and the console errors and uncaught exceptions it raised."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors


def test_run_page_draws_every_phase_and_marks_the_critical_path(browser: Any, store: Store, tmp_path: Path) -> None:
    detail, marks = with_batch(fixed_detail(store))
    path = tmp_path / "run.html"
    path.write_text(render_run_page(detail, marks), encoding="utf-8")
    page, errors = open_page(browser, path)
    try:
        phase_bars = page.locator("#waterfall rect.bar.k-phase")
        assert phase_bars.count() == FIXED_PHASES
        widths = [phase_bars.nth(i).bounding_box()["width"] for i in range(FIXED_PHASES)]
        assert all(w > 0 for w in widths)  # drawn, not just present
        critical = page.locator("#waterfall rect.bar.crit")
        assert sorted(critical.nth(i).get_attribute("id") for i in range(critical.count())) == sorted(
            f"s-{span_id}" for span_id in marks.critical
        )
        assert page.locator("#waterfall line.critline").count() == len(marks.critical)
        # the straggler: a hatched strip and its label, drawn with a non-zero size
        assert page.locator("#waterfall rect.strag").bounding_box()["width"] > 0
        assert "straggler, held up 1m 20s" in page.locator("#waterfall").text_content()
        stroke = page.eval_on_selector("#waterfall rect.bar.crit", "e => getComputedStyle(e).strokeWidth")
        assert stroke == "2.5px"
        assert page.locator("#waterfall").get_attribute("role") == "img"
        page.screenshot(path=str(artifacts_dir() / "run-page.png"), full_page=True)
    finally:
        page.close()
    assert errors == []


def test_summary_page_links_each_run_and_loads_cleanly(browser: Any, store: Store, tmp_path: Path) -> None:
    fixed_detail(store)  # records the fixed run
    summary = msgspec.convert(invoke_json(store.root, "report", "summary"), Summary)
    rows = msgspec.convert(invoke_json(store.root, "report", "list"), RunList).runs
    over_time = RunsOverTime(days=daily_trends(rows), slowest=slowest_runs(rows), costliest=costliest_runs(rows))
    path = tmp_path / "index.html"
    path.write_text(render_summary_page(summary, over_time), encoding="utf-8")
    page, errors = open_page(browser, path)
    try:
        assert page.locator(f'a[href="run-{FIXED_RUN_ID}.html"]').count() == 2  # slowest and costliest
        for chart in ("trend-duration", "trend-cost", "trend-success", "phase-distribution"):
            assert page.locator(f"svg#{chart}").is_visible()
        assert page.locator("svg#phase-distribution rect.hb").count() == len(summary.phases)
        page.screenshot(path=str(artifacts_dir() / "summary-page.png"), full_page=True)
    finally:
        page.close()
    assert errors == []
