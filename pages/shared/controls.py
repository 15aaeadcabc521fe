"""The Playground's controls: widgets, URL and state <-> settings, all generated from the declared run settings.

Every run setting with a Playground section (clcore.settings.declaration.SETTINGS) has a widget (key
`pg_<name>`) and a query parameter (`<name>`; the old short keys stay accepted: the URL holds the whole
setup). Strategy parameters are rendered from the strategy's declared `params` (key `pg_p_<strategy>_<name>`,
query parameter `p_<name>`).

Widget values are kept in st.session_state (and a copy under SAVED_KEY, because Streamlit forgets the
values of widgets that a page switch did not draw). Choosing a strategy or a benchmark loads the recommended
settings of that pair (clcore.settings.recommended) into the widgets, and so does a first visit for what its URL does
not give; a preset brings its own settings instead.

Every visible text comes from the string catalogs (pages/shared/i18n.py): labels and help under
`controls.*`, the engine's strategy names, summaries and parameter help under `strategy_ui.*` / `param.*`.
The engine's ConfigErrors carry their setting, a code and values: shown as `controls.error.<code>` with those
values, beside the setting's control. Messages about ignored URL parameters are `Notice`s, translated when
they are shown.
"""

from __future__ import annotations

import math

import streamlit as st
import torch

from clcore import STRATEGIES, ConfigError, RunConfig
from clcore.data.benchmarks import BENCHMARKS, check_scenario, scenarios, task_name_parts, task_sequence
from clcore.data.datasets import default_data_dir
from clcore.errors import show
from clcore.models import MODEL_NAMES
from clcore.settings import config as engine
from clcore.settings.config import resolve_device
from clcore.settings.declaration import BY_NAME, DEVICES, LAYERS, SETTINGS, Setting
from clcore.settings.recommended import DECLARED, recommended_settings

from . import expectations
from .i18n import DEFAULT as DEFAULT_LANGUAGE
from .i18n import catalog, t
from .presets import preset_choices, preset_note, preset_settings, preset_title

PREFIX = "pg_"
SAVED_KEY = "pg_saved_controls"
PRESET_KEY = "pg_preset"
RECOMMENDED_KEY = "pg_recommended"  # (strategy, benchmark) whose recommended settings a menu change loaded
SECTIONS = ("task_sequence", "strategy", "training", "model_device", "advanced")  # catalog controls.section.*
CONTROLS = tuple(s for s in SETTINGS if s.section is not None)  # in the order they are drawn
BY_URL = {**{alias: s for s in CONTROLS for alias in s.url_aliases}, **{s.name: s for s in CONTROLS}}


def key(name: str) -> str:
    return PREFIX + name


def label(name: str) -> str:
    """A setting's label in the active language (catalog key controls.label.<name>)."""
    return t(f"controls.label.{name}")


def param_key(strategy: str, name: str) -> str:
    return f"{PREFIX}p_{strategy}_{name}"


def all_keys() -> list[str]:
    return [key(s.name) for s in CONTROLS] + [param_key(s, p.name) for s, cls in STRATEGIES.items() for p in cls.params]


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
        return error_message(error)
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


def class_title(dataset: str, name: str) -> str:
    """A data set's class name (the engine's, torchvision's English) in the active language; as it is where the
    catalogs name none (MNIST's digits)."""
    key = f"class_name.{dataset}.{name}"
    return t(key) if key in catalog(DEFAULT_LANGUAGE) else name


def task_title(name: str, dataset: str | None = None) -> str:
    """A task's name from the engine ("rotation 45°", "classes cat, dog") in the active language, its classes
    named as `class_title` names them; a name of another form as it is."""
    parts = task_name_parts(name)
    if parts is None:
        return name
    kind, values = parts
    if kind == "classes" and dataset is not None:
        values = {"classes": ", ".join(class_title(dataset, c) for c in values["classes"].split(", "))}
    return t(f"common.task_name.{kind}", **values)


def _widget_value(setting: Setting, value):
    """A valid setting value as its widget holds it (None, where 0 stands for it, as 0)."""
    if setting.zero_means is not None:
        return int(value or 0)
    if setting.kind == LAYERS:
        return value if isinstance(value, str) else ",".join(str(int(h)) for h in value)
    if setting.kind in (int, float):
        return setting.kind(value)
    return "" if value is None else str(value)


def _start_value(setting: Setting, settings: dict):
    """A widget's value where the settings give none (or one that does not apply): its start value, or what
    the other settings derive."""
    info = BENCHMARKS[settings.get("benchmark", BY_NAME["benchmark"].default)]
    if setting.name == "n_tasks":
        classes = (settings.get("classes") or "").strip() if info.kind == "split" else ""
        return len(classes.split("|")) if classes else info.default_tasks
    if setting.name == "scenario":
        return scenarios(info)[0]
    if setting.name == "replay_batch_size":
        return settings.get("batch_size", BY_NAME["batch_size"].default)
    return setting.start_value


def bare_state() -> dict:
    """The controls' own start values and every strategy parameter's declared default."""
    state = {key(s.name): _widget_value(s, _start_value(s, {})) for s in CONTROLS}
    for s, cls in STRATEGIES.items():
        for p in cls.params:
            state[param_key(s, p.name)] = p.default
    return state


def default_state() -> dict:
    """A first visit's widget values: the default strategy and benchmark at their recommended settings."""
    return {**bare_state(), **recommended_state(BY_NAME["strategy"].default, BY_NAME["benchmark"].default)}


def state_from_settings(settings: dict) -> dict:
    """Widget values for RunConfig-like settings (a preset, a stored config); unspecified ones take the bare
    defaults, as make_config does (a paper preset is not mixed with recommended settings)."""
    s = {k: v for k, v in dict(settings).items() if v is not None}
    if s.get("benchmark") not in BENCHMARKS:
        s["benchmark"] = BY_NAME["benchmark"].default
    if s.get("strategy") not in STRATEGIES:
        s["strategy"] = BY_NAME["strategy"].default
    state = bare_state()
    for setting in CONTROLS:
        value = s.get(setting.name)
        if setting.zero_means is None and (value is None or not setting.means(s)):
            value = _start_value(setting, s)
        state[key(setting.name)] = _widget_value(setting, value)
    if state[key("scenario")] not in scenarios(BENCHMARKS[s["benchmark"]]):
        state[key("scenario")] = _start_value(BY_NAME["scenario"], s)
    if state[key("device")] not in available_devices():
        state[key("device")] = BY_NAME["device"].default
    strategy = s["strategy"]
    params = s.get("params") or {}
    for p in STRATEGIES[strategy].params:
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
    return {key("n_tasks"): info.default_tasks, key("classes"): "", key("scenario"): scenarios(info)[0]}


def _widget_values(state: dict) -> dict:
    """{setting name: widget value} of the controls."""
    return {s.name: state[key(s.name)] for s in CONTROLS}


def settings_from_state(state: dict) -> dict:
    """make_config keyword arguments from widget values (a control that does not apply gives its default)."""
    values = _widget_values(state)
    settings = {}
    for s in CONTROLS:
        value = values[s.name]
        if not s.means(values):
            value = s.default
        elif s.zero_means is not None:
            value = value or None
        elif s.name == "classes":
            value = value.strip() or None
        settings[s.name] = value
    cls = STRATEGIES.get(values["strategy"])
    settings["params"] = {p.name: state[param_key(cls.name, p.name)] for p in cls.params} if cls else {}
    return settings


# ------------------------------------------------------------------------------------------------
# Validation, and the engine's errors in the active language
# ------------------------------------------------------------------------------------------------
def _error_values(error: ConfigError, text) -> dict:
    """An error's values as its message shows them; `text(key, **values)` looks up a catalog text."""
    values = {k: show(v) for k, v in error.values.items()}
    if "kind" in values:
        values["kind"] = text(f"controls.kind.{values['kind']}")
    if error.code == "scenario_unsupported":
        values["choices"] = text("controls.or").join(text(f"common.scenario.{s}") for s in error.values["choices"])
    return values


def _english(key_: str, **values) -> str:
    return catalog("en")[key_].format(**values)


def error_message(error: ConfigError) -> str:
    """A ConfigError's message in the active language, its values filled in (shown beside its control)."""
    return t(f"controls.error.{error.code}", **_error_values(error, t))


def setting_label(setting: str) -> str:
    """How a message names a setting: a control's label, a strategy parameter's name, else the engine's name."""
    if setting in BY_NAME and f"controls.label.{setting}" in catalog("en"):
        return label(setting)
    return setting.removeprefix("params.")


def translate_error(error) -> str:
    """An error for a place away from its control: a ConfigError in the active language, naming its setting;
    any other message (a failed run's text) as it was written."""
    if not isinstance(error, ConfigError):
        return str(error)
    if not error.setting:
        return error_message(error)
    return t("controls.error_about", setting=setting_label(error.setting), message=error_message(error))


class Notice(str):
    """A message for the page (an ignored URL parameter): the English text as a str, and `text()` in the
    language active when it is shown. A value named `error` may be a ConfigError, shown in that language too."""

    def __new__(cls, key_: str, **values):
        english = dict(values)
        if isinstance(english.get("error"), ConfigError):
            error = english["error"]
            english["error"] = _english(f"controls.error.{error.code}", **_error_values(error, _english))
        notice = super().__new__(cls, catalog("en")[key_].format(**english))
        notice.key, notice.values = key_, values
        return notice

    def text(self) -> str:
        values = dict(self.values)
        if isinstance(values.get("error"), ConfigError):
            values["error"] = error_message(values["error"])
        return t(self.key, **values)


def validate(settings: dict) -> tuple[RunConfig | None, dict[str, ConfigError]]:
    """(config, {}) or (None, {setting: ConfigError}) by the engine's data-free validation."""
    try:
        return engine.validate(settings), {}
    except ConfigError as error:
        return None, {error.setting: error}


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
    """Query parameters that reproduce the setup (the controls that apply to it and have a value)."""
    values = _widget_values(state)
    out = {s.name: _fmt(values[s.name]) for s in CONTROLS if s.means(values) and values[s.name] != ""}
    cls = STRATEGIES.get(values["strategy"])
    if cls is not None:
        for p in cls.params:
            out[f"p_{p.name}"] = _fmt(state[param_key(cls.name, p.name)])
    return out


def _parse_field(setting: Setting, text: str, state: dict):
    """A URL value -> widget value, validated by the engine (raises ConfigError naming the setting)."""
    text = text.strip()
    if setting.zero_means is not None and text.lower() in ("0", setting.zero_means, ""):
        return 0
    info = BENCHMARKS[state[key("benchmark")]]
    if setting.name == "classes":
        groups, _ = task_sequence(info, classes=text)
        return "|".join(",".join(map(str, g)) for g in groups) if text else ""
    if setting.name == "scenario":
        return check_scenario(info, text)
    if setting.name == "device" and text not in available_devices():
        if text in DEVICES:
            resolve_device(text)  # raises the engine's "not available on this machine"
        raise ConfigError("device", "unknown_choice", value=text, choices=available_devices())
    return _widget_value(setting, setting.parse(text))


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

    given = {}  # setting -> (the URL key as written, its text); the current key wins over an old alias
    for url_key in [k for k in query if k in BY_URL]:
        setting, text = BY_URL[url_key], query.pop(url_key)
        if setting.name not in given or url_key == setting.name:
            given[setting.name] = (url_key, text)

    def take(name: str) -> None:
        url_key, text = given.pop(name)
        k = key(name)
        try:
            state[k] = _parse_field(BY_NAME[name], text, state)
        except ConfigError as error:
            if state[k] == "":
                messages.append(Notice("controls.url.invalid_empty", name=url_key, value=text, error=error))
            else:
                messages.append(
                    Notice("controls.url.invalid", name=url_key, value=text, error=error, default=_fmt(state[k]))
                )

    for name in ("benchmark", "strategy"):  # first: they decide what the other values default to
        if name in given:
            take(name)
    if preset is None:
        benchmark = state[key("benchmark")]
        state.update(task_sequence_state(benchmark))
        state.update(recommended_state(state[key("strategy")], benchmark))
    for s in CONTROLS:  # then the URL's own values, over those
        if s.name in given:
            take(s.name)
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
                    Notice("controls.url.invalid", name=name, value=text, error=error, default=_fmt(p.default))
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


def _help(name: str) -> str | None:
    """A control's help (catalog controls.help.<name>), where it has one."""
    return t(f"controls.help.{name}") if f"controls.help.{name}" in catalog("en") else None


def _options(setting: Setting) -> list[str]:
    return available_devices() if setting.name == "device" else list(setting.choices)


def _widget(setting: Setting, **options) -> None:
    """Draw a setting's widget: a menu for choices, a number box for numbers, else a text box. `options`
    (help, format_func, on_change, ...) add to or replace what the declaration gives."""
    k, options = key(setting.name), {"help": _help(setting.name), **options}
    if setting.choices is not None:
        st.selectbox(label(setting.name), _options(setting), key=k, **options)
    elif setting.kind in (int, float):
        step = setting.step if setting.kind is float else int(setting.step or 1)
        if setting.format:
            options["format"] = setting.format
        st.number_input(label(setting.name), key=k, step=step, **options)
    else:
        st.text_input(label(setting.name), key=k, **options)


def _draw_params(cls, v, fix, error_for) -> None:
    """The chosen strategy's own parameters, each with its error."""
    for p in cls.params:
        k = param_key(cls.name, p.name)
        if p.kind is bool:
            st.checkbox(p.name, key=k, help=_param_help(cls.name, p))
        else:
            value = v.get(k, p.default)
            low = None if p.low is None else p.kind(p.low)
            high = None if p.high is None else p.kind(p.high)
            if (low is not None and value < low) or (high is not None and value > high):
                fix(k, p.default)
            step = 1 if p.kind is int else _float_step(p)
            fmt = {} if p.kind is int else {"format": "%g"}
            st.number_input(
                p.name, key=k, min_value=low, max_value=high, step=step, help=_param_help(cls.name, p), **fmt
            )
        error_for(f"params.{p.name}")


def render(errors: dict[str, ConfigError]) -> set[str]:
    """Draw the controls (call inside `with st.sidebar:`), each validation message beside its control.
    Returns the settings whose messages were shown."""
    shown = set()
    ss = st.session_state
    v = current_state()  # one read of the session state; `fix` writes both

    def fix(k, value):
        ss[k] = v[k] = value

    def error_for(name):
        if name in errors:
            st.error(error_message(errors[name]), icon=":material/error:")
            shown.add(name)

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

    for name, default in (("benchmark", "split-mnist"), ("strategy", "finetune")):
        if v[key(name)] not in BY_NAME[name].choices:
            fix(key(name), default)
    info = BENCHMARKS[v[key("benchmark")]]
    cls = STRATEGIES[v[key("strategy")]]
    allowed = scenarios(info)
    if v[key("scenario")] not in allowed:
        fix(key("scenario"), allowed[0])
    if v[key("device")] not in available_devices():
        fix(key("device"), BY_NAME["device"].default)
    values = {s.name: v[key(s.name)] for s in CONTROLS}
    split = info.kind == "split"
    scenario_kind = "stream" if info.kind == "stream" else "split" if split else "domain"  # its scenario help

    def draw(setting: Setting) -> None:
        name = setting.name
        if name == "benchmark":
            names = list(BENCHMARKS)
            _widget(
                setting,
                on_change=_on_benchmark,
                format_func=labels(names, benchmark_label),
                help="\n\n".join(f"**{b}**: {benchmark_help(b)}" for b in BENCHMARKS),
            )
            st.caption(benchmark_help(info.name))
            if not info.bundled:
                st.caption(t("controls.needs_internet", path=default_data_dir()))
        elif name == "n_tasks":  # drawn where class groups set it too, disabled, showing their count
            if info.kind == "stream":
                _widget(setting, disabled=True, help=t("controls.help.n_tasks_stream"))
            else:
                has_classes = not setting.means(values)
                _widget(
                    setting, disabled=has_classes, **({"help": t("controls.help.n_tasks_set")} if has_classes else {})
                )
        elif name == "classes":
            _widget(setting, placeholder=t("controls.classes_placeholder"))
        elif name == "scenario":
            st.radio(
                label(name),
                allowed,
                key=key(name),
                horizontal=True,
                format_func=labels(allowed, scenario_label),
                help=t(f"controls.help.scenario_{scenario_kind}"),
            )
        elif name == "strategy":
            _widget(
                setting,
                on_change=_on_strategy,
                format_func=labels(list(STRATEGIES), strategy_title),
                help=expectations.strategy_help(
                    {s: f"**{strategy_title(s)}**: {strategy_summary(s)}" for s in STRATEGIES}, info.name
                ),
            )
            st.caption(strategy_summary(cls.name))
            if ss.get(RECOMMENDED_KEY) == (cls.name, info.name):
                st.caption(
                    t("recommended.loaded", strategy=strategy_title(cls.name), benchmark=benchmark_label(info.name))
                )
        elif name == "buffer_policy" and cls.buffer_policy is not None:
            st.caption(t("controls.buffer_policy_fixed", policy=cls.buffer_policy, strategy=strategy_title(cls.name)))
            return
        elif name == "model":
            _widget(setting, format_func=labels(MODEL_NAMES, lambda m: t(f"controls.model.{m}")))
        elif name == "device":
            devices = available_devices()
            auto = t("controls.device.auto", device=describe_device("auto"))
            _widget(setting, format_func=labels(devices, lambda d: auto if d == "auto" else describe_device(d)))
            st.caption(t("controls.device.detected", device=describe_device("auto")))
        else:
            _widget(setting)
        error_for(name)
        if name == "strategy":
            caveat = expectations.caveat(cls.name, info.name, v[key("scenario")])
            if caveat:  # said before Play: this run will not show what the method is for
                st.info(caveat, icon=":material/lightbulb:")
            _draw_params(cls, v, fix, error_for)

    for section in SECTIONS:
        # n_tasks and scenario are always drawn (disabled, or Domain-IL / Task-IL); the others where they apply
        drawn = [s for s in CONTROLS if s.section == section and (s.means(values) or s.name in ("n_tasks", "scenario"))]
        if section == "advanced":
            names = {s.name for s in CONTROLS if s.section == section}
            with st.expander(t("controls.section.advanced"), expanded=bool(names & set(errors))):
                for setting in drawn:
                    draw(setting)
        else:
            st.subheader(t(f"controls.section.{section}"), divider="gray")
            for setting in drawn:
                draw(setting)
    return shown
