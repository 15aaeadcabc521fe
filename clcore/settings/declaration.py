"""Every run setting declared once: name, type, range or choices, default, help, and what the front ends need.

RunConfig (clcore.settings.config) and its validation, the CLI's options (`--<name with dashes>`), the
Playground's widgets and URL keys (the name itself) and Compare's knobs and table columns are all generated
from SETTINGS. Old URL keys and CLI flags stay accepted as aliases, so links and scripts keep working.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from clcore.data.benchmarks import BENCHMARKS, SCENARIOS
from clcore.data.stream import BLURRY_MAX
from clcore.errors import ConfigError, out_of_range
from clcore.mechanics.buffer import BUFFER_POLICIES
from clcore.models import MODEL_NAMES
from clcore.settings.presets import PRESETS
from clcore.strategies import REGISTRY

OPTIMIZERS = ("sgd", "adam", "adamw")
DEVICES = ("auto", "cpu", "cuda", "mps")
LAYERS = "layers"  # the kind of `hidden`: comma-separated layer sizes, kept as a tuple of ints
MAX_LAYER = 100_000


# When a setting means something, from the other settings (a dict of RunConfig-like values).
def is_split(settings: dict) -> bool:
    info = BENCHMARKS.get(settings.get("benchmark"))
    return info is not None and info.kind == "split"


def uses_buffer(settings: dict) -> bool:
    cls = REGISTRY.get(settings.get("strategy"))
    return cls is not None and cls.uses_buffer


def replays(settings: dict) -> bool:
    """A replay batch applies: replay from a buffer, or of generated samples (no buffer)."""
    cls = REGISTRY.get(settings.get("strategy"))
    return cls is not None and (cls.uses_buffer or cls.replays_generated)


def no_class_groups(settings: dict) -> bool:
    """The number of tasks is set by hand unless class groups (split benchmarks) define it or the benchmark is one
    stream without tasks."""
    info = BENCHMARKS.get(settings.get("benchmark"))
    if info is not None and info.kind == "stream":
        return False
    return not (is_split(settings) and (settings.get("classes") or "").strip())


def blurs(settings: dict) -> bool:
    """Blurry boundaries mix the classes of split tasks in Class-IL (clcore.data.benchmarks.check_blurry)."""
    return is_split(settings) and settings.get("scenario") in (None, "class-il")


def scenario_chosen(settings: dict) -> bool:
    """Split benchmarks choose between Class-IL and Task-IL; the others have Domain-IL unless Task-IL is asked."""
    return is_split(settings) or settings.get("scenario") == "task-il"


@dataclass(frozen=True)
class Setting:
    name: str  # the RunConfig field, URL key and (with dashes) CLI flag
    kind: type | str  # int, float, str or LAYERS
    default: object  # None: derived from the other settings (see help)
    help: str  # English, for the CLI (the app's texts are catalog keys controls.label/help.<name>)
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is out of range
    choices: tuple[str, ...] | None = None
    url_aliases: tuple[str, ...] = ()  # old URL keys
    flag_aliases: tuple[str, ...] = ()  # old CLI flags
    applies: Callable[[dict], bool] | None = None  # None: always; else where the setting means something
    # The Playground: its section (None: not drawn), widget step and format, its start value where that is not
    # `default`, and what 0 in its widget stands for (the setting then is None: "all", "auto").
    section: str | None = None
    step: float | None = None
    format: str | None = None
    ui_default: object = None
    zero_means: str | None = None
    knob: bool = False  # offered by Compare's "change one knob"
    column: bool = False  # a column of Compare's runs table
    compared: bool = True  # Compare highlights it where runs differ (False: bookkeeping)
    recommended: bool = False  # declared by the recommended settings (clcore.settings.recommended)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def annotation(self) -> str:
        kind = "tuple" if self.kind == LAYERS else self.kind.__name__
        return f"{kind} | None" if self.default is None else kind

    @property
    def start_value(self):
        """The Playground widget's value when nothing else sets it (None: derived from the other widgets)."""
        return self.ui_default if self.ui_default is not None else self.default

    def means(self, settings: dict) -> bool:
        return self.applies is None or self.applies(settings)

    def parse(self, value):
        """A value (a string from the CLI or URL, or a Python value) converted and checked; None stays None
        where the setting may be derived. Raises ConfigError naming this setting."""
        if value is None and self.default is None:
            return None
        if self.choices is not None:
            if value not in self.choices:
                raise ConfigError(self.name, "unknown_choice", value=value, choices=self.choices)
            return value
        if self.kind in (int, float):
            return self._number(value)
        if self.kind == LAYERS:
            return _layers(self.name, value)
        return str(value)

    def _number(self, value):
        try:
            number = self.kind(value)
            if self.kind is int and float(value) != number:
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(self.name, "not_a_number", value=value, kind=self.kind.__name__) from None
        too_low = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        if not math.isfinite(number) or too_low or (self.high is not None and number > self.high):
            raise out_of_range(self.name, value, self.low, self.high, self.low_open)
        return number


def _layers(name: str, value) -> tuple[int, ...]:
    if isinstance(value, str):
        try:
            value = tuple(int(h) for h in value.split(",") if h.strip())
        except ValueError:
            raise ConfigError(name, "hidden_not_list", value=value) from None
    layers = tuple(value)
    if not layers or any(h < 1 or h > MAX_LAYER for h in layers):
        raise ConfigError(name, "hidden_invalid", value=list(layers))
    return layers


BIG = 10_000_000
SETTINGS = (
    # task sequence
    Setting(
        "benchmark",
        str,
        "split-mnist",
        "the task sequence",
        choices=tuple(BENCHMARKS),
        section="task_sequence",
        knob=True,
        column=True,
    ),
    Setting(
        "n_tasks",
        int,
        None,
        "number of tasks (default: the benchmark's)",
        1,
        100,
        url_aliases=("tasks",),
        flag_aliases=("--tasks",),
        applies=no_class_groups,
        section="task_sequence",
        step=1,
        knob=True,
        column=True,
        recommended=True,
    ),
    Setting(
        "classes",
        str,
        None,
        "split benchmarks: class groups per task, e.g. '0,1|2,3|4,5|6,7|8,9' (default: even split in order)",
        applies=is_split,
        section="task_sequence",
        ui_default="",
    ),
    Setting(
        "scenario",
        str,
        None,
        "class-il or task-il for split benchmarks (default class-il); domain-il (default) or task-il otherwise",
        choices=SCENARIOS,
        applies=scenario_chosen,
        section="task_sequence",
        knob=True,
        column=True,
        recommended=True,
    ),
    Setting(
        "blurry",
        float,
        0.0,
        "split benchmarks in Class-IL: share of each task's training data moved into its neighbouring tasks "
        f"(0 to {BLURRY_MAX}; 0: clean task boundaries)",
        0.0,
        BLURRY_MAX,
        applies=blurs,
        section="task_sequence",
        step=0.05,
        format="%g",
        knob=True,
    ),
    # strategy
    Setting(
        "strategy",
        str,
        "finetune",
        "the continual-learning method (see list)",
        choices=tuple(REGISTRY),
        section="strategy",
        knob=True,
        column=True,
    ),
    Setting(
        "buffer_size",
        int,
        0,
        "replay buffer size (examples)",
        0,
        1_000_000,
        url_aliases=("buffer",),
        flag_aliases=("--buffer",),
        applies=uses_buffer,
        section="strategy",
        step=50,
        ui_default=200,
        knob=True,
        column=True,
        recommended=True,
    ),
    Setting(
        "replay_batch_size",
        int,
        None,
        "examples replayed per step (default: the batch size)",
        1,
        65536,
        url_aliases=("rbatch",),
        applies=replays,
        section="strategy",
        step=1,
        knob=True,
        recommended=True,
    ),
    # training
    Setting(
        "train_subset",
        int,
        None,
        "training examples per task (default: all; small values make fast demos)",
        1,
        BIG,
        url_aliases=("subset",),
        section="training",
        step=500,
        ui_default=1000,
        zero_means="all",
        knob=True,
        column=True,
        recommended=True,
    ),
    Setting(
        "epochs",
        int,
        1,
        "epochs per task",
        1,
        1000,
        section="training",
        step=1,
        knob=True,
        column=True,
        recommended=True,
    ),
    Setting(
        "batch_size",
        int,
        10,
        "training batch size",
        1,
        65536,
        url_aliases=("batch",),
        section="training",
        step=1,
        knob=True,
        column=True,
        recommended=True,
    ),
    Setting(
        "lr",
        float,
        0.03,
        "learning rate",
        0.0,
        100.0,
        low_open=True,
        section="training",
        step=0.005,
        format="%g",
        knob=True,
        column=True,
        recommended=True,
    ),
    Setting(
        "optimizer",
        str,
        "sgd",
        "the optimizer",
        choices=OPTIMIZERS,
        url_aliases=("opt",),
        section="training",
        knob=True,
        recommended=True,
    ),
    Setting("seed", int, 0, "random seed", 0, 2**31 - 1, section="training", step=1, knob=True, column=True),
    # model and device
    Setting("model", str, "mlp", "the network", choices=tuple(MODEL_NAMES), section="model_device", knob=True),
    Setting(
        "hidden",
        LAYERS,
        (100, 100),
        "MLP hidden layer sizes, comma-separated",
        applies=lambda settings: settings.get("model", "mlp") == "mlp",
        section="model_device",
        knob=True,
    ),
    Setting(
        "device",
        str,
        "auto",
        "where to train (auto: CUDA, then MPS, then CPU)",
        choices=DEVICES,
        section="model_device",
        compared=False,
    ),
    # advanced
    Setting(
        "momentum",
        float,
        0.0,
        "SGD momentum",
        0.0,
        0.999,
        applies=lambda settings: settings.get("optimizer", "sgd") == "sgd",
        section="advanced",
        step=0.1,
        format="%g",
        knob=True,
        recommended=True,
    ),
    Setting(
        "weight_decay",
        float,
        0.0,
        "weight decay",
        0.0,
        1.0,
        url_aliases=("wd",),
        section="advanced",
        step=0.0001,
        format="%g",
        knob=True,
        recommended=True,
    ),
    Setting(
        "buffer_policy",
        str,
        "reservoir",
        "which examples the buffer keeps: reservoir or balanced (a method's own sampler overrides it)",
        choices=tuple(BUFFER_POLICIES),
        url_aliases=("policy",),
        applies=uses_buffer,
        section="advanced",
        knob=True,
    ),
    Setting(
        "eval_every",
        int,
        None,
        "steps between live evaluations (default: about 20 per task; 0: only at task ends)",
        0,
        BIG,
        section="advanced",
        step=1,
        zero_means="auto",
    ),
    Setting(
        "eval_subset",
        int,
        None,
        "test samples per task in live evaluations (default: automatic)",
        1,
        BIG,
        section="advanced",
        step=100,
        zero_means="auto",
    ),
    # the command line and stored runs only
    Setting("log_every", int, 10, "steps between loss reports", 1, BIG, compared=False),
    Setting("cpu_threads", int, None, "torch threads on CPU (default: 1 for mlp, all cores otherwise)", 1, 1024),
    Setting(
        "preset",
        str,
        None,
        "paper settings by name (see list); explicit options override them; no recommended settings are added",
        choices=tuple(PRESETS),
        compared=False,
    ),
)
BY_NAME = {s.name: s for s in SETTINGS}
