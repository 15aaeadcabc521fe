"""The Playground in English and Chinese: catalog coverage of what the engine registers (strategies,
parameters, benchmarks, models, controls, chart words, presets), the engine's error messages translated
with their values, and the page itself switched to 中文 (AppTest; nothing trains here)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from clcore import STRATEGIES, ConfigError, make_config
from clcore.data.benchmarks import (
    BENCHMARKS,
    TASK_NAMES,
    build_benchmark,
    even_class_groups,
    parse_class_groups,
    task_name,
    task_name_parts,
)
from clcore.errors import MESSAGES, show
from clcore.models import MODEL_NAMES
from clcore.settings.config import resolve_device, validate
from pages.shared import charts, controls, i18n
from pages.shared.presets import LECTURE_PRESETS
from tests.app_support import open_app
from tests.test_app_playground import TINY, figures, finished, store_path, wait_until  # noqa: F401  (store_path: autouse)
from tests.test_datasets import CIFAR10_NAMES, data_dir, make_fashion_mnist, offline  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
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
    keys = [f"controls.label.{s.name}" for s in controls.CONTROLS]
    keys += [f"controls.model.{m}" for m in MODEL_NAMES]
    keys += [f"common.scenario.{s}" for s in ("class-il", "task-il", "domain-il")]
    keys += [f"presets.{name}.{field}" for name in LECTURE_PRESETS for field in ("title", "description")]
    keys += [f"controls.error.{code}" for code in MESSAGES]
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
def _engine_errors() -> list[ConfigError]:
    """Real ConfigErrors of the engine, from the settings' checks, the task-sequence checks and strategy parameters."""
    attempts = [
        lambda: make_config(lr=0.0),
        lambda: make_config(lr="abc"),
        lambda: make_config(epochs=0),
        lambda: make_config(momentum=2),
        lambda: make_config(batch_size=0),
        lambda: make_config(buffer_size=-1),
        lambda: make_config(optimizer="rmsprop"),
        lambda: make_config(strategy="nope"),
        lambda: make_config(frobnicate=1),
        lambda: make_config(strategy="er", buffer_size=0),
        lambda: make_config(hidden="a,b"),
        lambda: make_config(hidden="0"),
        lambda: make_config(n_tasks=0),
        lambda: make_config(strategy="ewc", params={"ewc_lambda": -1}),
        lambda: make_config(strategy="ewc", params={"fisher_samples": "x"}),
        lambda: make_config(strategy="ewc", params={"bogus": 1}),
        lambda: make_config(strategy="gdumb", buffer_size=10, params={"min_lr": 0.5, "max_lr": 0.05}),
        lambda: make_config(strategy="generative_negative_replay", benchmark="rotated-mnist"),
        lambda: parse_class_groups("0,a|2", 10),
        lambda: parse_class_groups("0,1||2", 10),
        lambda: parse_class_groups("0,11", 10),
        lambda: parse_class_groups("0,1|1,2", 10),
        lambda: even_class_groups(10, 3),
        lambda: validate({"classes": "0,1|2,3", "n_tasks": 3}),
        lambda: validate({"benchmark": "permuted-mnist", "scenario": "class-il"}),
        lambda: validate({"benchmark": "split-mnist", "scenario": "domain-il"}),
        lambda: validate({"benchmark": "permuted-mnist", "classes": "0,1"}),
        lambda: validate({"benchmark": "mnist-360", "n_tasks": 5}),
        lambda: validate({"benchmark": "split-mnist", "scenario": "task-il", "blurry": 0.2}),
        lambda: validate({"benchmark": "split-mnist", "classes": "0,1", "blurry": 0.2}),
    ]
    errors = []
    for attempt in attempts:
        with pytest.raises(ConfigError) as error:
            attempt()
        errors.append(error.value)
    for device in ("cuda", "mps"):
        try:
            resolve_device(device)
        except ConfigError as error:
            errors.append(error)
    return errors


def test_every_error_code_has_its_texts_and_the_english_is_the_engines():
    for code, english in MESSAGES.items():
        assert EN[f"controls.error.{code}"] == english, code
        assert CJK.search(ZH[f"controls.error.{code}"]), code
        assert set(re.findall(r"{(\w+)}", ZH[f"controls.error.{code}"])) == set(re.findall(r"{(\w+)}", english)), code
    source = "".join(p.read_text() for folder in ("clcore", "pages") for p in ROOT.joinpath(folder).rglob("*.py"))
    for code in MESSAGES:  # every code is raised somewhere
        assert source.count(f'"{code}"') >= 1, code


def _translations():
    """Run inside AppTest: each engine error beside its control in English, then in Chinese, then away from it."""
    import streamlit as st

    from pages.shared import controls

    for code in ("en", "zh"):
        st.session_state["_lang"] = code
        for error in st.session_state["errors"]:
            st.text(controls.error_message(error))
        for error in st.session_state["errors"]:
            st.text(controls.translate_error(error))


def test_engine_errors_are_shown_with_their_values_in_both_languages():
    errors = _engine_errors()
    assert {e.code for e in errors} >= set(MESSAGES) - {
        "empty",  # Compare's empty knob value
        "param_syntax",  # the CLI's --param
        "needs_mlp",  # the rest: strategies refusing a model when the run is built
        "dualnet_needs_mlp",
        "not_cuttable",
        "cut_too_deep",
        "lateral_needs_mlp",
    }
    at = AppTest.from_function(_translations)
    at.session_state["errors"] = errors
    at.run()
    assert not at.exception, at.exception
    texts = [el.value for el in at.text]
    n = len(errors)
    english, english_away, chinese, chinese_away = (texts[i * n : (i + 1) * n] for i in range(4))
    for i, error in enumerate(errors):
        if error.code != "scenario_unsupported":  # English reads as the engine wrote it
            assert english[i] == MESSAGES[error.code].format(**{k: show(v) for k, v in error.values.items()})
            assert (
                english_away[i] == (f"{controls.setting_label(error.setting)}: " if error.setting else "") + english[i]
            )
        assert CJK.search(chinese[i]) and chinese_away[i].endswith(chinese[i]), (error, chinese[i])
        for number in re.findall(r"-?\d+(?:\.\d+)?", str(error).split(";")[0].split(":", 1)[-1]):
            assert number in chinese[i], (str(error), chinese[i])  # the values are kept
    scenario = next(i for i, e in enumerate(errors) if e.code == "scenario_unsupported")
    assert "域增量（Domain-IL）" in chinese[scenario] and "'class-il'" in chinese[scenario]
    lr = next(i for i, e in enumerate(errors) if e.setting == "lr")
    assert chinese_away[lr].startswith(ZH["controls.label.lr"] + "：")
    # a message that is not a ConfigError (a failed run's) is shown as written
    assert controls.translate_error("something unexpected: 42") == "something unexpected: 42"


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
    assert CJK.search(at.number_input(key="pg_train_subset").help)
    # every widget label and caption on the page is Chinese (identifiers such as parameter names aside)
    for widget in list(at.button) + list(at.selectbox) + list(at.number_input):
        assert widget.label.isascii() is False or widget.key.startswith("pg_p_"), widget.label
    assert not i18n.MISSING


def test_every_bundled_benchmarks_task_names_read_back_and_have_texts_in_both_languages():
    assert {key.rsplit(".", 1)[1] for key in EN if key.startswith("common.task_name.")} == set(TASK_NAMES)
    for kind, template in TASK_NAMES.items():
        assert EN[f"common.task_name.{kind}"] == template
        assert CJK.search(ZH[f"common.task_name.{kind}"])
        assert i18n.placeholders(ZH[f"common.task_name.{kind}"]) == i18n.placeholders(template)
    kinds = set()
    for name in (name for name, info in BENCHMARKS.items() if info.bundled):
        for task in build_benchmark(name, seed=0, train_subset=10).tasks:
            kind, parts = task_name_parts(task.name)
            assert task_name(kind, **parts) == task.name
            kinds.add(kind)
    assert kinds == set(TASK_NAMES)
    assert task_name_parts("my own task") is None and task_name_parts("rotation 45") is None


def test_task_names_on_the_charts_are_in_chinese():
    at = open_app({"lang": "zh", "preset": "forgetting-30s", **TINY})
    at.button(key="pg_play").click().run()
    wait_until(at, finished)
    figs = figures(at)
    assert figs["pg_heatmap"]["data"][0]["customdata"][0][:2] == ["类别 0, 1", "类别 2, 3"]
    assert [trace["name"] for trace in figs["pg_curves"]["data"]][:2] == ["T1: 类别 0, 1", "T2: 类别 2, 3"]


def test_class_names_of_the_download_data_sets_have_texts_in_both_languages():
    for dataset in ("fashion-mnist", "cifar10", "cifar100"):
        prefix = f"class_name.{dataset}."
        names = [key[len(prefix) :] for key in EN if key.startswith(prefix)]
        assert all(EN[prefix + name] == name for name in names), dataset  # English: the engine's own names
        assert all(CJK.search(ZH[prefix + name]) for name in names), dataset
    assert [key.rsplit(".", 1)[1] for key in EN if key.startswith("class_name.cifar10.")] == CIFAR10_NAMES
    assert len([key for key in EN if key.startswith("class_name.cifar100.")]) == 100
    assert not [key for key in EN if key.startswith("class_name.mnist")]  # digits are shown as they are


def test_a_fashion_mnist_run_names_its_tasks_and_classes_in_chinese(data_dir):  # noqa: F811 (the fixture)
    make_fashion_mnist(data_dir, np.random.default_rng(0))
    at = open_app({"lang": "zh", "benchmark": "split-fashion-mnist", "strategy": "er", **TINY})
    at.button(key="pg_play").click().run()
    wait_until(at, finished)
    figs = figures(at)
    curves = [trace["name"] for trace in figs["pg_curves"]["data"]]
    assert curves[:2] == ["T1: 类别 T恤/上衣, 裤子", "T2: 类别 套头衫, 连衣裙"], curves
    at.radio(key="pg_buffer_by").set_value("class").run()
    legend = [trace["name"] for trace in figures(at)["pg_buffer_chart"]["data"]]
    assert legend[:3] == ["T恤/上衣", "裤子", "套头衫"], legend


def test_chinese_messages_beside_controls_and_for_the_url():
    at = open_app({"lang": "zh", "lr": "abc", "p_bogus": "1"})
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2 and all(CJK.search(w) for w in warnings), warnings
    assert any("lr=abc" in w and "不是有效的数值" in w for w in warnings), warnings
    at.number_input(key="pg_lr").set_value(0.0).run()
    errors = [e.value for e in at.sidebar.error]
    assert errors and errors[0].startswith("0.0 超出范围，必须大于 0.0"), errors


def test_a_bad_language_in_the_url_is_reported():
    at = open_app({"lang": "xx"})
    warnings = [w.value for w in at.warning]
    assert any("lang=xx" in w for w in warnings), warnings
    assert at.title[0].value == EN["playground.title"]
    assert "lang" not in at.query_params
