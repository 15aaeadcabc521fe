"""A real browser plays a MNIST-360 run (the task-free stream of clcore/data/stream.py): `streamlit run app.py` in a
subprocess, Debian's Chromium through Playwright, as in tests/test_e2e_browser.py (its fixtures and helpers).

Open the Playground on online EWC and MNIST-360 from a URL: the page says before Play that EWC does its work at
task ends, which the stream does not have. Then open ER on a short MNIST-360 stream, press Play and read the live
charts: the accuracy curve has evaluation points along the stream and neither it nor the loss chart draws a task
line. Screenshot: artifacts/e2e/taskfree-view.png.
"""

from __future__ import annotations

import pytest

from tests.test_e2e_browser import (  # noqa: F401
    ARTIFACTS,
    browser,
    open_playground,
    plotly_chart,
    server,
    shot,
    status_text,
    wait_until,
)

WORKSPACE = "e2e0c0ffee00360a"
STREAM = "benchmark=mnist-360&train_subset=270&batch_size=10&eval_every=3&eval_subset=200"

pytestmark = pytest.mark.timeout(240)


def test_a_mnist360_run_plays_without_task_lines(server, browser):  # noqa: F811 (the imported fixtures)
    context = browser.new_context(viewport={"width": 1500, "height": 1800})
    page = context.new_page()
    try:
        open_playground(page, f"{server}/?ws={WORKSPACE}&strategy=ewc&{STREAM}")
        notice = page.get_by_text("has no task end before the stream is over").first
        notice.wait_for(timeout=30_000)
        assert "mnist-360" in notice.inner_text()

        open_playground(page, f"{server}/?ws={WORKSPACE}&strategy=er&buffer_size=50&{STREAM}")
        assert page.get_by_text("has no task end before the stream is over").count() == 0
        page.locator(".st-key-pg_play button").first.click()
        wait_until(lambda: "finished" in status_text(page), 120, "the MNIST-360 run to finish")
        curves = wait_until(
            lambda: (data := plotly_chart(page, "pg_curves")) and len(data["traces"][0]["x"]) >= 9 and data,
            60,
            "the accuracy curve along the stream",
        )
        steps = curves["traces"][0]["x"]
        assert steps == sorted(steps) and steps[-1] == 27  # 270 examples in batches of 10, evaluated every 3 steps
        assert all(0 <= v <= 100 for v in curves["traces"][0]["y"] if v is not None)
        assert curves["shapes"] == 0  # no task line: the stream has no task boundary
        loss = plotly_chart(page, "pg_loss")
        assert loss and len(loss["traces"][0]["x"]) > 1 and loss["shapes"] == 0
        page.locator(".st-key-pg_curves").first.scroll_into_view_if_needed()
        shot(page, "taskfree-view")
    except Exception:
        shot(page, "taskfree-failure")
        raise
    finally:
        context.close()
    assert (ARTIFACTS / "taskfree-view.png").exists()
