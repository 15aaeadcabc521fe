"""Settings side by side and "change one knob": which settings differ between runs, the knobs one can change,
and a base config with one knob changed (validated, with the settings adjusted to keep it valid). No Streamlit calls."""

from __future__ import annotations

from clcore import STRATEGIES, ConfigError, make_config
from clcore.settings.config import FIELDS
from clcore.settings.declaration import SETTINGS
from pages.shared.i18n import t

# Knobs offered by "change one knob" (declared settings: their choices, or a typed value where None) and the
# settings compared between runs.
KNOBS = {s.name: (list(s.choices) if s.choices is not None else None) for s in SETTINGS if s.knob}
COMPARED = sorted(s.name for s in SETTINGS if s.compared)
DEFAULT_BUFFER = 200  # a replay strategy's buffer when "change one knob" switches to it from none; the grid's default


def fmt_value(value) -> str:
    """A setting's value as shown: "–" for none, floats short, lists comma-separated."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def flat_knobs(config: dict) -> dict:
    """Every setting of a config as a display string, strategy parameters flattened."""
    out = {}
    for key in COMPARED:
        out[key] = fmt_value(config.get(key))
    for name, value in (config.get("params") or {}).items():
        out[f"{config.get('strategy')}.{name}" if name else "params"] = fmt_value(value)
    return out


def comparable(configs: list[dict]) -> list[dict]:
    """flat_knobs of each config; when the strategies differ, their parameters become one 'params' text."""
    if len({c.get("strategy") for c in configs}) > 1:
        configs = [
            {**c, "params": {"": ", ".join(f"{k}={fmt_value(v)}" for k, v in (c.get("params") or {}).items()) or "–"}}
            for c in configs
        ]
    return [flat_knobs(c) for c in configs]


def differing_knobs(configs: list[dict]) -> list[str]:
    """The settings whose values are not all equal, in the order of KNOBS."""
    flats = comparable(configs)
    keys = sorted(set().union(*flats)) if flats else []
    order = {k: i for i, k in enumerate(KNOBS)}
    keys.sort(key=lambda k: (order.get(k, len(order)), k))
    return [k for k in keys if len({f.get(k, "–") for f in flats}) > 1]


def knob_options(config: dict) -> list[str]:
    strategy = STRATEGIES.get(config.get("strategy"))
    params = [f"params.{p.name}" for p in strategy.params] if strategy else []
    return list(KNOBS) + params


def knob_label(knob: str) -> str:
    if knob.startswith("params."):
        return t("compare.knob.param", name=knob.split(".", 1)[1])
    return t(f"controls.label.{knob}")


def knob_current(config: dict, knob: str):
    if knob.startswith("params."):
        return (config.get("params") or {}).get(knob.split(".", 1)[1])
    return config.get(knob)


def changed_config(base: dict, knob: str, value) -> tuple[object, list[str]]:
    """The base config with one knob set to `value` (a string from a text box, or a choice), validated.
    Returns (RunConfig, notes about settings adjusted to keep it valid); raises ConfigError."""
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            raise ConfigError(knob, "empty")
    cfg = {k: v for k, v in base.items() if k in FIELDS}
    cfg["preset"] = None  # the new run is no longer the preset: its values are all explicit
    notes = []
    if knob.startswith("params."):
        cfg["params"] = {**(cfg.get("params") or {}), knob.split(".", 1)[1]: value}
    else:
        cfg[knob] = value
    if knob == "strategy":
        cfg["params"] = {}  # another strategy: its own defaults
        cls = STRATEGIES.get(value)
        if cls is not None and cls.uses_buffer and not int(cfg.get("buffer_size") or 0):
            cfg["buffer_size"] = DEFAULT_BUFFER
            notes.append(t("compare.knob.buffer_set", strategy=value, size=DEFAULT_BUFFER))
        if cls is not None and not cls.uses_buffer and cfg.get("buffer_size"):
            cfg["buffer_size"] = 0
    if knob == "benchmark":
        cfg["n_tasks"] = cfg["classes"] = cfg["scenario"] = None
    if knob == "n_tasks":
        cfg["classes"] = None
    if knob in ("batch_size", "epochs", "train_subset", "n_tasks", "benchmark"):
        cfg["eval_every"] = None  # re-derived: about 20 live evaluations per task
    if knob == "batch_size" and base.get("replay_batch_size") == base.get("batch_size"):
        cfg["replay_batch_size"] = None  # it followed the batch size
    if knob == "hidden" and isinstance(value, str):
        cfg["hidden"] = value
    return make_config(**cfg), notes
