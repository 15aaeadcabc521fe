"""AppTest tests of the Learn page (app.py -> pages/learn.py): a card per registered strategy, the
language switch and `?lang=`, the worked metrics example against clcore.runs.metrics, and "Try it" leading
to the Playground with the card's settings in its controls. Nothing trains here."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from clcore import STRATEGIES
from clcore.runs import metrics
from pages import learn
from pages.shared import controls, i18n
from tests.app_support import open_app

LEARN = "pages/learn.py"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def store_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CLCORE_STORE", str(tmp_path / "runs.sqlite"))


def open_learn(query: dict | None = None) -> AppTest:
    return open_app(query, page=LEARN)


def texts(at) -> str:
    return "\n".join(
        el.value for kind in ("title", "header", "subheader", "markdown", "caption") for el in getattr(at, kind)
    )


def lang_param(at):
    value = at.query_params.get("lang")
    return value[0] if isinstance(value, list) else value


# ------------------------------------------------------------------------------------------------
# Cards
# ------------------------------------------------------------------------------------------------
def test_every_registered_strategy_has_a_card():
    assert set(STRATEGIES) <= set(learn.CARDS), sorted(set(STRATEGIES) - set(learn.CARDS))
    i18n.MISSING.clear()
    at = open_learn()
    buttons = {b.key for b in at.button}
    subheaders = {el.value for el in at.subheader}
    for name in STRATEGIES:
        assert f"learn_try_{name}" in buttons, name
        assert i18n.catalog("en")[f"strategy.{name}.title"] in subheaders, name
    assert len(at.latex) >= len(STRATEGIES) + 4  # one rule per card and the four metrics
    assert not [w.value for w in at.warning]  # no "no card yet" warning, no URL warning
    assert not i18n.MISSING
    # the family map links every registered strategy to its card's anchor
    family_map = texts(at)
    for name in STRATEGIES:
        assert f"(#{learn.card_anchor(name)})" in family_map, name


def test_try_it_settings_are_valid_and_small_for_every_registered_strategy():
    for name in STRATEGIES:
        state, messages = controls.parse_url(dict(learn.CARDS[name].try_it))
        assert not messages, (name, messages)
        assert state[controls.key("strategy")] == name
        config, errors = controls.validate(controls.settings_from_state(state))
        assert not errors, (name, errors)
        assert config.train_subset is not None and config.train_subset <= 3000, name
        if STRATEGIES[name].needs_task_id:
            assert config.scenario == "task-il", name  # where the method works as designed


# ------------------------------------------------------------------------------------------------
# Languages
# ------------------------------------------------------------------------------------------------
def test_switching_to_chinese_changes_the_page_and_the_url():
    i18n.MISSING.clear()
    at = open_learn()
    en, zh = i18n.catalog("en"), i18n.catalog("zh")
    assert at.title[0].value == en["learn.title"]
    assert lang_param(at) is None
    at.segmented_control(key=i18n.SWITCH_KEY).set_value("zh").run()
    assert not at.exception, at.exception
    assert at.title[0].value == zh["learn.title"]
    assert lang_param(at) == "zh"
    page = texts(at)
    assert zh["strategy.er.title"] in page and en["strategy.er.title"] not in page
    assert at.button(key="learn_try_er").label == zh["card.try_it"]
    assert not i18n.MISSING  # every key the page used exists in Chinese
    at.segmented_control(key=i18n.SWITCH_KEY).set_value("en").run()
    assert at.title[0].value == en["learn.title"]
    assert lang_param(at) is None


def test_lang_from_the_url_and_an_invalid_one_reported():
    at = open_learn({"lang": "zh"})
    assert at.title[0].value == i18n.catalog("zh")["learn.title"]
    assert at.segmented_control(key=i18n.SWITCH_KEY).value == "zh"
    at = open_learn({"lang": "xx"})
    assert at.title[0].value == i18n.catalog("en")["learn.title"]
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "lang=xx" in warnings[0] and "English" in warnings[0]
    assert lang_param(at) is None
    at.segmented_control(key=i18n.SWITCH_KEY).set_value("zh").run()  # picking a language clears it
    assert not at.warning


# ------------------------------------------------------------------------------------------------
# Worked example
# ------------------------------------------------------------------------------------------------
def test_worked_example_numbers_are_the_engines_metrics_of_the_shown_matrix():
    at = open_learn()
    table = next(el.value for el in at.table if "random init (b)" in list(el.value.index))
    values = [[float(v) for v in row] for row in table.values.tolist()]
    R, b = values[:-1], values[-1]
    assert R == learn.EXAMPLE_MATRIX and b == learn.EXAMPLE_RANDOM
    shown = {m.label: m.value for m in at.metric}
    expected = {
        "Average accuracy (ACC)": metrics.average_accuracy(R),
        "Forgetting (F)": metrics.forgetting(R),
        "Backward transfer (BWT)": metrics.backward_transfer(R),
        "Forward transfer (FWT)": metrics.forward_transfer(R, b),
    }
    assert shown == {label: f"{value:.2f}" for label, value in expected.items()}
    # forgetting counts from the best accuracy, BWT from the diagonal: the example tells them apart
    assert metrics.forgetting(R) != -metrics.backward_transfer(R)
    assert "Task 1 peaked at 97 after task 2, so its forgetting counts from 97, not from 95" in texts(at)
    curve = ", ".join(f"{v:.2f}" for v in metrics.accuracy_after_each_task(R))
    assert curve in texts(at)


# ------------------------------------------------------------------------------------------------
# Try it
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("names", [("der", "hat", "finetune")])
def test_try_it_opens_the_playground_with_the_cards_settings(names):
    at = open_learn({"lang": "zh"})
    for name in names:
        at.button(key=f"learn_try_{name}").click().run()
        assert not at.exception, at.exception
        assert at.title[0].value == i18n.catalog("zh")["playground.title"]  # the Playground, in the language kept
        wanted = learn.try_it_state(name)
        for k in controls.all_keys():
            if k in wanted and (
                k.startswith(controls.PREFIX + "p_" + name + "_") or not k.startswith(controls.PREFIX + "p_")
            ):
                assert at.session_state[k] == wanted[k], (name, k)
        assert at.selectbox(key=controls.key("strategy")).value == name
        assert at.number_input(key=controls.key("train_subset")).value == wanted[controls.key("train_subset")]
        assert at.radio(key=controls.key("scenario")).value == wanted[controls.key("scenario")]
        preset = learn.CARDS[name].try_it.get("preset", "")
        assert at.selectbox(key=controls.PRESET_KEY).value == preset
        assert not [w.value for w in at.warning]  # the Playground ignored no URL parameter
        at.switch_page(LEARN).run()
        assert at.title[0].value == i18n.catalog("zh")["learn.title"]  # the language was kept
