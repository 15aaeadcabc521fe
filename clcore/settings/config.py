"""Run configuration: one flat, validated, JSON-able record shared by the CLI, the app and the run store.

RunConfig's fields, defaults and ranges are the declared settings (clcore.settings.declaration), plus the
strategy's own parameters (`params`)."""

from __future__ import annotations

import dataclasses

import torch

from clcore.data.benchmarks import BENCHMARKS, task_sequence
from clcore.errors import ConfigError
from clcore.settings.declaration import BY_NAME, SETTINGS
from clcore.settings.presets import PRESETS
from clcore.strategies import REGISTRY


def _to_dict(self) -> dict:
    d = dataclasses.asdict(self)
    d["hidden"] = list(self.hidden)
    return d


RunConfig = dataclasses.make_dataclass(
    "RunConfig",
    [(s.name, s.annotation, dataclasses.field(default=s.default)) for s in SETTINGS]
    + [("params", dict, dataclasses.field(default_factory=dict))],  # the strategy's own parameters
    namespace={"to_dict": _to_dict, "__module__": __name__},
    frozen=True,
)
RunConfig.__doc__ = "A run's settings (see clcore.settings.declaration) and its strategy's parameters."

FIELDS = {f.name for f in dataclasses.fields(RunConfig)}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "device_unavailable", value="cuda")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device", "device_unavailable", value="mps")
    return torch.device(name)


def make_config(**given) -> RunConfig:
    """Build a validated RunConfig: preset values first, then everything given explicitly. Each value is checked
    by its declared setting, then the rules between settings. Raises ConfigError naming the setting."""
    unknown = sorted(set(given) - FIELDS)
    if unknown:
        raise ConfigError("", "unknown_setting", value=unknown[0], choices=sorted(FIELDS))
    given = {k: v for k, v in given.items() if v is not None}
    preset = BY_NAME["preset"].parse(given.get("preset"))
    values = {}
    if preset:
        values.update(PRESETS[preset])
        # A preset's strategy parameters are a base that explicit --param values refine.
        given["params"] = {**PRESETS[preset].get("params", {}), **given.get("params", {})}
    values.update(given)
    for s in SETTINGS:
        values[s.name] = s.parse(values.get(s.name, s.default))

    cls = REGISTRY[values["strategy"]]
    if not cls.defined_on(BENCHMARKS[values["benchmark"]]):
        raise ConfigError("benchmark", "needs_new_classes", strategy=cls.name, benchmark=values["benchmark"])
    values["params"] = cls.resolve_params(dict(values.get("params") or {}))
    if cls.uses_buffer and values["buffer_size"] == 0:
        raise ConfigError("buffer_size", "buffer_needed", strategy=cls.name)
    if cls.buffer_policy is not None:  # the method's own sampler is part of its definition
        values["buffer_policy"] = cls.buffer_policy
    if values["replay_batch_size"] is None:
        values["replay_batch_size"] = values["batch_size"]
    return RunConfig(**values)


def validate(settings: dict) -> RunConfig:
    """make_config, and every check that a run makes before training that needs no data: the task sequence
    (scenario, class groups, number of tasks) and the device. Raises ConfigError."""
    config = make_config(**settings)
    task_sequence(BENCHMARKS[config.benchmark], config.n_tasks, config.classes, config.scenario, config.blurry)
    resolve_device(config.device)
    return config


def config_from_dict(d: dict) -> RunConfig:
    """Rebuild a config saved by `RunConfig.to_dict` (run store, JSON results, URLs)."""
    return make_config(**{k: v for k, v in d.items() if k in FIELDS})
