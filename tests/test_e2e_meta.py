"""A real browser plays each meta-continual-learning view: the Playground opened with ?strategy=mer (then
lamaml) and a small run in the URL, Play pressed, the run finished; its view's heading and charts are on the
page and Streamlit showed no exception. Screenshots go to artifacts/e2e/ (meta-<strategy>.png). Set-up as in
tests/test_e2e_browser.py (Chromium from apt, the app in a subprocess)."""

from __future__ import annotations

import pytest

from pages.shared import i18n
from tests.test_e2e_browser import (  # noqa: F401 (server, browser: the shared module fixtures)
    ARTIFACTS,
    browser,
    chart_titles,
    open_playground,
    server,
    shot,
    status_text,
    wait_until,
)

WORKSPACE = "e2e0c0ffee000004"
RUN = "tasks=2&subset=100&buffer=50&eval_every=5&eval_subset=100"
# Each view's own chart titles that must be drawn once the run is over (catalog keys, English).
CHARTS = {
    "mer": ["views.mer.chart"],
    "lamaml": ["views.lamaml.spread_chart", "views.lamaml.frozen_chart"],
}

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("strategy", list(CHARTS))
def test_meta_strategy_view_plays_in_the_browser(server, browser, strategy):  # noqa: F811 (imported fixtures)
    words = i18n.catalog("en")
    context = browser.new_context(viewport={"width": 1500, "height": 1300})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        open_playground(page, f"{server}/?ws={WORKSPACE}&strategy={strategy}&{RUN}")
        page.locator(".st-key-pg_play button").first.click()
        wait_until(lambda: words["state.finished"] in status_text(page), 120, "the run to finish")
        heading = page.get_by_role("heading", name=words[f"views.{strategy}.title"]).first
        heading.wait_for(timeout=30_000)
        expected = [words[key] for key in CHARTS[strategy]]
        if strategy == "lamaml":  # the task-end maps of the first layer's learned rates (after task 2)
            expected.append(words["views.lamaml.maps"].format(task=2, n=16))
        wait_until(lambda: all(title in chart_titles(page) for title in expected), 30, f"{strategy}'s charts")
        assert page.locator("[data-testid='stException']").count() == 0
        assert not errors, errors
        heading.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        shot(page, f"meta-{strategy}")
    except Exception:
        shot(page, f"failure-meta-{strategy}")
        raise
    finally:
        context.close()
