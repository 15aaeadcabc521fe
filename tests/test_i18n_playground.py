"""The Playground in English and Chinese: catalog coverage of what the engine registers (strategies,
parameters, benchmarks, models, controls, chart words, presets), the engine's error messages translated
with their values, and the page itself switched to 中文 (AppTest; nothing trains here)."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from clcore import STRATEGIES, ConfigError, make_config
from clcore.data.benchmarks import BENCHMARKS, even_class_groups, parse_class_groups
from clcore.models import MODEL_NAMES
from clcore.settings.config import resolve_device
from pages.shared import charts, controls, i18n
from pages.shared.presets import LECTURE_PRESETS
from tests.test_app_playground import figures, open_app, store_path  # noqa: F401  (store_path: autouse)

CJK = re.compile(r"[\u4e00-\u9fff]")
EN, ZH = i18n.catalog("en"), i18n.catalog("zh")
pytestmark = pytest.mark.timeout(120)


# ------------------------------------------------------------------------------------------------
# What the engine registers has its catalog texts (a new strategy, parameter or benchmark fails here)
# ------------------------------------------------------------------------------------------------
def test_every_strategy_and_parameter_has_its_texts_and_the_english_is_the_engines():
    for name, cls in STRATEGIES.items():
        fields = {"title": cls.title, "summary": cls.summary}
        if cls.needs_task_id:
            fields["task_inference"] = cls.task_inference
        for field, engine_text in fields.items():
            key = f"strategy_ui.{name}.{field}"
            assert EN.get(key) == engine_text, (key, "English catalog differs from the engine")
            assert ZH.get(key) and (field == "title" or CJK.search(ZH[key])), key
        for p in cls.params:
            key = f"param.{name}.{p.name}"
            assert EN.get(key) == p.help, (key, "English catalog differs from the engine")
            assert CJK.search(ZH.get(key, "")), key


def test_controls_benchmarks_models_charts_and_presets_have_texts_in_both_languages():
    keys = [f"controls.label.{c.field}" for c in controls.CONTROLS]
    keys += [f"controls.model.{m}" for m in MODEL_NAMES]
    keys += [f"common.scenario.{s}" for s in ("class-il", "task-il", "domain-il")]
    keys += [f"presets.{name}.{field}" for name in LECTURE_PRESETS for field in ("title", "description")]
    keys += [f"controls.error.{name}" for _, name in controls.ENGINE_ERRORS]
    for key in keys:
        assert key in EN and CJK.search(ZH.get(key, "")), key
    for name, info in BENCHMARKS.items():
        assert EN.get(f"controls.benchmark_help.{name}") == info.help, name
        assert CJK.search(ZH[f"controls.benchmark_help.{name}"]), name
    assert {k[len("charts.") :] for k in EN if k.startswith("charts.")} == set(charts.TEXT)
    for name, english in charts.TEXT.items():
        assert EN[f"charts.{name}"] == english, name


# ------------------------------------------------------------------------------------------------
# The engine's messages, translated with their values
# ------------------------------------------------------------------------------------------------
def _engine_errors() -> list[str]:
    """Real ConfigError messages of the engine, one or more per translated pattern."""
    attempts = [
        lambda: make_config(lr=0.0),
        lambda: make_config(lr="abc"),
        lambda: make_config(epochs=0),
        lambda: make_config(momentum=2),
        lambda: make_config(batch_size=0),
        lambda: make_config(buffer_size=-1),
        lambda: make_config(optimizer="rmsprop"),
        lambda: make_config(strategy="nope"),
        lambda: make_config(strategy="er", buffer_size=0),
        lambda: make_config(hidden="a,b"),
        lambda: make_config(hidden="0"),
        lambda: make_config(n_tasks=0),
        lambda: make_config(strategy="ewc", params={"ewc_lambda": -1}),
        lambda: make_config(strategy="ewc", params={"fisher_samples": "x"}),
        lambda: make_config(strategy="gdumb", params={"min_lr": 0.5, "max_lr": 0.05}),
        lambda: make_config(strategy="generative_negative_replay", benchmark="rotated-mnist"),
        lambda: parse_class_groups("0,a|2", 10),
        lambda: parse_class_groups("0,1||2", 10),
        lambda: parse_class_groups("0,11", 10),
        lambda: parse_class_groups("0,1|1,2", 10),
        lambda: even_class_groups(10, 3),
        lambda: controls.check_benchmark(make_config(classes="0,1|2,3", n_tasks=3)),
        lambda: controls.check_benchmark(make_config(benchmark="permuted-mnist", scenario="class-il")),
        lambda: controls.check_benchmark(make_config(benchmark="split-mnist", scenario="domain-il")),
        lambda: controls.check_benchmark(make_config(benchmark="permuted-mnist", classes="0,1")),
    ]
    messages = []
    for attempt in attempts:
        with pytest.raises(ConfigError) as error:
            attempt()
        messages.append(str(error.value))
    for device in ("cuda", "mps"):
        try:
            resolve_device(device)
        except ConfigError as error:
            messages.append(str(error))
    return messages


def _translations():
    """Run inside AppTest: each engine message in English, then in Chinese."""
    import streamlit as st

    from pages.shared import controls

    for code in ("en", "zh"):
        st.session_state["_lang"] = code
        for message in st.session_state["messages"]:
            st.text(controls.translate_error(message))


def test_engine_errors_are_translated_with_their_values():
    messages = _engine_errors()
    at = AppTest.from_function(_translations)
    at.session_state["messages"] = messages
    at.run()
    assert not at.exception, at.exception
    texts = [el.value for el in at.text]
    english, chinese = texts[: len(messages)], texts[len(messages) :]
    scenario = [i for i, m in enumerate(messages) if m.startswith("scenario:")]
    for i, message in enumerate(messages):
        if i not in scenario:  # English reads as the engine wrote it
            assert english[i] == message
        assert chinese[i] != message and CJK.search(chinese[i]), message
        for number in re.findall(r"-?\d+(?:\.\d+)?", message.split(";")[0]):
            assert number in chinese[i], (message, chinese[i])  # the values are kept
    used = {name for pattern, name in controls.ENGINE_ERRORS if any(re.fullmatch(pattern, m) for m in messages)}
    assert used == {name for _, name in controls.ENGINE_ERRORS}  # every translation is reached by a real message
    assert "域增量（Domain-IL）" in chinese[scenario[0]] and "'class-il'" in chinese[scenario[0]]
    # an unexpected message is shown as the engine wrote it
    at.session_state["messages"] = ["something unexpected: 42"]
    at.run()
    assert [el.value for el in at.text] == ["something unexpected: 42"] * 2


def test_url_notices_keep_english_text_and_translate_when_shown():
    _, messages = controls.parse_url({"lr": "abc", "foo": "bar", "preset": "nope"})
    assert all(isinstance(m, controls.Notice) for m in messages)
    assert "lr=abc" in " ".join(messages) and "is not a valid float" in " ".join(messages)


# ------------------------------------------------------------------------------------------------
# The page in Chinese
# ------------------------------------------------------------------------------------------------
def test_switching_to_chinese_changes_the_playground():
    i18n.MISSING.clear()
    at = open_app()
    assert at.title[0].value == EN["playground.title"]
    assert at.button(key="pg_play").label == "Play"
    assert figures(at)["pg_heatmap"]["layout"]["title"]["text"] == EN["playground.heatmap_placeholder"]
    at.segmented_control(key=i18n.SWITCH_KEY).set_value("zh").run()
    assert not at.exception, at.exception
    assert at.query_params["lang"] in ("zh", ["zh"])
    assert at.title[0].value == ZH["playground.title"]
    assert at.button(key="pg_play").label == ZH["playground.button.play"] == "开始"
    assert at.selectbox(key="pg_benchmark").label == ZH["controls.label.benchmark"]
    heatmap = figures(at)["pg_heatmap"]["layout"]
    assert heatmap["title"]["text"] == ZH["playground.heatmap_placeholder"]
    assert heatmap["xaxis"]["title"]["text"] == ZH["charts.evaluated_on_task"]
    curves = figures(at)["pg_curves"]["layout"]
    assert curves["title"]["text"] == ZH["playground.curves_title"]
    # the strategy menu shows the translated names, the controls' help is Chinese
    strategy = at.selectbox(key="pg_strategy")
    assert strategy.format_func("er") == ZH["strategy_ui.er.title"]
    assert CJK.search(at.number_input(key="pg_subset").help)
    # every widget label and caption on the page is Chinese (identifiers such as parameter names aside)
    for widget in list(at.button) + list(at.selectbox) + list(at.number_input):
        assert widget.label.isascii() is False or widget.key.startswith("pg_p_"), widget.label
    assert not i18n.MISSING


def test_chinese_messages_beside_controls_and_for_the_url():
    at = open_app({"lang": "zh", "lr": "abc", "p_bogus": "1"})
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2 and all(CJK.search(w) for w in warnings), warnings
    assert any("lr=abc" in w and "不是有效的数值" in w for w in warnings), warnings
    at.number_input(key="pg_lr").set_value(0.0).run()
    errors = [e.value for e in at.sidebar.error]
    assert errors and errors[0].startswith("lr：0.0 超出范围"), errors


def test_a_bad_language_in_the_url_is_reported():
    at = open_app({"lang": "xx"})
    warnings = [w.value for w in at.warning]
    assert any("lang=xx" in w for w in warnings), warnings
    assert at.title[0].value == EN["playground.title"]
    assert "lang" not in at.query_params
