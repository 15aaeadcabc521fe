"""The Playground's controls: widget keys and defaults, settings <-> widgets <-> URL, validation.

Every control has a widget key (`pg_<url name>`), a query parameter (the URL holds the whole setup) and
the prefix of the engine's ConfigError messages about it, so an error is shown beside its control.
Strategy parameters are rendered from the strategy's declared `params` (key `pg_p_<strategy>_<name>`,
query parameter `p_<name>`).

Widget values are kept in st.session_state (and a copy under SAVED_KEY, because Streamlit forgets the
values of widgets that a page switch did not draw). Choosing a strategy or a benchmark loads the recommended
settings of that pair (clcore.settings.recommended) into the widgets, and so does a first visit for what its URL does
not give; a preset brings its own settings instead.

Every visible text comes from the string catalogs (pages/shared/i18n.py): labels and help under
`controls.*`, the engine's strategy names, summaries and parameter help under `strategy_ui.*` / `param.*`.
The engine's ConfigError messages are English: `translate_error` recognises the known ones and writes them
in the active language with their values filled in (an unexpected message is shown as the engine wrote it).
Messages about ignored URL parameters are `Notice`s, translated when they are shown.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import streamlit as st
import torch

from clcore import STRATEGIES, ConfigError, RunConfig, make_config
from clcore.data.benchmarks import BENCHMARKS, even_class_groups, parse_class_groups
from clcore.data.datasets import default_data_dir
from clcore.mechanics.buffer import BUFFER_POLICIES
from clcore.models import MODEL_NAMES
from clcore.settings.config import DEVICES, OPTIMIZERS, resolve_device
from clcore.settings.recommended import DECLARED, recommended_settings

from . import expectations
from .i18n import catalog, t
from .presets import preset_choices, preset_note, preset_settings, preset_title

PREFIX = "pg_"
SAVED_KEY = "pg_saved_controls"
PRESET_KEY = "pg_preset"
RECOMMENDED_KEY = "pg_recommended"  # (strategy, benchmark) whose recommended settings a menu change loaded
DATASET_CLASSES = {"mnist": 10, "fashion-mnist": 10, "cifar10": 10, "cifar100": 100}
GENERAL = "general"


@dataclass(frozen=True)
class Control:
    field: str  # RunConfig field
    url: str  # query parameter
    error: str  # how the engine's ConfigError messages name it ("lr: ...")
    default: object  # widget value

    @property
    def key(self) -> str:
        return PREFIX + self.url

    @property
    def label(self) -> str:
        """The control's label in the active language (catalog key controls.label.<field>)."""
        return t(f"controls.label.{self.field}")


CONTROLS = (
    Control("benchmark", "benchmark", "benchmark", "split-mnist"),
    Control("n_tasks", "tasks", "tasks", 5),
    Control("classes", "classes", "classes", ""),
    Control("scenario", "scenario", "scenario", "class-il"),
    Control("strategy", "strategy", "strategy", "finetune"),
    Control("buffer_size", "buffer", "buffer", 200),
    Control("replay_batch_size", "rbatch", "replay-batch-size", 10),
    Control("buffer_policy", "policy", "buffer-policy", "reservoir"),
    Control("epochs", "epochs", "epochs", 1),
    Control("batch_size", "batch", "batch-size", 10),
    Control("lr", "lr", "lr", 0.03),
    Control("optimizer", "opt", "optimizer", "sgd"),
    Control("momentum", "momentum", "momentum", 0.0),
    Control("weight_decay", "wd", "weight-decay", 0.0),
    Control("model", "model", "model", "mlp"),
    Control("hidden", "hidden", "hidden", "100,100"),
    Control("device", "device", "device", "auto"),
    Control("seed", "seed", "seed", 0),
    Control("train_subset", "subset", "train-subset", 1000),
    Control("eval_every", "eval_every", "eval-every", 0),
    Control("eval_subset", "eval_subset", "eval-subset", 0),
)
BY_FIELD = {c.field: c for c in CONTROLS}
BY_URL = {c.url: c for c in CONTROLS}
BY_ERROR = {c.error: c.field for c in CONTROLS}
INT_FIELDS = {
    "n_tasks",
    "buffer_size",
    "replay_batch_size",
    "epochs",
    "batch_size",
    "seed",
    "train_subset",
    "eval_every",
    "eval_subset",
}
FLOAT_FIELDS = {"lr", "momentum", "weight_decay"}
ZERO_MEANS = {"train_subset": "all", "eval_every": "auto", "eval_subset": "auto"}  # 0 in the widget


def key(field: str) -> str:
    return BY_FIELD[field].key


def param_key(strategy: str, name: str) -> str:
    return f"{PREFIX}p_{strategy}_{name}"


def param_field(name: str) -> str:
    """The error-map field of a strategy parameter (also its query parameter)."""
    return f"p_{name}"


def all_keys() -> list[str]:
    return [c.key for c in CONTROLS] + [param_key(s, p.name) for s, cls in STRATEGIES.items() for p in cls.params]


def _param_value(p, value):
    return p.kind(value)


# ------------------------------------------------------------------------------------------------
# Devices
# ------------------------------------------------------------------------------------------------
def available_devices() -> list[str]:
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def describe_device(name: str = "auto") -> str:
    """What a device setting means on this machine, in words: 'CPU (no GPU found)', 'CUDA GPU (...)'."""
    try:
        device = resolve_device(name)
    except ConfigError as error:
        return translate_error(str(error))
    if device.type == "cuda":
        try:
            return t("controls.device.cuda_named", name=torch.cuda.get_device_name(device))
        except Exception:  # noqa: BLE001
            return t("controls.device.cuda")
    if device.type == "mps":
        return t("controls.device.mps")
    return t("controls.device.cpu_auto") if name == "auto" else t("controls.device.cpu")


# ------------------------------------------------------------------------------------------------
# State <-> settings
# ------------------------------------------------------------------------------------------------
def scenario_label(scenario: str) -> str:
    return t(f"common.scenario.{scenario}")


def scenarios_for(info) -> tuple[str, ...]:
    """The scenarios a benchmark offers, its default first. Permuted / rotated tasks share every class:
    Domain-IL, or Task-IL meaning the task id is given at test time (which only task-aware models use)."""
    return ("class-il", "task-il") if info is None or info.kind == "split" else ("domain-il", "task-il")


def bare_state() -> dict:
    """The controls' own defaults and every strategy parameter's declared default."""
    state = {c.key: c.default for c in CONTROLS}
    for s, cls in STRATEGIES.items():
        for p in cls.params:
            state[param_key(s, p.name)] = p.default
    return state


def default_state() -> dict:
    """A first visit's widget values: the default strategy and benchmark at their recommended settings."""
    return {**bare_state(), **recommended_state(BY_FIELD["strategy"].default, BY_FIELD["benchmark"].default)}


def state_from_settings(settings: dict) -> dict:
    """Widget values for RunConfig-like settings (a preset, a stored config); unspecified ones take the bare
    defaults, as make_config does (a paper preset is not mixed with recommended settings)."""
    s = {k: v for k, v in dict(settings).items() if v is not None}
    state = bare_state()
    bench = s.get("benchmark", "split-mnist")
    if bench not in BENCHMARKS:
        bench = "split-mnist"
    info = BENCHMARKS[bench]
    strategy = s.get("strategy", "finetune")
    if strategy not in STRATEGIES:
        strategy = "finetune"
    state[key("benchmark")] = bench
    state[key("strategy")] = strategy
    classes = s.get("classes") or ""
    state[key("classes")] = classes if info.kind == "split" else ""
    state[key("n_tasks")] = int(s.get("n_tasks") or (len(classes.split("|")) if classes else info.default_tasks))
    scenario, allowed = s.get("scenario"), scenarios_for(info)
    state[key("scenario")] = scenario if scenario in allowed else allowed[0]
    if s.get("buffer_size"):
        state[key("buffer_size")] = int(s["buffer_size"])
    batch = int(s.get("batch_size", BY_FIELD["batch_size"].default))
    state[key("batch_size")] = batch
    state[key("replay_batch_size")] = int(s.get("replay_batch_size") or batch)
    for field in ("buffer_policy", "optimizer", "model"):
        if field in s:
            state[key(field)] = str(s[field])
    for field in ("epochs", "seed"):
        if field in s:
            state[key(field)] = int(s[field])
    for field in FLOAT_FIELDS:
        if field in s:
            state[key(field)] = float(s[field])
    hidden = s.get("hidden", (100, 100))
    state[key("hidden")] = hidden if isinstance(hidden, str) else ",".join(str(int(h)) for h in hidden)
    device = s.get("device", "auto")
    state[key("device")] = device if device in available_devices() else "auto"
    for field in ZERO_MEANS:
        state[key(field)] = int(s.get(field) or 0)
    cls = STRATEGIES[strategy]
    params = s.get("params") or {}
    for p in cls.params:
        if p.name in params:
            state[param_key(strategy, p.name)] = _param_value(p, params[p.name])
    return state


def recommended_state(strategy: str, benchmark: str) -> dict:
    """Widget values of the recommended settings of `strategy` on `benchmark` (clcore.settings.recommended): the fields
    they declare and the strategy's parameters, so model, device, seed and live evaluation stay as they are;
    {} where none are declared."""
    settings = recommended_settings(strategy, benchmark)
    if not settings:
        return {}
    full = state_from_settings(settings)
    fields = ["benchmark", "strategy", *(f for f in DECLARED if f in settings and f != "params")]
    keys = [key(f) for f in fields] + [param_key(strategy, p.name) for p in STRATEGIES[strategy].params]
    return {k: full[k] for k in keys}


def task_sequence_state(benchmark: str) -> dict:
    """Widget values a newly chosen benchmark brings: its default number of tasks, no class order, its first
    scenario."""
    info = BENCHMARKS[benchmark]
    return {key("n_tasks"): info.default_tasks, key("classes"): "", key("scenario"): scenarios_for(info)[0]}


def settings_from_state(state: dict) -> dict:
    """make_config keyword arguments from widget values (controls that do not apply are left out)."""
    bench = state[key("benchmark")]
    info = BENCHMARKS.get(bench)
    strategy = state[key("strategy")]
    cls = STRATEGIES.get(strategy)
    split = info is not None and info.kind == "split"
    classes = (state[key("classes")] or "").strip() if split else ""
    settings = {
        "benchmark": bench,
        "strategy": strategy,
        "n_tasks": None if classes else state[key("n_tasks")],
        "classes": classes or None,
        "scenario": state[key("scenario")] if split or state[key("scenario")] == "task-il" else None,
        "epochs": state[key("epochs")],
        "batch_size": state[key("batch_size")],
        "lr": state[key("lr")],
        "optimizer": state[key("optimizer")],
        "momentum": state[key("momentum")] if state[key("optimizer")] == "sgd" else 0.0,
        "weight_decay": state[key("weight_decay")],
        "model": state[key("model")],
        "hidden": state[key("hidden")] if state[key("model")] == "mlp" else BY_FIELD["hidden"].default,
        "device": state[key("device")],
        "seed": state[key("seed")],
        "train_subset": state[key("train_subset")] or None,
        "eval_every": state[key("eval_every")] or None,
        "eval_subset": state[key("eval_subset")] or None,
        "buffer_size": 0,
        "params": {},
    }
    if cls is not None:
        settings["params"] = {p.name: state[param_key(strategy, p.name)] for p in cls.params}
        if cls.uses_buffer or cls.replays_generated:
            settings["replay_batch_size"] = state[key("replay_batch_size")]
        if cls.uses_buffer:
            settings["buffer_size"] = state[key("buffer_size")]
            settings["buffer_policy"] = state[key("buffer_policy")]
    return settings


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------
# ------------------------------------------------------------------------------------------------
# The engine's messages in the active language
# ------------------------------------------------------------------------------------------------
# The engine's ConfigError messages (clcore/settings/config.py, benchmarks.py, strategies/base.py), each a pattern
# and the catalog key (controls.error.<name>) of its translation; named groups fill the template.
_NUMBER = r"(?P<value>\S+)"
ENGINE_ERRORS = (
    (
        r"--param (?P<param>\w+) of (?P<strategy>\w+): '(?P<value>.*)' is not a valid (?P<kind>int|float|bool)",
        "param_type",
    ),
    (
        rf"--param (?P<param>\w+) of (?P<strategy>\w+): {_NUMBER} is out of range; "
        r"choose (?P<low>\S+)\.\.(?P<high>\S+)",
        "param_range",
    ),
    (r"--param min_lr of gdumb: (?P<value>\S+) is above max_lr (?P<high>\S+);.*", "min_lr_above_max_lr"),
    (r"(?P<field>[\w-]+): '(?P<value>.*)' is not a valid (?P<kind>int|float)", "not_a_number"),
    (
        rf"(?P<field>[\w-]+): {_NUMBER} is out of range; it must be at least (?P<low>\S+) and at most (?P<high>\S+)",
        "between",
    ),
    (
        rf"(?P<field>[\w-]+): {_NUMBER} is out of range; it must be greater than (?P<low>\S+) and at most "
        r"(?P<high>\S+)",
        "greater_than",
    ),
    (r"(?P<field>[\w-]+): unknown '(?P<value>.*)'; choose one of (?P<choices>.*)", "unknown_choice"),
    (
        r"buffer: (?P<strategy>\w+) replays from a buffer; give a buffer size of at least 1 \(e\.g\. 200\)",
        "buffer_needed",
    ),
    (r"hidden: '(?P<value>.*)' is not a comma-separated list of layer sizes \(e\.g\. 100,100\)", "hidden_not_list"),
    (r"hidden: (?P<value>.*) is invalid; give 1 or more layer sizes between 1 and 100000", "hidden_invalid"),
    (
        r"device: (?P<value>cuda|mps(?: \(Apple GPU\))?) is not available on this machine; choose auto or cpu",
        "device_unavailable",
    ),
    (
        r"classes: '(?P<value>.*)' is not a comma-separated list of class numbers \(write e\.g\. 0,1\|2,3\)",
        "classes_not_list",
    ),
    (r"classes: empty task in '(?P<value>.*)' \(write e\.g\. 0,1\|2,3\)", "classes_empty_task"),
    (r"classes: (?P<value>\[.*\]) do not exist; valid classes are 0\.\.(?P<high>\d+)", "classes_unknown"),
    (r"classes: (?P<value>\[.*\]) appear in more than one task; each class may appear once", "classes_repeated"),
    (r"classes: (?P<benchmark>[\w-]+) tasks all use every class; .*", "classes_not_split"),
    (
        r"tasks: (?P<classes>\d+) classes cannot be split evenly into (?P<value>-?\d+) tasks; choose one of "
        r"(?P<choices>\[.*\]) or give --classes",
        "tasks_uneven",
    ),
    (r"tasks: (?P<value>\d+) given but classes '(?P<classes>.*)' define (?P<count>\d+) tasks", "tasks_mismatch"),
    (
        r"benchmark: (?P<strategy>\w+) needs tasks that bring new classes; every task of "
        r"(?P<benchmark>[\w-]+) has all the classes; choose a split benchmark",
        "needs_new_classes",
    ),
    (
        r"scenario: (?P<benchmark>[\w-]+) supports (?P<choices>class-il or task-il|domain-il,? or task-il)"
        r"(?: \(the task id given at test time\))?, not '(?P<value>.*)'",
        "scenario_unsupported",
    ),
)
_ENGINE_ERRORS = tuple((re.compile(pattern), name) for pattern, name in ENGINE_ERRORS)


def translate_error(message: str) -> str:
    """An engine ConfigError message in the active language: the known ones through controls.error.*, with
    the values filled in (fields keep the engine's names, as on the command line); anything else as the
    engine wrote it. In English the known messages read as the engine writes them."""
    for pattern, name in _ENGINE_ERRORS:
        match = pattern.fullmatch(message)
        if match is None:
            continue
        values = match.groupdict()
        if "kind" in values:
            values["kind"] = t(f"controls.kind.{values['kind']}")
        if name == "scenario_unsupported":
            scenarios = re.split(r",? or ", values["choices"])
            values["choices"] = t("controls.or").join(scenario_label(s) for s in scenarios)
        return t(f"controls.error.{name}", **values)
    return message


class Notice(str):
    """A message for the page (an ignored URL parameter): the English text as a str, and `text()` in the
    language active when it is shown. A value named `error` is an engine message, translated too."""

    def __new__(cls, key: str, **values):
        notice = super().__new__(cls, catalog("en")[key].format(**values))
        notice.key, notice.values = key, values
        return notice

    def text(self) -> str:
        values = dict(self.values)
        if "error" in values:
            values["error"] = translate_error(values["error"])
        return t(self.key, **values)


def error_field(message: str) -> str:
    """Which control a ConfigError message is about: a field, 'p_<param>', or 'general'."""
    m = re.match(r"--param (\w+)", message)
    if m:
        return param_field(m.group(1))
    head = message.split(":", 1)[0].strip()
    return BY_ERROR.get(head, GENERAL)


def check_benchmark(config: RunConfig) -> None:
    """The task-sequence checks that `build_benchmark` does, without loading any data."""
    info = BENCHMARKS[config.benchmark]
    n_classes = DATASET_CLASSES.get(info.dataset)
    if info.kind == "split":
        if config.scenario not in (None, "class-il", "task-il"):
            raise ConfigError(f"scenario: {config.benchmark} supports class-il or task-il, not '{config.scenario}'")
        if n_classes is None:
            return
        if config.classes:
            groups = parse_class_groups(config.classes, n_classes)
            if config.n_tasks is not None and config.n_tasks != len(groups):
                raise ConfigError(
                    f"tasks: {config.n_tasks} given but classes '{config.classes}' define {len(groups)} tasks"
                )
        else:
            even_class_groups(n_classes, config.n_tasks or info.default_tasks)
    else:
        if config.scenario not in (None, "domain-il", "task-il"):
            raise ConfigError(
                f"scenario: {config.benchmark} supports domain-il or task-il (the task id given at "
                f"test time), not '{config.scenario}'"
            )
        if config.classes:
            raise ConfigError(
                f"classes: {config.benchmark} tasks all use every class; a class order applies to split benchmarks"
            )


def validate(settings: dict) -> tuple[RunConfig | None, dict[str, str]]:
    """(config, {}) or (None, {control field: message}) using the engine's own validation."""
    try:
        config = make_config(**settings)
        check_benchmark(config)
        resolve_device(config.device)
    except ConfigError as error:
        message = str(error)
        return None, {error_field(message): message}
    return config, {}


# ------------------------------------------------------------------------------------------------
# URL
# ------------------------------------------------------------------------------------------------
def _fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def url_from_state(state: dict) -> dict[str, str]:
    """Query parameters that reproduce the setup (the controls that apply to it)."""
    bench = state[key("benchmark")]
    strategy = state[key("strategy")]
    info, cls = BENCHMARKS.get(bench), STRATEGIES.get(strategy)
    split = info is not None and info.kind == "split"
    classes = (state[key("classes")] or "").strip()
    out = {}
    for c in CONTROLS:
        f = c.field
        if (f == "classes" or (f == "scenario" and state[key("scenario")] != "task-il")) and not split:
            continue
        if f == "classes" and not classes:
            continue
        if f == "n_tasks" and split and classes:
            continue
        if f in ("buffer_size", "buffer_policy") and not (cls and cls.uses_buffer):
            continue
        if f == "replay_batch_size" and not (cls and (cls.uses_buffer or cls.replays_generated)):
            continue
        if f == "hidden" and state[key("model")] != "mlp":
            continue
        if f == "momentum" and state[key("optimizer")] != "sgd":
            continue
        out[c.url] = _fmt(state[c.key])
    if cls is not None:
        for p in cls.params:
            out[f"p_{p.name}"] = _fmt(state[param_key(strategy, p.name)])
    return out


def _parse_field(field: str, text: str, state: dict):
    """A URL value -> widget value, validated by the engine (raises ConfigError naming the field)."""
    text = text.strip()
    if field in ("benchmark", "strategy"):
        choices = BENCHMARKS if field == "benchmark" else STRATEGIES
        if text not in choices:
            raise ConfigError(f"{field}: unknown '{text}'; choose one of {', '.join(choices)}")
        return text
    if field in ZERO_MEANS and text.lower() in ("0", ZERO_MEANS[field], ""):
        return 0
    info = BENCHMARKS[state[key("benchmark")]]
    if field == "classes":
        if info.kind != "split":
            raise ConfigError(
                f"classes: {info.name} tasks all use every class; a class order applies to split benchmarks"
            )
        if not text:
            return ""
        groups = parse_class_groups(text, DATASET_CLASSES.get(info.dataset, 10**6))
        return "|".join(",".join(map(str, g)) for g in groups)
    if field == "scenario":
        allowed = scenarios_for(info)
        if text not in allowed:
            raise ConfigError(f"scenario: {info.name} supports {' or '.join(allowed)}, not '{text}'")
        return text
    if field == "device":
        if text not in available_devices():
            if text in DEVICES:
                resolve_device(text)  # raises the engine's "not available on this machine" message
            raise ConfigError(f"device: unknown '{text}'; choose one of {', '.join(available_devices())}")
        return text
    config = make_config(**{field: text})  # the engine's checks and conversions, one field at a time
    value = getattr(config, field)
    if field == "hidden":
        return ",".join(map(str, value))
    return value


def parse_url(query: dict[str, str]) -> tuple[dict, list[Notice]]:
    """Widget values from query parameters, and one message per parameter that was ignored (invalid,
    unknown or stale). What the URL does not give comes from its preset, else from the recommended settings
    of its strategy on its benchmark (then the defaults); a bad value falls back the same way. Never raises."""
    state = default_state()
    messages = []
    query = {k: v for k, v in query.items() if k not in ("ws", "lang")}  # workspace, language: not run settings
    choice = query.pop("preset", None)
    preset = None if choice is None else preset_settings(choice)
    if preset is not None:
        state = state_from_settings(preset)
    elif choice is not None:
        messages.append(Notice("controls.url.no_preset", value=choice))

    def take(url: str) -> None:
        field = BY_URL[url].field
        text = query.pop(url)
        try:
            state[BY_URL[url].key] = _parse_field(field, text, state)
        except ConfigError as error:
            default = state[BY_URL[url].key]
            if default == "":
                messages.append(Notice("controls.url.invalid_empty", name=url, value=text, error=str(error)))
            else:
                messages.append(
                    Notice("controls.url.invalid", name=url, value=text, error=str(error), default=_fmt(default))
                )

    for url in ("benchmark", "strategy"):  # first: they decide what the other values default to
        if url in query:
            take(url)
    if preset is None:
        benchmark = state[key("benchmark")]
        state.update(task_sequence_state(benchmark))
        state.update(recommended_state(state[key("strategy")], benchmark))
    for url in [c.url for c in CONTROLS]:  # then the URL's own values, over those
        if url in query:
            take(url)
    strategy = state[key("strategy")]
    params = {p.name: p for p in STRATEGIES[strategy].params}
    for name in sorted(query):
        text = query[name]
        if name.startswith("p_"):
            p = params.get(name[2:])
            if p is None:
                key_ = "controls.url.unknown_param" if params else "controls.url.no_params"
                messages.append(
                    Notice(key_, name=name, value=text, strategy=strategy, param=name[2:], params=", ".join(params))
                )
                continue
            try:
                state[param_key(strategy, p.name)] = _param_value(p, p.parse(text, strategy))
            except ConfigError as error:
                messages.append(
                    Notice("controls.url.invalid", name=name, value=text, error=str(error), default=_fmt(p.default))
                )
        else:
            messages.append(Notice("controls.url.unknown", name=name, value=text))
    return state, messages


# ------------------------------------------------------------------------------------------------
# Session state
# ------------------------------------------------------------------------------------------------
def current_state() -> dict:
    """The controls' current values (one read of the session state: each access to it costs)."""
    values = st.session_state.to_dict()
    return {k: values[k] for k in all_keys() if k in values}


def apply_state(state: dict) -> None:
    """Set widget values (only before the widgets are drawn in a run, e.g. in a callback). The line about
    loaded recommended settings goes: whoever loads them says so again (`_load_recommended`)."""
    for k, v in state.items():
        st.session_state[k] = v
    st.session_state[SAVED_KEY] = {**st.session_state.get(SAVED_KEY, {}), **state}
    st.session_state.pop(RECOMMENDED_KEY, None)


def ensure_state(query: dict[str, str]) -> list[Notice]:
    """Make sure every control has a value: restored from this session's copy, else (first visit) from
    the URL and the defaults. Returns the messages about ignored URL parameters (first visit only)."""
    values = st.session_state.to_dict()
    saved = values.get(SAVED_KEY)
    messages = []
    if saved is None:
        saved, messages = parse_url(query)
    for k, v in {**default_state(), **saved}.items():
        if k not in values:
            st.session_state[k] = v
    st.session_state[SAVED_KEY] = {**saved, **current_state()}
    return messages


def save_state() -> None:
    st.session_state[SAVED_KEY] = {**st.session_state.get(SAVED_KEY, {}), **current_state()}


# ------------------------------------------------------------------------------------------------
# Callbacks
# ------------------------------------------------------------------------------------------------
def _on_preset() -> None:
    settings = preset_settings(st.session_state.get(PRESET_KEY) or "")
    if settings:
        apply_state(state_from_settings(settings))


def _load_recommended(state: dict) -> None:
    """`state`, then the recommended settings of the chosen strategy on the chosen benchmark, into the widgets;
    the preset menu goes back to none (its settings were just replaced) and a line says what was loaded."""
    ss = st.session_state
    strategy, benchmark = ss[key("strategy")], ss[key("benchmark")]
    recommended = recommended_state(strategy, benchmark)
    apply_state({**state, **recommended})
    ss[PRESET_KEY] = ""
    if recommended:
        ss[RECOMMENDED_KEY] = (strategy, benchmark)


def _on_strategy() -> None:
    _load_recommended({})


def _on_benchmark() -> None:
    _load_recommended(task_sequence_state(st.session_state[key("benchmark")]))


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
def _float_step(p) -> float:
    if p.high is not None and p.low is not None and p.high - p.low <= 1:
        return 0.01
    base = abs(float(p.default)) or 1.0
    return 10.0 ** math.floor(math.log10(base)) / 10


def _param_help(strategy: str, p) -> str:
    text = t(f"param.{strategy}.{p.name}")
    if p.low is None and p.high is None:
        return text
    low = "" if p.low is None else f"{p.low:g}"
    high = "" if p.high is None else f"{p.high:g}"
    return t("controls.param_range", help=text, low=low, high=high, default=f"{p.default:g}")


def labels(options, label_of):
    """A format_func for a widget: each option's label, looked up now in the active language (a lookup
    at display time would not know the session's language)."""
    return {option: label_of(option) for option in options}.__getitem__


def strategy_title(name: str) -> str:
    return t(f"strategy_ui.{name}.title")


def strategy_summary(name: str) -> str:
    return t(f"strategy_ui.{name}.summary")


def benchmark_help(name: str) -> str:
    return t(f"controls.benchmark_help.{name}")


def benchmark_label(name: str) -> str:
    """A benchmark as its menu shows it: the name, and whether it downloads its data."""
    return name if BENCHMARKS[name].bundled else t("controls.downloads_once", name=name)


def render(errors: dict[str, str]) -> set[str]:
    """Draw the controls (call inside `with st.sidebar:`), each validation message beside its control.
    Returns the fields whose messages were shown."""
    shown = set()
    ss = st.session_state
    v = current_state()  # one read of the session state; `fix` writes both

    def fix(k, value):
        ss[k] = v[k] = value

    def error_for(field):
        if field in errors:
            st.error(translate_error(errors[field]), icon=":material/error:")
            shown.add(field)

    choices = preset_choices()
    if ss.get(PRESET_KEY) not in choices:
        ss[PRESET_KEY] = ""
    st.selectbox(
        t("controls.preset"),
        choices,
        key=PRESET_KEY,
        format_func=labels(choices, preset_title),
        on_change=_on_preset,
        help=t("controls.preset_help"),
    )
    note = preset_note(ss.get(PRESET_KEY) or "")
    if note:
        st.caption(note)

    st.subheader(t("controls.section.task_sequence"), divider="gray")
    names = list(BENCHMARKS)
    if v[key("benchmark")] not in names:
        fix(key("benchmark"), "split-mnist")
    st.selectbox(
        BY_FIELD["benchmark"].label,
        names,
        key=key("benchmark"),
        on_change=_on_benchmark,
        format_func=labels(names, benchmark_label),
        help="\n\n".join(f"**{b}**: {benchmark_help(b)}" for b in BENCHMARKS),
    )
    info = BENCHMARKS[v[key("benchmark")]]
    st.caption(benchmark_help(info.name))
    if not info.bundled:
        st.caption(t("controls.needs_internet", path=default_data_dir()))
    error_for("benchmark")
    split = info.kind == "split"
    has_classes = split and bool((v[key("classes")] or "").strip())
    st.number_input(
        BY_FIELD["n_tasks"].label,
        key=key("n_tasks"),
        step=1,
        disabled=has_classes,
        help=t("controls.help.n_tasks_set" if has_classes else "controls.help.n_tasks"),
    )
    error_for("n_tasks")
    if split:
        st.text_input(
            BY_FIELD["classes"].label,
            key=key("classes"),
            placeholder=t("controls.classes_placeholder"),
            help=t("controls.help.classes"),
        )
        error_for("classes")
    scenarios = scenarios_for(info)
    if v[key("scenario")] not in scenarios:
        fix(key("scenario"), scenarios[0])
    st.radio(
        BY_FIELD["scenario"].label,
        scenarios,
        key=key("scenario"),
        horizontal=True,
        format_func=labels(scenarios, scenario_label),
        help=t("controls.help.scenario_split" if split else "controls.help.scenario_domain"),
    )
    error_for("scenario")

    st.subheader(t("controls.section.strategy"), divider="gray")
    strategies = list(STRATEGIES)
    if v[key("strategy")] not in strategies:
        fix(key("strategy"), "finetune")
    st.selectbox(
        BY_FIELD["strategy"].label,
        strategies,
        key=key("strategy"),
        on_change=_on_strategy,
        format_func=labels(strategies, strategy_title),
        help=expectations.strategy_help(
            {s: f"**{strategy_title(s)}**: {strategy_summary(s)}" for s in STRATEGIES}, info.name
        ),
    )
    cls = STRATEGIES[v[key("strategy")]]
    st.caption(strategy_summary(cls.name))
    if ss.get(RECOMMENDED_KEY) == (cls.name, info.name):
        st.caption(t("recommended.loaded", strategy=strategy_title(cls.name), benchmark=benchmark_label(info.name)))
    error_for("strategy")
    caveat = expectations.caveat(cls.name, info.name, v[key("scenario")])
    if caveat:  # said before Play: this run will not show what the method is for
        st.info(caveat, icon=":material/lightbulb:")
    for p in cls.params:
        k = param_key(cls.name, p.name)
        label = f"{p.name}"
        if p.kind is bool:
            st.checkbox(label, key=k, help=_param_help(cls.name, p))
        else:
            value = v.get(k, p.default)
            low = None if p.low is None else p.kind(p.low)
            high = None if p.high is None else p.kind(p.high)
            if (low is not None and value < low) or (high is not None and value > high):
                fix(k, p.default)
            if p.kind is int:
                st.number_input(label, key=k, min_value=low, max_value=high, step=1, help=_param_help(cls.name, p))
            else:
                st.number_input(
                    label,
                    key=k,
                    min_value=low,
                    max_value=high,
                    step=_float_step(p),
                    format="%g",
                    help=_param_help(cls.name, p),
                )
        error_for(param_field(p.name))
    if cls.uses_buffer:
        st.number_input(
            BY_FIELD["buffer_size"].label, key=key("buffer_size"), step=50, help=t("controls.help.buffer_size")
        )
        error_for("buffer_size")
    if cls.uses_buffer or cls.replays_generated:  # generated replay has a batch of its own, no buffer
        st.number_input(
            BY_FIELD["replay_batch_size"].label,
            key=key("replay_batch_size"),
            step=1,
            help=t("controls.help.replay_batch_size"),
        )
        error_for("replay_batch_size")

    st.subheader(t("controls.section.training"), divider="gray")
    st.number_input(
        BY_FIELD["train_subset"].label, key=key("train_subset"), step=500, help=t("controls.help.train_subset")
    )
    error_for("train_subset")
    st.number_input(BY_FIELD["epochs"].label, key=key("epochs"), step=1)
    error_for("epochs")
    st.number_input(BY_FIELD["batch_size"].label, key=key("batch_size"), step=1)
    error_for("batch_size")
    st.number_input(BY_FIELD["lr"].label, key=key("lr"), step=0.005, format="%g")
    error_for("lr")
    st.selectbox(BY_FIELD["optimizer"].label, list(OPTIMIZERS), key=key("optimizer"))
    error_for("optimizer")
    st.number_input(BY_FIELD["seed"].label, key=key("seed"), step=1, help=t("controls.help.seed"))
    error_for("seed")

    st.subheader(t("controls.section.model_device"), divider="gray")
    st.selectbox(
        BY_FIELD["model"].label,
        list(MODEL_NAMES),
        key=key("model"),
        format_func=labels(MODEL_NAMES, lambda m: t(f"controls.model.{m}")),
    )
    error_for("model")
    if v[key("model")] == "mlp":
        st.text_input(BY_FIELD["hidden"].label, key=key("hidden"), help=t("controls.help.hidden"))
        error_for("hidden")
    devices = available_devices()
    if v[key("device")] not in devices:
        fix(key("device"), "auto")
    st.selectbox(
        BY_FIELD["device"].label,
        devices,
        key=key("device"),
        format_func=labels(
            devices,
            lambda d: t("controls.device.auto", device=describe_device("auto")) if d == "auto" else describe_device(d),
        ),
    )
    st.caption(t("controls.device.detected", device=describe_device("auto")))
    error_for("device")

    advanced_fields = {"momentum", "weight_decay", "buffer_policy", "eval_every", "eval_subset"}
    with st.expander(t("controls.section.advanced"), expanded=bool(advanced_fields & set(errors))):
        if v[key("optimizer")] == "sgd":
            st.number_input(BY_FIELD["momentum"].label, key=key("momentum"), step=0.1, format="%g")
            error_for("momentum")
        st.number_input(BY_FIELD["weight_decay"].label, key=key("weight_decay"), step=0.0001, format="%g")
        error_for("weight_decay")
        if cls.uses_buffer and cls.buffer_policy is not None:
            st.caption(t("controls.buffer_policy_fixed", policy=cls.buffer_policy, strategy=strategy_title(cls.name)))
        elif cls.uses_buffer:
            st.selectbox(
                BY_FIELD["buffer_policy"].label,
                list(BUFFER_POLICIES),
                key=key("buffer_policy"),
                help=t("controls.help.buffer_policy"),
            )
            error_for("buffer_policy")
        st.number_input(BY_FIELD["eval_every"].label, key=key("eval_every"), step=1, help=t("controls.help.eval_every"))
        error_for("eval_every")
        st.number_input(
            BY_FIELD["eval_subset"].label, key=key("eval_subset"), step=100, help=t("controls.help.eval_subset")
        )
        error_for("eval_subset")
    return shown
