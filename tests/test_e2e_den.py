"""A real browser plays DEN's Playground view (pages/shared/strategy_views/den.py): `streamlit run app.py` in a
subprocess, Debian's Chromium through Playwright, as in tests/test_e2e_browser.py (its fixtures and helpers).

Open the Playground on DEN from a URL (three digit-pair tasks of 200 examples, tau 0 so every later task
expands, sigma 0 so drifted units split), press Play, and read the charts the page draws when tasks end: the
units per task and layer, stacked as carried over / added / duplicated, grow task by task; the parameter count
grows with them; the loss after selective retraining is drawn against tau. Screenshot: artifacts/e2e/den-view.png.
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

WORKSPACE = "e2e0c0ffee0000de"
TASKS = 3
QUERY = (
    "strategy=den&benchmark=split-mnist&scenario=task-il&classes=0,1%7C2,3%7C4,5&train_subset=200"
    "&p_loss_threshold=0&p_split_threshold=0"
)

pytestmark = pytest.mark.timeout(240)


def test_den_view_shows_the_network_growing(server, browser):  # noqa: F811 (the imported fixtures)
    context = browser.new_context(viewport={"width": 1500, "height": 2200})
    page = context.new_page()
    try:
        open_playground(page, f"{server}/?ws={WORKSPACE}&{QUERY}")
        page.locator(".st-key-pg_play button").first.click()
        wait_until(lambda: "finished" in status_text(page), 120, "the DEN run to finish")
        units = wait_until(
            lambda: (data := plotly_chart(page, "pg_den_units")) and len(data["traces"][0]["x"]) == 2 * TASKS and data,
            60,
            "the units chart with every task",
        )
        carried, added, duplicated = (trace["y"] for trace in units["traces"])
        totals = [c + a + d for c, a, d in zip(carried, added, duplicated)]
        # two hidden layers a task: T1's are the backbone's, each later task added units (tau 0) and split some
        assert carried[:2] == totals[:2] and added[:2] == [0, 0] and duplicated[:2] == [0, 0]
        for task in range(1, TASKS):
            layer_1, layer_2 = 2 * task, 2 * task + 1
            assert totals[layer_1] > totals[layer_1 - 2] and totals[layer_2] > totals[layer_2 - 2]
            assert added[layer_1] + added[layer_2] + duplicated[layer_1] + duplicated[layer_2] > 0
        params = plotly_chart(page, "pg_den_params")["traces"]
        den_params, fixed = params[0]["y"], params[1]["y"]
        assert den_params == sorted(den_params) and den_params[-1] > den_params[0] and len(set(fixed)) == 1
        loss = plotly_chart(page, "pg_den_loss")["traces"]
        assert loss[0]["y"][0] is None and all(v > 0 for v in loss[0]["y"][1:]) and set(loss[1]["y"]) == {0}
        page.locator(".st-key-pg_den_units").first.scroll_into_view_if_needed()
        shot(page, "den-view")
    except Exception:
        shot(page, "den-failure")
        raise
    finally:
        context.close()
    assert (ARTIFACTS / "den-view.png").exists()
