"""Recommended settings (clcore.settings.recommended) wherever a run is set up: the table has a valid entry for every
strategy on every bundled benchmark it is defined on, and the command line, the Playground's controls, Learn's
"Try it" and the lecture presets resolve to exactly its values. The values themselves are read from
clcore.settings.recommended, never written here: `python -m bench.demo write` replaces the table."""

from __future__ import annotations

import json

import pytest

from clcore import STRATEGIES, make_config
from clcore.cli import build_parser, run_settings
from clcore.data.benchmarks import BENCHMARKS, scenarios
from clcore.settings.config import config_from_dict, validate
from clcore.settings.recommended import DECLARED, recommended_settings
from pages import learn
from pages.shared import controls, i18n
from pages.shared.presets import LECTURE_PRESETS, preset_settings
from tests.app_support import open_app
from tests.cli_support import run_cli
from tests.test_app_playground import store_path  # noqa: F401  (store_path: autouse)

pytestmark = pytest.mark.timeout(120)
PAIRS = [
    (strategy, benchmark)
    for benchmark, info in BENCHMARKS.items()
    if info.bundled
    for strategy, cls in STRATEGIES.items()
    if cls.defined_on(info)
]
EN, ZH = i18n.catalog("en"), i18n.catalog("zh")


def decided(config) -> dict:
    """The fields of a resolved RunConfig that recommended settings decide (model, device, seed and live
    evaluation are the user's); an unset number of tasks or scenario as the benchmark resolves it."""
    values = config.to_dict()
    info = BENCHMARKS[config.benchmark]
    values["n_tasks"] = values["n_tasks"] or info.default_tasks
    values["scenario"] = values["scenario"] or scenarios(info)[0]
    return {k: values[k] for k in ("benchmark", "strategy", *DECLARED)}


def recommended_config(strategy: str, benchmark: str, **overrides):
    return make_config(**{**recommended_settings(strategy, benchmark), **overrides})


def playground_config(state: dict):
    """The RunConfig the Playground would start from these widget values."""
    config, errors = controls.validate(controls.settings_from_state(state))
    assert not errors, errors
    return config


def cli_config(*args: str):
    """The RunConfig `python -m clcore run <args>` trains (its option resolution, without training)."""
    return make_config(**run_settings(build_parser().parse_args(["run", *args])))


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------
def test_every_strategy_has_valid_recommended_settings_on_each_bundled_benchmark_it_is_defined_on():
    missing = [pair for pair in PAIRS if not recommended_settings(*pair)]
    assert not missing, missing
    for strategy, benchmark in PAIRS:
        settings = recommended_settings(strategy, benchmark)
        assert set(settings) <= {"benchmark", "strategy", *DECLARED}, (strategy, benchmark, sorted(settings))
        config = validate(settings)  # a ConfigError names the invalid value; the task sequence can be built
        assert (config.strategy, config.benchmark) == (strategy, benchmark)
    for benchmark in BENCHMARKS:  # nothing where a strategy is undefined, or the data are downloaded
        for strategy in STRATEGIES:
            if (strategy, benchmark) not in PAIRS:
                assert recommended_settings(strategy, benchmark) == {}, (strategy, benchmark)


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy, benchmark", PAIRS)
def test_cli_takes_the_recommended_settings_for_every_option_not_given(strategy, benchmark):
    resolved = cli_config("--strategy", strategy, "--benchmark", benchmark)
    assert resolved.to_dict() == recommended_config(strategy, benchmark).to_dict()


def test_cli_run_says_it_loaded_them_and_writes_them_into_the_result(tmp_path):
    out = tmp_path / "r.json"
    code, stderr = run_cli(
        [
            "run",
            "--strategy",
            "er",
            "--benchmark",
            "split-mnist",
            "--train-subset",
            "20",
            "--eval-every",
            "0",
            "--out",
            str(out),
        ]
    )
    assert code == 0, stderr
    assert stderr.splitlines()[0] == (
        "clcore: recommended settings for er on split-mnist loaded (--no-recommended for the bare defaults)"
    )
    config = config_from_dict(json.loads(out.read_text())["config"])  # the result's fully resolved config
    assert decided(config) == decided(recommended_config("er", "split-mnist", train_subset=20))


def test_cli_explicit_options_and_params_replace_single_values():
    recommended = recommended_settings("clser", "split-mnist")
    resolved = cli_config("--strategy", "clser", "--lr", "0.07", "--param", "reg_weight=0.5")
    assert resolved.lr == 0.07 and resolved.buffer_size == recommended["buffer_size"]
    assert resolved.params == {**make_config(**recommended).params, "reg_weight": 0.5}
    assert cli_config("--classes", "0,1|2,3").n_tasks is None  # the class groups define the tasks


def test_cli_no_recommended_gives_the_bare_defaults_and_says_nothing(tmp_path):
    resolved = cli_config("--strategy", "clser", "--buffer", "10", "--no-recommended")
    assert resolved.to_dict() == make_config(strategy="clser", buffer_size=10).to_dict()
    code, stderr = run_cli(["run", "--no-recommended", "--tasks", "2", "--train-subset", "20", "--eval-every", "0"])
    assert code == 0 and "recommended" not in stderr
    code, stderr = run_cli(["run", "--train-subset", "20", "--eval-every", "0", "--quiet"])
    assert code == 0 and stderr == ""  # --quiet: no note either


def test_cli_preset_is_its_own_base():
    preset = "clser-split-mnist-200"
    assert cli_config("--preset", preset).to_dict() == make_config(preset=preset).to_dict()


# ------------------------------------------------------------------------------------------------
# Playground
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy, benchmark", PAIRS)
def test_recommended_widget_values_start_exactly_the_recommended_run(strategy, benchmark):
    state = {
        **controls.default_state(),
        **controls.task_sequence_state(benchmark),
        **controls.recommended_state(strategy, benchmark),
    }
    assert decided(playground_config(state)) == decided(recommended_config(strategy, benchmark))


def test_first_visit_is_fine_tune_at_its_recommended_settings():
    config = playground_config(controls.default_state())
    assert decided(config) == decided(recommended_config("finetune", "split-mnist"))
    bare = controls.bare_state()
    assert config.model == bare[controls.key("model")] and config.seed == bare[controls.key("seed")]


def test_changing_the_strategy_or_benchmark_loads_the_recommended_settings_and_says_so():
    at = open_app()
    at.number_input(key="pg_seed").set_value(7)
    at.text_input(key="pg_hidden").set_value("64,32").run()
    at.selectbox(key="pg_strategy").set_value("clser").run()
    state = {k: at.session_state[k] for k in controls.all_keys() if k in at.session_state}
    config = playground_config(state)
    assert decided(config) == decided(recommended_config("clser", "split-mnist"))
    assert config.seed == 7 and config.hidden == (64, 32)  # the user's own settings stay
    line = EN["recommended.loaded"].format(strategy=EN["strategy_ui.clser.title"], benchmark="split-mnist")
    assert line in [c.value for c in at.sidebar.caption]

    at.selectbox(key="pg_benchmark").set_value("permuted-mnist").run()
    state = {k: at.session_state[k] for k in controls.all_keys() if k in at.session_state}
    assert decided(playground_config(state)) == decided(recommended_config("clser", "permuted-mnist"))
    line = EN["recommended.loaded"].format(strategy=EN["strategy_ui.clser.title"], benchmark="permuted-mnist")
    assert line in [c.value for c in at.sidebar.caption]

    at.number_input(key="pg_lr").set_value(0.07).run()  # every value stays editable
    assert at.number_input(key="pg_lr").value == 0.07 and not at.error
    at.selectbox(key="pg_preset").set_value("paper:ewc-split-mnist").run()  # a preset: its own settings, no line
    assert not [c.value for c in at.sidebar.caption if c.value.startswith("Recommended settings")]


def test_the_line_is_in_chinese_too():
    at = open_app({"lang": "zh"})
    at.selectbox(key="pg_strategy").set_value("er").run()
    line = ZH["recommended.loaded"].format(strategy=ZH["strategy_ui.er.title"], benchmark="split-mnist")
    assert line in [c.value for c in at.sidebar.caption]


def test_url_values_are_kept_and_the_rest_is_recommended():
    query = {"strategy": "clser", "lr": "0.07", "p_reg_weight": "0.5", "train_subset": "300"}
    state, messages = controls.parse_url(query)
    assert not messages
    config = playground_config(state)
    recommended = recommended_config(
        "clser",
        "split-mnist",
        lr=0.07,
        train_subset=300,
        params={**recommended_settings("clser", "split-mnist")["params"], "reg_weight": 0.5},
    )
    assert decided(config) == decided(recommended)

    state, _ = controls.parse_url({"strategy": "ewc", "benchmark": "permuted-mnist"})
    assert decided(playground_config(state)) == decided(recommended_config("ewc", "permuted-mnist"))

    at = open_app(query)
    assert at.number_input(key="pg_lr").value == 0.07 and at.number_input(key="pg_p_clser_reg_weight").value == 0.5
    assert at.number_input(key="pg_train_subset").value == 300
    assert at.query_params["lr"] == "0.07"


def test_a_paper_preset_is_not_mixed_with_recommended_settings():
    state, _ = controls.parse_url({"preset": "paper:clser-split-mnist-200"})
    assert decided(playground_config(state)) == decided(make_config(preset="clser-split-mnist-200"))


# ------------------------------------------------------------------------------------------------
# Learn's "Try it" and the lecture presets
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(learn.CARDS))
def test_try_it_is_the_recommended_run_of_its_card(name):
    try_it = learn.CARDS[name].try_it
    if "preset" in try_it:  # a lecture preset: the same recommended run
        assert set(try_it) == {"preset"}
        named = LECTURE_PRESETS[try_it["preset"]]
    else:  # names the run only: no copies of settings
        assert set(try_it) <= {"strategy", "benchmark", "scenario"}
        named = try_it
    assert named["strategy"] == name and recommended_settings(name, named["benchmark"]), name
    on_top = {k: v for k, v in named.items() if k not in ("strategy", "benchmark")}  # a scenario, overrides
    expected = recommended_config(name, named["benchmark"], **on_top)
    assert decided(playground_config(learn.try_it_state(name))) == decided(expected)


@pytest.mark.parametrize("name", list(LECTURE_PRESETS))
def test_lecture_presets_are_recommended_settings_plus_their_overrides(name):
    preset = LECTURE_PRESETS[name]
    strategy, benchmark = preset["strategy"], preset["benchmark"]
    assert recommended_settings(strategy, benchmark), name
    overrides = {k: v for k, v in preset.items() if k not in ("strategy", "benchmark")}
    expected = recommended_config(strategy, benchmark, **overrides)
    assert make_config(**preset_settings(name)).to_dict() == expected.to_dict()
    state, messages = controls.parse_url({"preset": name})  # and the Playground loads exactly that
    assert not messages and decided(playground_config(state)) == decided(expected)


def test_a_compare_grid_without_a_base_run_starts_each_strategy_from_its_recommended_settings():
    from pages.shared.compare.grid import GRID_BENCHMARK, grid_cells

    cells = grid_cells(None, ["finetune", "clser"], [50], [1], "grid 1")
    by_strategy = {config.strategy: config for _, config in cells}
    for strategy, config in by_strategy.items():
        expected = make_config(**recommended_settings(strategy, GRID_BENCHMARK))
        grid_values = {**config.to_dict(), "buffer_size": expected.buffer_size, "seed": expected.seed}
        assert grid_values == expected.to_dict()
    assert by_strategy["clser"].buffer_size == 50 and by_strategy["clser"].seed == 1
