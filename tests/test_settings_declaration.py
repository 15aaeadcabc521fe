"""One declaration per run setting (clcore.settings.declaration): RunConfig, the CLI, the Playground (widgets and
URL) and Compare's knobs expose exactly the declared settings under their one name; old URL keys and CLI flags
still load."""

from __future__ import annotations

import dataclasses

import pytest

from clcore import ConfigError, RunConfig, make_config
from clcore.cli import build_parser, run_settings
from clcore.settings.declaration import BY_NAME, SETTINGS
from clcore.settings.recommended import DECLARED
from pages.shared import controls, i18n
from pages.shared.compare.figures import TABLE_KNOBS
from pages.shared.compare.knobs import KNOBS
from tests.app_support import open_app
from tests.test_app_playground import store_path  # noqa: F401  (store_path: autouse)

NAMES = [s.name for s in SETTINGS]
CONTROLS = [s.name for s in SETTINGS if s.section is not None]
# Old URL keys (before the settings had one name) and what they are now.
OLD_URL = {
    "tasks": ("n_tasks", "2"),
    "buffer": ("buffer_size", "50"),
    "rbatch": ("replay_batch_size", "7"),
    "policy": ("buffer_policy", "balanced"),
    "batch": ("batch_size", "32"),
    "opt": ("optimizer", "sgd"),
    "wd": ("weight_decay", "0.001"),
    "subset": ("train_subset", "300"),
}


def test_run_config_is_the_declared_settings_and_the_strategy_parameters():
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    assert list(fields) == [*NAMES, "params"]
    for s in SETTINGS:
        assert fields[s.name].default == s.default, s.name
    assert make_config().to_dict()["hidden"] == list(BY_NAME["hidden"].default)
    assert set(DECLARED) == {s.name for s in SETTINGS if s.recommended} | {"params"}


def test_each_value_is_checked_by_its_setting():
    for s in SETTINGS:
        if s.low is not None:
            with pytest.raises(ConfigError) as error:
                make_config(**{s.name: s.high * 2 + 1})
            code = "greater_than" if s.low_open else "between"
            assert (error.value.setting, error.value.code) == (s.name, code), s.name
            assert str(error.value).startswith(f"{s.name}: ")
        if s.choices is not None:
            with pytest.raises(ConfigError) as error:
                make_config(**{s.name: "no-such-thing"})
            assert (error.value.setting, error.value.code) == (s.name, "unknown_choice"), s.name
            assert error.value.values["choices"] == s.choices


def test_the_cli_has_one_option_per_setting_and_keeps_the_old_flags():
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    options = {a.dest: a.option_strings for a in run._actions if a.dest != "help"}
    # besides the settings: how to run (output, store, notes, checkpoints, logs), not what to run
    how = {"no_recommended", "param", "out", "quiet", "store", "checkpoint", "checkpoint_every", "resume", "log"}
    assert set(options) == {*NAMES, *how, "log_dir"}
    for s in SETTINGS:
        assert options[s.name] == [s.flag, *s.flag_aliases], s.name
    assert BY_NAME["buffer_size"].flag == "--buffer-size" and BY_NAME["n_tasks"].flag_aliases == ("--tasks",)
    new = run_settings(build_parser().parse_args(["run", "--buffer-size", "50", "--n-tasks", "2", "--no-recommended"]))
    old = run_settings(build_parser().parse_args(["run", "--buffer", "50", "--tasks", "2", "--no-recommended"]))
    assert new == old and new["buffer_size"] == "50" and new["n_tasks"] == "2"


def test_compare_knobs_and_columns_are_declared_settings():
    assert list(KNOBS) == [s.name for s in SETTINGS if s.knob]
    assert tuple(s.name for s in SETTINGS if s.column) == TABLE_KNOBS
    for name, choices in KNOBS.items():
        assert choices == (list(BY_NAME[name].choices) if BY_NAME[name].choices else None), name
    for lang in ("en", "zh"):
        texts = i18n.catalog(lang)
        assert all(f"controls.label.{name}" in texts for name in KNOBS)
        assert all(f"compare.column.{name}" in texts for name in TABLE_KNOBS)


def test_the_playground_draws_every_control_and_writes_each_to_the_url():
    # ER on split-MNIST with SGD and the MLP: every declared control applies (class groups aside: empty)
    at = open_app({"strategy": "er", "optimizer": "sgd", "model": "mlp"})
    assert not at.exception and not at.warning
    keys = {w.key for kind in ("selectbox", "number_input", "text_input", "radio") for w in getattr(at, kind)}
    drawn = {k[len(controls.PREFIX) :] for k in keys if k.startswith(controls.PREFIX) and not k.startswith("pg_p_")}
    assert drawn - {"preset"} == set(CONTROLS)
    url = {k for k in at.query_params if not k.startswith("p_")} - {"ws"}
    assert url == set(CONTROLS) - {"classes"}  # no class groups given
    for s in SETTINGS:
        assert (s.name in CONTROLS) == (f"controls.label.{s.name}" in i18n.catalog("en")), s.name


def test_old_url_keys_still_load_and_are_written_back_under_the_new_names():
    old = {"strategy": "er", **{alias: text for alias, (_, text) in OLD_URL.items()}}
    new = {"strategy": "er", **dict(OLD_URL.values())}
    state, messages = controls.parse_url(old)
    assert not messages and state == controls.parse_url(new)[0]
    for name, text in OLD_URL.values():
        assert controls._fmt(state[controls.key(name)]) == text, name
    assert (
        controls.parse_url({"buffer": "60", "buffer_size": "70", "strategy": "er"})[0][controls.key("buffer_size")]
        == 70
    )
    at = open_app(old)
    assert not at.warning
    for alias, (name, text) in OLD_URL.items():
        assert at.query_params[name] == text and alias not in at.query_params, alias
