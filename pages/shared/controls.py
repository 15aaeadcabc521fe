"""The Playground's controls: widget keys and defaults, settings <-> widgets <-> URL, validation.

Every control has a widget key (`pg_<url name>`), a query parameter (the URL holds the whole setup) and
the prefix of the engine's ConfigError messages about it, so an error is shown beside its control.
Strategy parameters are rendered from the strategy's declared `params` (key `pg_p_<strategy>_<name>`,
query parameter `p_<name>`).

Widget values are kept in st.session_state (and a copy under SAVED_KEY, because Streamlit forgets the
values of widgets that a page switch did not draw).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import streamlit as st
import torch

from clcore import STRATEGIES, ConfigError, RunConfig, make_config
from clcore.benchmarks import BENCHMARKS, even_class_groups, parse_class_groups
from clcore.buffer import BUFFER_POLICIES
from clcore.config import DEVICES, OPTIMIZERS, resolve_device
from clcore.datasets import default_data_dir
from clcore.models import MODEL_NAMES

from .presets import preset_choices, preset_note, preset_settings, preset_title

PREFIX = "pg_"
SAVED_KEY = "pg_saved_controls"
PRESET_KEY = "pg_preset"
DATASET_CLASSES = {"mnist": 10, "fashion-mnist": 10, "cifar10": 10, "cifar100": 100}
GENERAL = "general"


@dataclass(frozen=True)
class Control:
    field: str  # RunConfig field
    url: str  # query parameter
    error: str  # how the engine's ConfigError messages name it ("lr: ...")
    default: object  # widget value
    label: str

    @property
    def key(self) -> str:
        return PREFIX + self.url


CONTROLS = (
    Control("benchmark", "benchmark", "benchmark", "split-mnist", "Benchmark"),
    Control("n_tasks", "tasks", "tasks", 5, "Number of tasks"),
    Control("classes", "classes", "classes", "", "Class grouping and order"),
    Control("scenario", "scenario", "scenario", "class-il", "Scenario"),
    Control("strategy", "strategy", "strategy", "finetune", "Strategy"),
    Control("buffer_size", "buffer", "buffer", 200, "Buffer size (examples)"),
    Control("replay_batch_size", "rbatch", "replay-batch-size", 10, "Replay batch size"),
    Control("buffer_policy", "policy", "buffer-policy", "reservoir", "Buffer policy"),
    Control("epochs", "epochs", "epochs", 1, "Epochs per task"),
    Control("batch_size", "batch", "batch-size", 10, "Batch size"),
    Control("lr", "lr", "lr", 0.03, "Learning rate"),
    Control("optimizer", "opt", "optimizer", "sgd", "Optimizer"),
    Control("momentum", "momentum", "momentum", 0.0, "Momentum"),
    Control("weight_decay", "wd", "weight-decay", 0.0, "Weight decay"),
    Control("model", "model", "model", "mlp", "Model"),
    Control("hidden", "hidden", "hidden", "100,100", "Hidden layer sizes (MLP)"),
    Control("device", "device", "device", "auto", "Device"),
    Control("seed", "seed", "seed", 0, "Seed"),
    Control("train_subset", "subset", "train-subset", 1000, "Training examples per task"),
    Control("eval_every", "eval_every", "eval-every", 0, "Live evaluation every N steps"),
    Control("eval_subset", "eval_subset", "eval-subset", 0, "Test samples per task in live evaluations"),
)
BY_FIELD = {c.field: c for c in CONTROLS}
BY_URL = {c.url: c for c in CONTROLS}
BY_ERROR = {c.error: c.field for c in CONTROLS}
INT_FIELDS = {"n_tasks", "buffer_size", "replay_batch_size", "epochs", "batch_size", "seed", "train_subset",
              "eval_every", "eval_subset"}
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
        return str(error)
    if device.type == "cuda":
        try:
            return f"CUDA GPU ({torch.cuda.get_device_name(device)})"
        except Exception:  # noqa: BLE001
            return "CUDA GPU"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return "CPU (no GPU found)" if name == "auto" else "CPU"


# ------------------------------------------------------------------------------------------------
# State <-> settings
# ------------------------------------------------------------------------------------------------
SCENARIO_LABELS = {"class-il": "Class-IL", "task-il": "Task-IL", "domain-il": "Domain-IL"}


def scenarios_for(info) -> tuple[str, ...]:
    """The scenarios a benchmark offers, its default first. Permuted / rotated tasks share every class:
    Domain-IL, or Task-IL meaning the task id is given at test time (which only task-aware models use)."""
    return ("class-il", "task-il") if info is None or info.kind == "split" else ("domain-il", "task-il")


def default_state() -> dict:
    state = {c.key: c.default for c in CONTROLS}
    for s, cls in STRATEGIES.items():
        for p in cls.params:
            state[param_key(s, p.name)] = p.default
    return state


def state_from_settings(settings: dict) -> dict:
    """Widget values for RunConfig-like settings (a preset, a stored config); unspecified ones default."""
    s = {k: v for k, v in dict(settings).items() if v is not None}
    state = default_state()
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


def settings_from_state(state: dict) -> dict:
    """make_config keyword arguments from widget values (controls that do not apply are left out)."""
    bench = state[key("benchmark")]
    info = BENCHMARKS.get(bench)
    strategy = state[key("strategy")]
    cls = STRATEGIES.get(strategy)
    split = info is not None and info.kind == "split"
    classes = (state[key("classes")] or "").strip() if split else ""
    settings = {
        "benchmark": bench, "strategy": strategy,
        "n_tasks": None if classes else state[key("n_tasks")],
        "classes": classes or None,
        "scenario": state[key("scenario")] if split or state[key("scenario")] == "task-il" else None,
        "epochs": state[key("epochs")], "batch_size": state[key("batch_size")], "lr": state[key("lr")],
        "optimizer": state[key("optimizer")],
        "momentum": state[key("momentum")] if state[key("optimizer")] == "sgd" else 0.0,
        "weight_decay": state[key("weight_decay")], "model": state[key("model")],
        "hidden": state[key("hidden")] if state[key("model")] == "mlp" else BY_FIELD["hidden"].default,
        "device": state[key("device")], "seed": state[key("seed")],
        "train_subset": state[key("train_subset")] or None,
        "eval_every": state[key("eval_every")] or None,
        "eval_subset": state[key("eval_subset")] or None,
        "buffer_size": 0, "params": {},
    }
    if cls is not None:
        settings["params"] = {p.name: state[param_key(strategy, p.name)] for p in cls.params}
        if cls.uses_buffer:
            settings["buffer_size"] = state[key("buffer_size")]
            settings["replay_batch_size"] = state[key("replay_batch_size")]
            settings["buffer_policy"] = state[key("buffer_policy")]
    return settings


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------
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
                raise ConfigError(f"tasks: {config.n_tasks} given but classes '{config.classes}' define "
                                  f"{len(groups)} tasks")
        else:
            even_class_groups(n_classes, config.n_tasks or info.default_tasks)
    else:
        if config.scenario not in (None, "domain-il", "task-il"):
            raise ConfigError(f"scenario: {config.benchmark} supports domain-il or task-il (the task id given at "
                              f"test time), not '{config.scenario}'")
        if config.classes:
            raise ConfigError(f"classes: {config.benchmark} tasks all use every class; a class order applies "
                              "to split benchmarks")


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
        if f in ("buffer_size", "replay_batch_size", "buffer_policy") and not (cls and cls.uses_buffer):
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
            raise ConfigError(f"classes: {info.name} tasks all use every class; a class order applies to split "
                              "benchmarks")
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


def parse_url(query: dict[str, str]) -> tuple[dict, list[str]]:
    """Widget values from query parameters, and one message per parameter that was ignored (invalid,
    unknown or stale); missing or bad values fall back to the defaults. Never raises."""
    state = default_state()
    messages = []
    query = {k: v for k, v in query.items() if k not in ("ws", "lang")}  # workspace, language: not run settings
    choice = query.pop("preset", None)
    if choice is not None:
        settings = preset_settings(choice)
        if settings is None:
            messages.append(f"URL parameter preset={choice} ignored: no such preset.")
        else:
            state = state_from_settings(settings)
    order = ["benchmark", "strategy"] + [c.url for c in CONTROLS if c.url not in ("benchmark", "strategy")]
    for url in order:
        if url not in query:
            continue
        field = BY_URL[url].field
        text = query.pop(url)
        try:
            value = _parse_field(field, text, state)
        except ConfigError as error:
            default = state[BY_URL[url].key]
            shown = _fmt(default) if default != "" else "(none)"
            messages.append(f"URL parameter {url}={text} ignored: {error}. Using {shown}.")
            continue
        state[BY_URL[url].key] = value
        if field == "benchmark" and "tasks" not in query and choice is None:
            state[key("n_tasks")] = BENCHMARKS[value].default_tasks
    strategy = state[key("strategy")]
    params = {p.name: p for p in STRATEGIES[strategy].params}
    for name in sorted(query):
        text = query[name]
        if name.startswith("p_"):
            p = params.get(name[2:])
            if p is None:
                valid = ", ".join(params) or "none"
                messages.append(f"URL parameter {name}={text} ignored: strategy {strategy} has no parameter "
                                f"'{name[2:]}' (its parameters: {valid}).")
                continue
            try:
                state[param_key(strategy, p.name)] = _param_value(p, p.parse(text, strategy))
            except ConfigError as error:
                messages.append(f"URL parameter {name}={text} ignored: {error}. Using {_fmt(p.default)}.")
        else:
            messages.append(f"URL parameter {name}={text} ignored: unknown parameter.")
    return state, messages


# ------------------------------------------------------------------------------------------------
# Session state
# ------------------------------------------------------------------------------------------------
def current_state() -> dict:
    """The controls' current values (one read of the session state: each access to it costs)."""
    values = st.session_state.to_dict()
    return {k: values[k] for k in all_keys() if k in values}


def apply_state(state: dict) -> None:
    """Set widget values (only before the widgets are drawn in a run, e.g. in a callback)."""
    for k, v in state.items():
        st.session_state[k] = v
    st.session_state[SAVED_KEY] = {**st.session_state.get(SAVED_KEY, {}), **state}


def ensure_state(query: dict[str, str]) -> list[str]:
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


def _on_benchmark() -> None:
    info = BENCHMARKS.get(st.session_state[key("benchmark")])
    if info is not None:
        st.session_state[key("n_tasks")] = info.default_tasks
        st.session_state[key("classes")] = ""
        st.session_state[key("scenario")] = scenarios_for(info)[0]


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
def _float_step(p) -> float:
    if p.high is not None and p.low is not None and p.high - p.low <= 1:
        return 0.01
    base = abs(float(p.default)) or 1.0
    return 10.0 ** math.floor(math.log10(base)) / 10


def _param_help(p) -> str:
    if p.low is None and p.high is None:
        return p.help
    low = "" if p.low is None else f"{p.low:g}"
    high = "" if p.high is None else f"{p.high:g}"
    return f"{p.help} (range {low} to {high}; default {p.default:g})"


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
            st.error(errors[field], icon=":material/error:")
            shown.add(field)

    choices = preset_choices()
    if ss.get(PRESET_KEY) not in choices:
        ss[PRESET_KEY] = ""
    st.selectbox("Preset", choices, key=PRESET_KEY, format_func=preset_title, on_change=_on_preset,
                 help="Loads a lecture demo or a paper's published settings into the controls below.")
    note = preset_note(ss.get(PRESET_KEY) or "")
    if note:
        st.caption(note)

    st.subheader("Task sequence", divider="gray")
    names = list(BENCHMARKS)
    if v[key("benchmark")] not in names:
        fix(key("benchmark"), "split-mnist")
    st.selectbox("Benchmark", names, key=key("benchmark"), on_change=_on_benchmark,
                 format_func=lambda n: n if BENCHMARKS[n].bundled else f"{n} (downloads once)",
                 help="\n\n".join(f"**{b.name}**: {b.help}" for b in BENCHMARKS.values()))
    info = BENCHMARKS[v[key("benchmark")]]
    st.caption(info.help)
    if not info.bundled:
        st.caption(f":material/wifi: Needs internet once: the data set is downloaded to {default_data_dir()} "
                   "the first time, then it works offline.")
    error_for("benchmark")
    split = info.kind == "split"
    has_classes = split and bool((v[key("classes")] or "").strip())
    st.number_input("Number of tasks", key=key("n_tasks"), step=1, disabled=has_classes,
                    help="How many tasks the sequence has" + (" (set by the class grouping below)"
                                                              if has_classes else ""))
    error_for("n_tasks")
    if split:
        st.text_input("Class grouping and order", key=key("classes"),
                      placeholder="e.g. 0,1|2,3|4,5|6,7|8,9 (empty: even split in order)",
                      help="One group of class numbers per task, tasks separated by '|', in training order. "
                           "Empty: the classes in order, split evenly into the number of tasks.")
        error_for("classes")
    scenarios = scenarios_for(info)
    if v[key("scenario")] not in scenarios:
        fix(key("scenario"), scenarios[0])
    st.radio("Scenario", scenarios, key=key("scenario"), horizontal=True, format_func=SCENARIO_LABELS.get,
             help="Class-IL: the model must tell all classes seen so far apart. Task-IL: it is told the task and "
                  "only chooses among that task's classes (trained and scored that way)." if split else
             "Domain-IL: every task has all classes and the model is not told which task an input comes from. "
             "Task-IL: it is told the task at test time, which changes the answer only for task-aware strategies "
             "(a head, column or mask per task).")
    error_for("scenario")

    st.subheader("Strategy", divider="gray")
    strategies = list(STRATEGIES)
    if v[key("strategy")] not in strategies:
        fix(key("strategy"), "finetune")
    st.selectbox("Strategy", strategies, key=key("strategy"), format_func=lambda s: STRATEGIES[s].title,
                 help="\n\n".join(f"**{c.title}**: {c.summary}" for c in STRATEGIES.values()))
    cls = STRATEGIES[v[key("strategy")]]
    st.caption(cls.summary)
    error_for("strategy")
    for p in cls.params:
        k = param_key(cls.name, p.name)
        label = f"{p.name}"
        if p.kind is bool:
            st.checkbox(label, key=k, help=p.help)
        else:
            value = v.get(k, p.default)
            low = None if p.low is None else p.kind(p.low)
            high = None if p.high is None else p.kind(p.high)
            if (low is not None and value < low) or (high is not None and value > high):
                fix(k, p.default)
            if p.kind is int:
                st.number_input(label, key=k, min_value=low, max_value=high, step=1, help=_param_help(p))
            else:
                st.number_input(label, key=k, min_value=low, max_value=high, step=_float_step(p), format="%g",
                                help=_param_help(p))
        error_for(param_field(p.name))
    if cls.uses_buffer:
        st.number_input("Buffer size (examples)", key=key("buffer_size"), step=50,
                        help="How many past examples the replay buffer keeps (reservoir sampling by default).")
        error_for("buffer_size")
        st.number_input("Replay batch size", key=key("replay_batch_size"), step=1,
                        help="Buffer examples replayed at each training step.")
        error_for("replay_batch_size")

    st.subheader("Training", divider="gray")
    st.number_input("Training examples per task", key=key("train_subset"), step=500,
                    help="Use only this many training examples of each task (0: all, about 12,000). Small "
                         "values make quick demos.")
    error_for("train_subset")
    st.number_input("Epochs per task", key=key("epochs"), step=1)
    error_for("epochs")
    st.number_input("Batch size", key=key("batch_size"), step=1)
    error_for("batch_size")
    st.number_input("Learning rate", key=key("lr"), step=0.005, format="%g")
    error_for("lr")
    st.selectbox("Optimizer", list(OPTIMIZERS), key=key("optimizer"))
    error_for("optimizer")
    st.number_input("Seed", key=key("seed"), step=1, help="Same seed and settings: the same run.")
    error_for("seed")

    st.subheader("Model and device", divider="gray")
    st.selectbox("Model", list(MODEL_NAMES), key=key("model"),
                 format_func=lambda m: {"mlp": "MLP (fully connected)", "cnn": "small CNN",
                                        "resnet18": "ResNet-18 (slow on a CPU)"}.get(m, m))
    error_for("model")
    if v[key("model")] == "mlp":
        st.text_input("Hidden layer sizes", key=key("hidden"), help="Comma-separated, e.g. 100,100")
        error_for("hidden")
    devices = available_devices()
    if v[key("device")] not in devices:
        fix(key("device"), "auto")
    st.selectbox("Device", devices, key=key("device"),
                 format_func=lambda d: f"auto: {describe_device('auto')}" if d == "auto" else describe_device(d))
    st.caption(f"Detected on this server: **{describe_device('auto')}**")
    error_for("device")

    advanced_fields = {"momentum", "weight_decay", "buffer_policy", "eval_every", "eval_subset"}
    with st.expander("Advanced", expanded=bool(advanced_fields & set(errors))):
        if v[key("optimizer")] == "sgd":
            st.number_input("Momentum", key=key("momentum"), step=0.1, format="%g")
            error_for("momentum")
        st.number_input("Weight decay", key=key("weight_decay"), step=0.0001, format="%g")
        error_for("weight_decay")
        if cls.uses_buffer and cls.buffer_policy is not None:
            st.caption(f"Buffer policy: {cls.buffer_policy}, part of {cls.title}'s definition.")
        elif cls.uses_buffer:
            st.selectbox("Buffer policy", list(BUFFER_POLICIES), key=key("buffer_policy"),
                         help="reservoir: every example seen is kept with equal probability; balanced: "
                              "class-balanced (GDumb).")
            error_for("buffer_policy")
        st.number_input("Live evaluation every N steps", key=key("eval_every"), step=1,
                        help="0: automatic, about 20 evaluations per task.")
        error_for("eval_every")
        st.number_input("Test samples per task in live evaluations", key=key("eval_subset"), step=100,
                        help="0: automatic. Task ends always use the whole test sets.")
        error_for("eval_subset")
    return shown
