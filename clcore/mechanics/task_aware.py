"""What the task-aware strategies (multi-head, PNN, PackNet, HAT, Piggyback, SupSup, hypernetwork) share:
the task-aware model's interface, per-task heads, seeded layers, and the capacity report their views read.

Every task-aware model is a `TaskAwareNet`:
- `forward_task(x, t)`: task t's prediction when the task is known (Task-IL): its head's logits at the
  task's classes and -inf at every other class;
- `forward(x)`: task-agnostic inference by one documented rule, never the true task id: every task
  trained so far (`tasks_seen`) predicts with its own head / column / mask, and each sample takes the
  prediction of the task that is most confident on it (highest softmax probability of its top class).
  This is how the engine scores these models in Class-IL and Domain-IL.

The models reuse the engine's backbones (clcore.models) by composition; each strategy's own model lives in
its strategy module. Weights created after the run's seeded model initialisation (new heads, PNN columns,
HAT embeddings) draw from the run's generator, so runs stay deterministic without touching the global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import skip_init

from clcore.errors import ConfigError
from clcore.models import MLP

# How TaskAwareNet.forward answers without the task id (the strategies' `task_inference`, shown by the app).
MOST_CONFIDENT_TASK = (
    "every task trained so far predicts with its own head, column or mask, and each input takes "
    "the answer of the task most confident on it (highest softmax probability)"
)


def task_classes(benchmark) -> list[list[int]]:
    """The classes each task's head predicts: its own classes (every class in Domain-IL benchmarks)."""
    return [list(task.classes) for task in benchmark.tasks]


def seeded_linear(in_features: int, out_features: int, generator: torch.Generator, device) -> nn.Linear:
    """A linear layer with the backbones' Xavier-uniform weights and zero biases, drawn from `generator`."""
    layer = skip_init(nn.Linear, in_features, out_features, device=device)
    bound = math.sqrt(6.0 / (in_features + out_features))
    with torch.no_grad():
        layer.weight.copy_(torch.empty(out_features, in_features).uniform_(-bound, bound, generator=generator))
        layer.bias.zero_()
    return layer


def require_mlp(model: nn.Module, strategy: str) -> MLP:
    if not isinstance(model, MLP):
        raise ConfigError("model", "needs_mlp", strategy=strategy)
    return model


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def rebuild_optimizer(optimizer: torch.optim.Optimizer, params) -> torch.optim.Optimizer:
    """A fresh optimizer of the run's kind and settings (lr, momentum, weight decay) over `params`: the
    architectural strategies change which parameters train at each task (and start each with no stale
    momentum that could move frozen weights)."""
    return type(optimizer)([p for p in params if p.requires_grad], **optimizer.defaults)


class TaskAwareNet(nn.Module):
    """Base of the task-aware models: subclasses give `head_output(x, t)` (task t's logits over its own
    classes) and may compute several tasks at once in `task_outputs`."""

    def __init__(self, classes_per_task: list[list[int]], n_classes: int):
        super().__init__()
        self.classes_per_task = classes_per_task
        self.n_classes = n_classes
        self.tasks_seen = 1  # tasks trained or in training: the candidates of task inference

    def head_output(self, x: torch.Tensor, task: int) -> torch.Tensor:
        raise NotImplementedError

    def task_outputs(self, x: torch.Tensor, tasks) -> list[torch.Tensor]:
        return [self.head_output(x, t) for t in tasks]

    def _scatter(self, local: torch.Tensor, task: int) -> torch.Tensor:
        full = local.new_full((local.shape[0], self.n_classes), float("-inf"))
        full[:, self.classes_per_task[task]] = local
        return full

    def forward_task(self, x: torch.Tensor, task: int) -> torch.Tensor:
        return self._scatter(self.head_output(x, task), task)

    def forward_tasks(self, x: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """Training: each sample through its own task's head (batches may mix tasks)."""
        logits = x.new_full((x.shape[0], self.n_classes), float("-inf"))
        for t in task_ids.unique().tolist():
            rows = task_ids == t
            logits[rows] = self.forward_task(x[rows], t)
        return logits

    def infer_tasks(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The task-inference rule: per sample, the seen task whose head is most confident."""
        tasks = range(self.tasks_seen)
        outputs = self.task_outputs(x, tasks)
        confidence = torch.stack([out.softmax(1).amax(1) for out in outputs], 1)
        return confidence.argmax(1), outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chosen, outputs = self.infer_tasks(x)
        per_task = torch.stack([self._scatter(out, t) for t, out in enumerate(outputs)], 1)
        return per_task[torch.arange(x.shape[0], device=x.device), chosen]


class TaskHeads(nn.Module):
    """One linear output head per task over a shared representation; head t predicts task t's classes."""

    def __init__(self, in_features: int, classes_per_task, generator: torch.Generator, device):
        super().__init__()
        self.heads = nn.ModuleList(seeded_linear(in_features, len(c), generator, device) for c in classes_per_task)

    def forward(self, features: torch.Tensor, task: int) -> torch.Tensor:
        return self.heads[task](features)


def unit_grid(values: torch.Tensor) -> list[list[float]]:
    """A vector of per-unit values as a 2-D grid (row-major), as square as the count allows without
    padding (100 units: 10 x 10; 32 units: 4 x 8), for drawing a layer's units as an image."""
    values = values.detach().float().cpu().tolist()
    n = len(values)
    cols = next(c for c in range(math.ceil(math.sqrt(n)), n + 1) if n % c == 0)
    return [values[r * cols : (r + 1) * cols] for r in range(n // cols)]


def owner_fractions(owner: torch.Tensor, n_tasks: int) -> list[float]:
    """Fractions of `owner` entries per task (1..n_tasks) and free (0), as [T1, ..., Tn, free]."""
    counts = torch.bincount(owner.flatten().long(), minlength=n_tasks + 1).float() / owner.numel()
    return counts[1:].tolist() + [float(counts[0])]


@dataclass(frozen=True)
class Capacity:
    """Per layer, the fraction of its `unit`s (weights, units or parameters) that each of `owners` holds
    (tasks, and 'free' or 'shared'); each layer's fractions sum to 1."""

    owners: list[str]
    unit: str
    layers: dict[str, list[float]]


@dataclass(frozen=True)
class CapacityReport:
    """The task-aware family's task-end report (one format, read by the Playground's capacity views):
    - capacity: how each layer is carved up between tasks;
    - param_count: the model's parameters now, and baseline_params: those of the plain fixed-size
      backbone that fine-tune, the regularisers and replay train;
    - first_layer_masks: one 2-D map per task (PackNet: the share of each pixel's first-layer weights
      the task owns; HAT: the first layer's unit attention), with a caption saying what they show, and
      masks_titles naming each map's task where they are not T1, T2, ... in order."""

    capacity: Capacity
    param_count: int
    baseline_params: int
    first_layer_masks: list[list[list[float]]] | None = None
    masks_caption: str = ""
    masks_titles: list[str] | None = None

    @classmethod
    def measure(cls, model: nn.Module, baseline_params: int, owners: list[str], layers, unit: str, **more):
        """The report of `model` now (its parameter count measured); `more`: the other fields."""
        return cls(
            capacity=Capacity(list(owners), unit, layers),
            param_count=parameter_count(model),
            baseline_params=baseline_params,
            **more,
        )
