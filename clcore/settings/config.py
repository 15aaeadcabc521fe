"""Run configuration: one flat, validated, JSON-able record shared by the CLI, the app and the run store."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from clcore.data.benchmarks import BENCHMARKS, SCENARIOS
from clcore.errors import ConfigError
from clcore.mechanics.buffer import BUFFER_POLICIES
from clcore.models import MODEL_NAMES
from clcore.settings.presets import PRESETS
from clcore.strategies import REGISTRY

OPTIMIZERS = ("sgd", "adam", "adamw")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class RunConfig:
    benchmark: str = "split-mnist"
    strategy: str = "finetune"
    params: dict = field(default_factory=dict)  # the strategy's own parameters
    buffer_size: int = 0
    buffer_policy: str = "reservoir"
    epochs: int = 1
    batch_size: int = 10
    replay_batch_size: int | None = None  # default: batch_size
    lr: float = 0.03
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    model: str = "mlp"
    hidden: tuple = (100, 100)
    n_tasks: int | None = None  # default: the benchmark's
    classes: str | None = None  # split benchmarks: '0,1|2,3|...'
    scenario: str | None = None  # default: class-il for split, domain-il otherwise
    train_subset: int | None = None  # training examples per task (fast demos)
    seed: int = 0
    device: str = "auto"
    eval_every: int | None = None  # steps between live evaluations; None: about 20 per task; 0: off
    eval_subset: int | None = None  # test samples per task in live evaluations; None: auto
    log_every: int = 10  # steps between loss reports
    cpu_threads: int | None = None  # torch intra-op threads on CPU (process-wide); None: auto
    preset: str | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


FIELDS = {f.name for f in dataclasses.fields(RunConfig)}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda is not available on this machine; choose auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device: mps (Apple GPU) is not available on this machine; choose auto or cpu")
    return torch.device(name)


def _choice(field_name, value, choices):
    if value not in choices:
        raise ConfigError(f"{field_name}: unknown '{value}'; choose one of {', '.join(choices)}")


def _number(field_name, value, kind, low=None, high=None, low_open=False):
    try:
        number = kind(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"{field_name}: '{value}' is not a valid {kind.__name__}") from None
    if (
        number != number
        or (low is not None and (number <= low if low_open else number < low))
        or (high is not None and number > high)
    ):
        bound = f"greater than {low}" if low_open else f"at least {low}"
        rng = f"{bound}" + (f" and at most {high}" if high is not None else "")
        raise ConfigError(f"{field_name}: {value} is out of range; it must be {rng}")
    return number


def make_config(**given) -> RunConfig:
    """Build a validated RunConfig: preset values first, then everything given explicitly.

    Raises ConfigError with one line naming the bad value and the valid choices."""
    unknown = sorted(set(given) - FIELDS)
    if unknown:
        raise ConfigError(f"unknown setting '{unknown[0]}'; settings are: {', '.join(sorted(FIELDS))}")
    given = {k: v for k, v in given.items() if v is not None}
    preset = given.get("preset")
    values = {}
    if preset:
        _choice("preset", preset, list(PRESETS))
        values.update(PRESETS[preset])
        # A preset's strategy parameters are a base that explicit --param values refine.
        given["params"] = {**PRESETS[preset].get("params", {}), **given.get("params", {})}
    values.update(given)

    benchmark = values.get("benchmark", "split-mnist")
    _choice("benchmark", benchmark, list(BENCHMARKS))
    strategy = values.get("strategy", "finetune")
    _choice("strategy", strategy, list(REGISTRY))
    cls = REGISTRY[strategy]
    if not cls.defined_on(BENCHMARKS[benchmark]):
        raise ConfigError(
            f"benchmark: {strategy} needs tasks that bring new classes; every task of {benchmark} "
            f"has all the classes; choose a split benchmark"
        )
    values["params"] = cls.resolve_params(dict(values.get("params") or {}))

    v = values
    v["buffer_size"] = _number("buffer", v.get("buffer_size", 0), int, 0, 1_000_000)
    if cls.uses_buffer and v["buffer_size"] == 0:
        raise ConfigError(f"buffer: {strategy} replays from a buffer; give a buffer size of at least 1 (e.g. 200)")
    _choice("buffer-policy", v.get("buffer_policy", "reservoir"), BUFFER_POLICIES)
    if cls.buffer_policy is not None:  # the method's own sampler is part of its definition
        v["buffer_policy"] = cls.buffer_policy
    v["epochs"] = _number("epochs", v.get("epochs", 1), int, 1, 1000)
    v["batch_size"] = _number("batch-size", v.get("batch_size", 10), int, 1, 65536)
    if v.get("replay_batch_size") is not None:
        v["replay_batch_size"] = _number("replay-batch-size", v["replay_batch_size"], int, 1, 65536)
    else:
        v["replay_batch_size"] = v["batch_size"]
    v["lr"] = _number("lr", v.get("lr", 0.03), float, 0.0, 100.0, low_open=True)
    _choice("optimizer", v.get("optimizer", "sgd"), OPTIMIZERS)
    v["momentum"] = _number("momentum", v.get("momentum", 0.0), float, 0.0, 0.999)
    v["weight_decay"] = _number("weight-decay", v.get("weight_decay", 0.0), float, 0.0, 1.0)
    _choice("model", v.get("model", "mlp"), MODEL_NAMES)
    hidden = v.get("hidden", (100, 100))
    if isinstance(hidden, str):
        try:
            hidden = tuple(int(h) for h in hidden.split(",") if h.strip())
        except ValueError:
            raise ConfigError(
                f"hidden: '{hidden}' is not a comma-separated list of layer sizes (e.g. 100,100)"
            ) from None
    hidden = tuple(hidden)
    if not hidden or any(h < 1 or h > 100_000 for h in hidden):
        raise ConfigError(f"hidden: {list(hidden)} is invalid; give 1 or more layer sizes between 1 and 100000")
    v["hidden"] = hidden
    if v.get("n_tasks") is not None:
        v["n_tasks"] = _number("tasks", v["n_tasks"], int, 1, 100)
    if v.get("scenario") is not None:
        _choice("scenario", v["scenario"], SCENARIOS)
    if v.get("train_subset") is not None:
        v["train_subset"] = _number("train-subset", v["train_subset"], int, 1, 10_000_000)
    v["seed"] = _number("seed", v.get("seed", 0), int, 0, 2**31 - 1)
    _choice("device", v.get("device", "auto"), DEVICES)
    if v.get("eval_every") is not None:
        v["eval_every"] = _number("eval-every", v["eval_every"], int, 0, 10_000_000)
    if v.get("eval_subset") is not None:
        v["eval_subset"] = _number("eval-subset", v["eval_subset"], int, 1, 10_000_000)
    v["log_every"] = _number("log-every", v.get("log_every", 10), int, 1, 10_000_000)
    if v.get("cpu_threads") is not None:
        v["cpu_threads"] = _number("cpu-threads", v["cpu_threads"], int, 1, 1024)
    return RunConfig(**v)


def config_from_dict(d: dict) -> RunConfig:
    """Rebuild a config saved by `RunConfig.to_dict` (run store, JSON results, URLs)."""
    return make_config(**{k: v for k, v in d.items() if k in FIELDS})
