"""Strategy base class, declared parameters and the registry.

A strategy is one small class: `observe(batch)` does one training step (mammoth's name for it) and
returns the loss; `begin_task` / `end_task` are optional hooks. What the app visualises is returned as
data by `task_end_report()` (an instance of the strategy's `report_type`, a frozen dataclass declared
in its module) and `drain_step_stats()`, never drawn here.

Hooks a strategy may override besides those:
- `training_phases(tasks)`: which tasks' data each phase trains on (one task each by default; joint:
  all at once; cumulative: everything seen so far).
- `evaluation_models()`: the models evaluated (the first is reported). A model with a
  `forward_task(x, task_index)` method is scored with it wherever the task is known (Task-IL), and with
  its plain forward (task-agnostic inference) otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from clcore.errors import ConfigError, out_of_range
from clcore.mechanics.reports import read_report

REGISTRY: dict[str, type[Strategy]] = {}
# The survey's method families (seeds/001), in listing order.
FAMILIES = ("baseline", "replay", "regularisation", "hybrid", "meta", "architecture")


def register(cls):
    """Class decorator: make a strategy selectable by its `name`."""
    if cls.name in REGISTRY:
        raise ValueError(f"strategy {cls.name} registered twice")
    if cls.family not in FAMILIES:
        raise ValueError(f"strategy {cls.name}: family {cls.family!r} is not one of {FAMILIES}")
    REGISTRY[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Param:
    """A strategy hyperparameter: what the CLI validates and the app renders as a control."""

    name: str
    default: float | int | bool
    low: float | None = None
    high: float | None = None
    help: str = ""

    @property
    def kind(self) -> type:
        return type(self.default)

    def parse(self, value, strategy: str):
        """Convert and range-check a value (a string from the CLI or URL, or a number); a ConfigError names
        the setting `params.<name>`."""
        where = f"params.{self.name}"
        try:
            if self.kind is bool:
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = value.lower() in ("true", "1", "yes")
                return bool(value)
            number = float(value)
            if self.kind is int:
                if number != int(number):
                    raise ValueError
                number = int(number)
        except (TypeError, ValueError):
            raise ConfigError(where, "not_a_number", value=value, kind=self.kind.__name__) from None
        if (
            not math.isfinite(number)
            or (self.low is not None and number < self.low)
            or (self.high is not None and number > self.high)
        ):
            raise out_of_range(where, value, self.low, self.high)
        return number

    def describe(self) -> dict:
        return {
            "name": self.name,
            "default": self.default,
            "low": self.low,
            "high": self.high,
            "type": self.kind.__name__,
            "help": self.help,
        }


class StatWindow:
    """Per-step scalars averaged over each logging window, for the live views (e.g. how often A-GEM
    projected). Values may be device tensors: they are summed there and synced once per window."""

    def __init__(self):
        self._sums: dict = {}
        self._counts: dict[str, int] = {}

    def add(self, name: str, value) -> None:
        value = value.detach() if isinstance(value, torch.Tensor) else value
        self._sums[name] = value if name not in self._sums else self._sums[name] + value
        self._counts[name] = self._counts.get(name, 0) + 1

    def drain(self) -> dict | None:
        """{name: mean over the window} (None when nothing was added), and start a new window."""
        if not self._sums:
            return None
        means = {name: float(total) / self._counts[name] for name, total in self._sums.items()}
        self._sums, self._counts = {}, {}
        return means


@dataclass
class Batch:
    x: torch.Tensor  # inputs as trained on (augmented for CIFAR)
    y: torch.Tensor
    task: torch.Tensor  # per-sample task ids
    raw: torch.Tensor  # inputs before augmentation: what a buffer stores


class Strategy:
    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]  # one line for listings and tooltips
    family: ClassVar[str]  # one of FAMILIES
    params: ClassVar[tuple[Param, ...]] = ()
    uses_buffer: ClassVar[bool] = False
    buffer_policy: ClassVar[str | None] = None  # set when the method defines its own sampler (GDumb)
    replays_generated: ClassVar[bool] = False  # replays generated samples: the replay batch size applies, no buffer
    stores_logits: ClassVar[bool] = False  # buffer keeps the logits seen at insertion (DER)
    trains_offline: ClassVar[bool] = False  # sees all tasks at once (the joint upper bound)
    needs_task_id: ClassVar[bool] = False  # its inference needs the task id (heads, masks): the app says so
    task_inference: ClassVar[str] = ""  # with needs_task_id: how it answers when the task id is not given
    needs_new_classes: ClassVar[str] = ""  # set (to why) when the method is undefined unless tasks bring new classes
    needs_boundaries: ClassVar[str] = ""  # set (to a reason id) when its begin/end_task do its work: weak on streams
    # Scenarios where the method runs but cannot show its effect: {scenario: reason id}; the app warns before a
    # run and the Learn card explains (the reason's text: `expect.weak.<id>` in the app's catalogs). Task-aware
    # strategies (needs_task_id) need not declare Class-IL / Domain-IL: the app knows they guess the task there.
    weak_scenarios: ClassVar[dict[str, str]] = {}
    report_type: ClassVar[type | None] = None  # the frozen dataclass task_end_report() returns (None: no report)
    clip_grad_value: ClassVar[float | None] = None  # set: every gradient value is clamped to +-this before a step

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        benchmark,
        buffer,
        generator: torch.Generator,
        replay_batch_size: int,
        hp: dict,
    ):
        self.model, self.optimizer, self.benchmark, self.buffer = model, optimizer, benchmark, buffer
        self.generator = generator  # CPU generator: every random decision of a run comes from its seed
        self.replay_batch_size = replay_batch_size
        self.hp = SimpleNamespace(**hp)
        self.current_task = 0
        self.global_step = 0  # optimizer steps over the whole run
        self.stats = StatWindow()  # what drain_step_stats() reports by default
        # Without batch norm a sample's output does not depend on the rest of its batch: batches can then share
        # one forward pass (see forward_with_replay).
        self.rows_independent = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())

    @classmethod
    def resolve_params(cls, given: dict) -> dict:
        """Defaults overlaid with `given` (validated); unknown keys are an error naming the valid ones."""
        known = {p.name: p for p in cls.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            valid = list(known) or ["none"]
            raise ConfigError("params", "param_unknown", value=unknown[0], strategy=cls.name, choices=valid)
        return {name: (p.parse(given[name], cls.name) if name in given else p.default) for name, p in known.items()}

    @classmethod
    def defined_on(cls, benchmark) -> bool:
        """Whether the method is defined on a benchmark (a BenchmarkInfo): one that needs new classes per task
        is not on those whose every task has all the classes (permuted, rotated)."""
        return not cls.needs_new_classes or benchmark.kind == "split"

    @classmethod
    def describe(cls) -> dict:
        return {
            "name": cls.name,
            "title": cls.title,
            "summary": cls.summary,
            "family": cls.family,
            "uses_buffer": cls.uses_buffer,
            "needs_task_id": cls.needs_task_id,
            "task_inference": cls.task_inference,
            "needs_new_classes": cls.needs_new_classes,
            "needs_boundaries": cls.needs_boundaries,
            "params": [p.describe() for p in cls.params],
        }

    # hooks -------------------------------------------------------------------------------------
    @classmethod
    def training_phases(cls, tasks: list) -> list[list]:
        """The tasks whose training data each phase streams (mixed); each phase ends with an evaluation
        (one row of the accuracy matrix). Offline strategies have a single phase over every task."""
        return [list(tasks)] if cls.trains_offline else [[task] for task in tasks]

    def begin_task(self, task_index: int) -> None:
        self.current_task = task_index

    def observe(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def end_task(self, task_index: int) -> None:
        pass

    # what evaluation and the views read -------------------------------------------------------
    def evaluation_models(self) -> dict[str, nn.Module]:
        """Models to evaluate; the first is the one whose accuracy the run reports."""
        return {"student": self.model}

    def task_end_report(self):
        """What the strategy's view draws at a task end: an instance of `report_type` (None: nothing)."""
        return None

    @classmethod
    def read_report(cls, data: dict | None):
        """A task-end report back from its form in a run's JSON result (clcore.runs.results)."""
        return None if data is None or cls.report_type is None else read_report(cls.report_type, data)

    def drain_step_stats(self) -> dict | None:
        """Per-step statistics gathered since the last call (by default the means of `self.stats`)."""
        return self.stats.drain()

    # shared helpers -----------------------------------------------------------------------------
    def task_logits(self, logits: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """In the Task-IL scenario only a sample's own task's classes compete (others masked out)."""
        if self.benchmark.scenario != "task-il":
            return logits
        return logits.masked_fill(~self.benchmark.class_masks[task], float("-inf"))

    def classification_loss(self, logits, y, task) -> torch.Tensor:
        return F.cross_entropy(self.task_logits(logits, task), y)

    def replay_batch(self, size: int | None = None):
        """A random buffer batch, augmented like the current data (the buffer keeps raw inputs)."""
        sample = self.buffer.sample(size or self.replay_batch_size)
        if self.benchmark.augment is not None:
            sample.x = self.benchmark.augment(sample.x, self.generator)
        return sample

    def forward_with_replay(self, x: torch.Tensor, samples: list) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The model's outputs on the current inputs `x` and on each of the replayed buffer batches `samples`.

        Where rows are independent (no batch norm) they all go through one forward pass, and a buffer slot that
        several batches drew goes through it once (unless inputs are augmented: each draw is then another input).
        The outputs and gradients are those of separate passes, from fewer and larger matrix products."""
        if not samples or not self.rows_independent:
            return self.model(x), [self.model(sample.x) for sample in samples]
        sizes = [len(sample.y) for sample in samples]
        if len(samples) > 1 and self.benchmark.augment is None:
            slots, position = torch.unique(torch.cat([sample.index for sample in samples]), return_inverse=True)
            outputs = self.model(torch.cat([x, self.buffer.x.index_select(0, slots)]))
            return outputs[: len(x)], list(outputs[len(x) :].index_select(0, position).split(sizes))
        outputs = self.model(torch.cat([x, *(sample.x for sample in samples)]))
        return outputs[: len(x)], list(outputs[len(x) :].split(sizes))

    def optimizer_step(self, loss: torch.Tensor) -> None:
        if not _is_plain_sgd(self.optimizer):
            self.optimizer.zero_grad(set_to_none=True)
            self._backward(loss)
            self.optimizer.step()
        else:  # what torch.optim.SGD does, without its per-call bookkeeping (a fifth of a batch-10 MLP step)
            groups = self.optimizer.param_groups
            for group in groups:
                for param in group["params"]:
                    param.grad = None
            self._backward(loss)
            with torch.no_grad():
                for group in groups:
                    params = [param for param in group["params"] if param.grad is not None]
                    torch._foreach_add_(params, [param.grad for param in params], alpha=-group["lr"])
        self.global_step += 1

    def _backward(self, loss: torch.Tensor) -> None:
        loss.backward()
        if self.clip_grad_value is not None:
            params = [param for group in self.optimizer.param_groups for param in group["params"]]
            torch.nn.utils.clip_grad_value_(params, self.clip_grad_value)


def _is_plain_sgd(optimizer: torch.optim.Optimizer) -> bool:
    """SGD without momentum, weight decay or maximising: a step is param -= lr * grad, nothing kept between steps."""
    return type(optimizer) is torch.optim.SGD and not any(
        group["momentum"] or group["weight_decay"] or group["maximize"] for group in optimizer.param_groups
    )
