"""What a method should show (pages/shared/expectations.py): the recommended runs' measured accuracy beside
fine-tune's on the Learn cards and in the Playground's strategy menu, in English and Chinese, nothing while a
run is not measured, and the caveat where a method cannot show its effect: declared by the strategy classes
(`weak_scenarios`, `needs_task_id`) or measured near fine-tune. The measurements come from a fake
`clcore.settings.recommended.table`, so the tests do not depend on what `python -m bench.demo` wrote."""

from __future__ import annotations

import copy
import re

import pytest
import streamlit as st

from clcore import STRATEGIES
from clcore.settings import recommended
from pages.shared import expectations, i18n
from tests.app_support import open_app

EN, ZH = i18n.catalog("en"), i18n.catalog("zh")
CJK = re.compile(r"[\u4e00-\u9fff]")
pytestmark = pytest.mark.timeout(120)


def run(scenario, acc, task_il=None):
    """An `expected` entry as bench.demo writes it ([mean, std] over seeds 0-2)."""
    return {
        "scenario": scenario,
        "avg_acc": [acc, 1.2],
        "forgetting": [5.0, 0.4],
        "task_il": None if task_il is None else [task_il, 0.3],
        "wall_s": 4.0,
    }


MEASURED = {  # means chosen to test the rounding to whole percent
    ("split-mnist", "finetune"): run("class-il", 19.4, task_il=95.6),
    ("split-mnist", "er"): run("class-il", 84.6, task_il=98.2),
    ("split-mnist", "ewc"): run("class-il", 20.3, task_il=97.1),
    ("permuted-mnist", "finetune"): run("domain-il", 65.2),
    ("permuted-mnist", "ewc"): run("domain-il", 80.4),
    ("permuted-mnist", "er"): run("domain-il", 66.9),  # less than 3 points above fine-tune
}


def fake_table(measured: dict) -> dict:
    """The real table's settings with `measured` as the only expected results."""
    table = copy.deepcopy(recommended.table())
    for entries in table.values():
        for entry in entries.values():
            entry["expected"] = None
    for (benchmark, strategy), expected in measured.items():
        table[benchmark][strategy]["expected"] = expected
    return table


@pytest.fixture
def measured(monkeypatch):
    table = fake_table(MEASURED)
    monkeypatch.setattr(recommended, "table", lambda: table)


@pytest.fixture
def unmeasured(monkeypatch):
    table = fake_table({})
    monkeypatch.setattr(recommended, "table", lambda: table)


@pytest.fixture(params=["en", "zh"])
def language(request):
    """The active language of t() outside a page run."""
    st.session_state[i18n.STATE_KEY] = request.param
    yield request.param
    del st.session_state[i18n.STATE_KEY]


@pytest.fixture(autouse=True)
def store_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CLCORE_STORE", str(tmp_path / "runs.sqlite"))


def weak_text(language: str, reason: str, strategy: str, *scenarios: str) -> str:
    catalog = i18n.catalog(language)
    return catalog[f"expect.weak.{reason}"].format(
        strategy=catalog[f"strategy_ui.{strategy}.title"],
        scenario=" / ".join(catalog[f"common.scenario.{s}"] for s in scenarios),
    )


# ------------------------------------------------------------------------------------------------
# The measured numbers
# ------------------------------------------------------------------------------------------------
def test_card_lines_quote_the_method_beside_fine_tune(measured, language):
    split, permuted = expectations.card_results("er")
    if language == "en":
        assert split == (
            "split-mnist (5 tasks): Class-IL ≈ 85 % vs fine-tune ≈ 19 %; Task-IL ≈ 98 % (fine-tune ≈ 96 %)"
        )
        assert permuted.startswith("permuted-mnist (") and permuted.endswith("Domain-IL ≈ 67 % vs fine-tune ≈ 65 %")
    else:
        assert split == (
            "split-mnist（5 个任务）：类增量（Class-IL） ≈ 85%，微调 ≈ 19%；任务增量（Task-IL） ≈ 98%（微调 ≈ 96%）"
        )
        assert permuted.endswith("域增量（Domain-IL） ≈ 67%，微调 ≈ 65%")
    # fine-tune is the reference: its own numbers, compared with nothing; a method not measured: no line
    numbers = [re.findall(r"≈ (\d+) ?%", line) for line in expectations.card_results("finetune")]
    assert numbers == [["19", "96"], ["65"]]
    assert expectations.card_results("si") == []


def test_the_strategy_menus_help_quotes_the_selected_benchmark(measured, language):
    descriptions = {name: f"**{name}**" for name in ("finetune", "er", "ewc", "si")}
    lines = expectations.strategy_help(descriptions, "permuted-mnist").split("\n\n")
    catalog = i18n.catalog(language)
    assert lines[0] == catalog["expect.tooltip_intro"].format(benchmark="permuted-mnist")
    assert len(lines) == 1 + len(descriptions)  # one line per strategy
    er, si = lines[2], lines[4]
    assert er.startswith("**er**") and re.search(r"≈ 67 ?%.*≈ 65 ?%", er) and "98" not in er  # this benchmark only
    assert si == "**si**"  # not measured: its description alone
    assert CJK.search(er) if language == "zh" else "vs fine-tune" in er


def test_nothing_is_said_while_nothing_is_measured(unmeasured, language):
    descriptions = {name: f"**{name}**: ..." for name in STRATEGIES}
    assert expectations.strategy_help(descriptions, "split-mnist") == "\n\n".join(descriptions.values())
    for name in STRATEGIES:
        assert expectations.card_results(name) == []
    assert expectations.caveat("er", "permuted-mnist", "domain-il") is None
    assert expectations.card_caveats("er") == []


# ------------------------------------------------------------------------------------------------
# Where a method cannot show its effect
# ------------------------------------------------------------------------------------------------
def test_declared_weaknesses():
    for name in ("ewc", "si", "lwf", "progress_compress"):  # regularisation only
        assert expectations.weakness(name, "class-il") == "regularisation", name
        assert expectations.weakness(name, "domain-il") is None and expectations.weakness(name, "task-il") is None
    assert expectations.weakness("gdumb", "domain-il") == "class_balanced_memory"
    assert expectations.weakness("gdumb", "class-il") is None
    task_aware = [name for name, cls in STRATEGIES.items() if cls.needs_task_id] + ["ensemble"]
    assert {"multihead", "pnn", "packnet", "hat", "piggyback", "supsup", "hypernetwork"} <= set(task_aware)
    for name in task_aware:
        assert [expectations.weakness(name, s) for s in ("class-il", "domain-il", "task-il")] == [
            "task_id",
            "task_id",
            None,
        ], name
    # CWR*'s per-class head has nothing to protect when every task has the same classes. AR1 (latent_layer 0), DGR
    # (distill) and GNR (latent_layer 0, a stiff SI) have recommended settings that show their effect everywhere
    # they are defined (bench/DEMO.md).
    assert expectations.weakness("cwr_star", "domain-il") == "same_classes"
    assert expectations.weakness("cwr_star", "task-il") is None
    for name in ("finetune", "er", "derpp", "clser", "ar1", "generative_replay", "generative_negative_replay"):
        assert not any(expectations.weakness(name, s) for s in expectations.SCENARIOS), name
    reasons = {reason for cls in STRATEGIES.values() for reason in cls.weak_scenarios.values()}
    for reason in reasons | {expectations.WITHOUT_TASK_ID}:
        assert f"expect.weak.{reason}" in EN and CJK.search(ZH[f"expect.weak.{reason}"]), reason
    assert all(set(cls.weak_scenarios) <= set(expectations.SCENARIOS) for cls in STRATEGIES.values())


def test_caveats_in_the_active_language(unmeasured, language):
    assert expectations.caveat("ewc", "split-mnist", "class-il") == weak_text(
        language, "regularisation", "ewc", "class-il"
    )
    assert expectations.caveat("gdumb", "permuted-mnist", "domain-il") == weak_text(
        language, "class_balanced_memory", "gdumb", "domain-il"
    )
    assert expectations.caveat("hat", "split-mnist", "class-il") == weak_text(language, "task_id", "hat", "class-il")
    for strategy, benchmark, scenario in [
        ("ewc", "split-mnist", "task-il"),
        ("ewc", "permuted-mnist", "domain-il"),
        ("hat", "split-mnist", "task-il"),
        ("er", "split-mnist", "class-il"),
    ]:
        assert expectations.caveat(strategy, benchmark, scenario) is None
    # the card names every scenario a reason applies to, once
    assert expectations.card_caveats("hat") == [weak_text(language, "task_id", "hat", "class-il", "domain-il")]


def test_a_run_measured_near_fine_tune_is_a_caveat_too(measured, language):
    line = expectations.caveat("er", "permuted-mnist", "domain-il")
    assert line and "67" in line and "65" in line and "permuted-mnist" in line
    assert expectations.card_caveats("er") == [line]
    assert expectations.caveat("er", "split-mnist", "class-il") is None  # 85 vs 19
    assert expectations.caveat("er", "split-mnist", "task-il") is None  # fine-tune is near the top in Task-IL
    # a declared reason is said instead of the measurement
    assert expectations.caveat("ewc", "split-mnist", "class-il") == weak_text(
        language, "regularisation", "ewc", "class-il"
    )


# ------------------------------------------------------------------------------------------------
# The pages
# ------------------------------------------------------------------------------------------------
def sidebar_infos(at) -> list[str]:
    return [el.value for el in at.sidebar.info]


@pytest.mark.parametrize("code", ["en", "zh"])
def test_the_playground_says_it_before_play(unmeasured, code):
    lang = {} if code == "en" else {"lang": code}
    at = open_app({"strategy": "ewc", **lang})
    assert at.radio(key="pg_scenario").value == "class-il"  # a fresh page: nothing played
    assert sidebar_infos(at) == [weak_text(code, "regularisation", "ewc", "class-il")]
    at = open_app({"strategy": "gdumb", "benchmark": "permuted-mnist", **lang})
    assert sidebar_infos(at) == [weak_text(code, "class_balanced_memory", "gdumb", "domain-il")]
    at = open_app({"strategy": "er", **lang})
    assert sidebar_infos(at) == []
    # the caveat follows the scenario: EWC in Task-IL shows what it is for
    at = open_app({"strategy": "ewc", "scenario": "task-il", **lang})
    assert sidebar_infos(at) == []


def test_the_playgrounds_strategy_help_quotes_the_selected_benchmark(measured):
    at = open_app({"strategy": "er"})
    assert "Class-IL ≈ 85 % vs fine-tune ≈ 19 %" in at.selectbox(key="pg_strategy").help
    at.selectbox(key="pg_benchmark").set_value("permuted-mnist").run()
    help_text = at.selectbox(key="pg_strategy").help
    assert "Domain-IL ≈ 80 % vs fine-tune ≈ 65 %" in help_text and "85 %" not in help_text


def test_the_learn_card_explains_the_caveat_and_quotes_the_numbers(measured):
    at = open_app(page="pages/learn.py")
    page = [el.value for el in at.markdown]
    assert f"- {weak_text('en', 'regularisation', 'ewc', 'class-il')}" in page
    er = "Class-IL ≈ 85 % vs fine-tune ≈ 19 %; Task-IL ≈ 98 % (fine-tune ≈ 96 %)"
    assert any(er in text for text in page)
    assert not at.warning
