"""Every strategy the engine offers has its own view in the Playground (or is fully shown by the common
views), and each view draws the strategy's real data after a tiny run through the app (AppTest)."""

from __future__ import annotations

import re

import pytest

import clcore
from pages.shared import i18n, strategy_views
from tests.app_support import open_app
from tests.test_app_playground import figures, finished, live, store_path, wait_until  # noqa: F401

COMMON_FIGURES = {"pg_heatmap", "pg_curves", "pg_loss", "pg_buffer_chart"}
VIEWED = sorted(strategy_views.VIEWS)


def test_every_strategy_has_a_view_or_is_shown_by_the_common_views():
    missing = sorted(set(clcore.STRATEGIES) - set(strategy_views.VIEWS) - strategy_views.COMMON_VIEWS_ONLY)
    assert not missing, f"strategies without a Playground view: {missing} (add one in pages/shared/strategy_views)"
    assert set(strategy_views.VIEWS) <= set(clcore.STRATEGIES), "a view for a strategy the engine does not offer"


def _has_data(trace: dict) -> bool:
    for axis in ("y", "z"):
        values = trace.get(axis)
        if isinstance(values, list) and any(
            v is not None for v in (sum(values, []) if values and isinstance(values[0], list) else values)
        ):
            return True
    return False


@pytest.mark.parametrize("name", VIEWED)
def test_strategy_view_draws_the_runs_data(name):
    cls = clcore.STRATEGIES[name]
    query = {"strategy": name, "tasks": "2", "subset": "100", "eval_every": "5", "eval_subset": "100"}
    if cls.uses_buffer:
        query["buffer"] = "50"
    i18n.MISSING.clear()
    at = open_app(query)
    at.button(key="pg_play").click().run()
    wait_until(at, finished, timeout=90)
    at.run()
    assert live(at).run.status == "finished", live(at).run.message
    own = {key: fig for key, fig in figures(at).items() if key not in COMMON_FIGURES}
    assert own, f"{name}: its view drew no chart"
    for key, fig in own.items():
        assert any(_has_data(trace) for trace in fig["data"]), f"{name}: chart {key} has no data"
    assert not i18n.MISSING, f"{name}: catalog keys missing: {sorted(i18n.MISSING)}"


CJK = re.compile(r"[\u4e00-\u9fff]")


def _figure_texts(fig: dict) -> list[str]:
    """A figure's title, axis titles and legend names (its words, not its data)."""
    layout = fig["layout"]
    texts = [layout.get("title", {}).get("text", "")]
    texts += [
        axis["title"]["text"]
        for name, axis in layout.items()
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict) and axis.get("title", {}).get("text")
    ]
    texts += [trace["name"] for trace in fig["data"] if trace.get("showlegend", True) and trace.get("name")]
    return [text for text in texts if text]


@pytest.mark.parametrize("name", ["gem", "hat"])  # a live view (per-step stats) and a task-end view (reports)
def test_strategy_view_in_chinese(name):
    """?lang=zh: the view's subheader is the Chinese catalog's, and its charts' titles, axis titles and legend
    names are Chinese (or symbols and task labels such as T1)."""
    query = {"strategy": name, "tasks": "2", "subset": "100", "eval_every": "5", "eval_subset": "100", "lang": "zh"}
    i18n.MISSING.clear()
    at = open_app(query)
    at.button(key="pg_play").click().run()
    wait_until(at, finished, timeout=90)
    at.run()
    zh = i18n.catalog("zh")
    subheaders = [el.value for el in at.subheader]
    if name == "gem":
        assert zh["views.gradient.projection_title"].format(method="GEM") in subheaders
    else:
        assert zh["views.architecture.title"].format(method=zh["strategy_ui.hat.title"]) in subheaders
    own = {key: fig for key, fig in figures(at).items() if key not in COMMON_FIGURES}
    assert own
    for key, fig in own.items():
        for text in _figure_texts(fig):
            assert CJK.search(text) or not re.search(r"[A-Za-z]{2,}", text), (key, text)
    assert not i18n.MISSING, sorted(i18n.MISSING)


TASK_AWARE = [name for name, cls in clcore.STRATEGIES.items() if cls.needs_task_id]


def test_task_aware_strategies_state_their_task_inference_rule():
    for name in TASK_AWARE:
        assert len(clcore.STRATEGIES[name].task_inference) > 30, f"{name}: say how it answers without the task id"


@pytest.mark.parametrize("name", TASK_AWARE[:1])
def test_the_playground_says_when_a_method_needs_the_task_id(name):
    at = open_app({"strategy": name, "tasks": "2", "subset": "60", "eval_every": "0"})
    at.button(key="pg_play").click().run()
    wait_until(at, finished, timeout=90)
    at.run()
    notice = [c.value for c in at.caption if "needs the task id" in c.value]
    assert notice and clcore.STRATEGIES[name].task_inference in notice[0]
