"""Task-aware models for the architectural strategies: one output head (or column, or mask) per task.

Every model here is a `TaskAwareNet`:
- `forward_task(x, t)`: task t's prediction when the task is known (Task-IL): its head's logits at the
  task's classes and -inf at every other class;
- `forward(x)`: task-agnostic inference by one documented rule, never the true task id: every task
  trained so far (`tasks_seen`) predicts with its own head / column / mask, and each sample takes the
  prediction of the task that is most confident on it (highest softmax probability of its top class).
  This is how the engine scores these models in Class-IL and Domain-IL.

The models reuse the engine's backbones (clcore.models) by composition. Weights created after the
run's seeded model initialisation (new heads, PNN columns, HAT embeddings) draw from the run's
generator, so runs stay deterministic without touching the global RNG.

`capacity_report` is the task-end report format the whole family shares (the Playground's capacity
views read it).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from .errors import ConfigError
from .models import MLP


# How TaskAwareNet.forward answers without the task id (the strategies' `task_inference`, shown by the app).
MOST_CONFIDENT_TASK = ("every task trained so far predicts with its own head, column or mask, and each input takes "
                       "the answer of the task most confident on it (highest softmax probability)")


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
        raise ConfigError(f"model: {strategy} works on the MLP (it masks or grows its fully connected layers); "
                          f"choose --model mlp")
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


class MultiHeadNet(TaskAwareNet):
    """A shared backbone (any of clcore.models) whose single classifier gives way to one head per task."""

    def __init__(self, backbone: nn.Module, classes_per_task, n_classes: int, generator: torch.Generator):
        super().__init__(classes_per_task, n_classes)
        in_features = backbone.classifier.in_features
        backbone.classifier = nn.Identity()
        self.backbone = backbone
        self.heads = TaskHeads(in_features, classes_per_task, generator, next(backbone.parameters()).device)

    def head_output(self, x, task):
        return self.heads(self.backbone(x), task)

    def task_outputs(self, x, tasks):
        features = self.backbone(x)  # shared: computed once for every head
        return [self.heads(features, t) for t in tasks]


class LateralAdapter(nn.Module):
    """PNN's non-linear lateral connection into layer i of column k (Rusu et al. 2016, eq. 2):
    U relu(V (alpha * h_{i-1}^{(<k)})), with one learned scalar alpha per earlier column (initialised
    to a small random value) and V projecting the earlier columns' activations to n_{i-1} dimensions."""

    def __init__(self, n_earlier: int, in_width: int, out_width: int, generator: torch.Generator, device):
        super().__init__()
        self.alpha = nn.Parameter((0.1 * torch.rand(n_earlier, generator=generator)).to(device))
        self.V = seeded_linear(n_earlier * in_width, in_width, generator, device)
        self.U = seeded_linear(in_width, out_width, generator, device)

    def forward(self, earlier: list[torch.Tensor]) -> torch.Tensor:
        scaled = torch.cat([a * h for a, h in zip(self.alpha, earlier)], 1)
        return self.U(F.relu(self.V(scaled)))


class Column(nn.Module):
    """One PNN column: the backbone's hidden layers plus a head for its task, and for columns after the
    first an adapter into every layer above the input."""

    def __init__(self, layers: list[nn.Linear], adapters: list[LateralAdapter]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.adapters = nn.ModuleList(adapters)


class ProgressiveNet(TaskAwareNet):
    """Progressive neural network (Rusu et al. 2016): column k is task k's network, and its layer i reads
    h_i^{(k)} = relu(W_i^{(k)} h_{i-1}^{(k)} + adapter(h_{i-1}^{(<k)})) from its own layer below and the
    frozen earlier columns' (eq. 2); the last layer is the task's head (no relu)."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator):
        super().__init__(classes_per_task, n_classes)
        self.widths = [backbone.hidden[0].in_features] + [layer.out_features for layer in backbone.hidden]
        first = list(backbone.hidden) + [seeded_linear(self.widths[-1], len(classes_per_task[0]), generator,
                                                       backbone.classifier.weight.device)]
        self.columns = nn.ModuleList([Column(first, [])])

    def add_column(self, task: int, generator: torch.Generator) -> Column:
        g, dev = generator, self.columns[0].layers[0].weight.device
        widths = self.widths + [len(self.classes_per_task[task])]
        k = len(self.columns)
        layers = [seeded_linear(a, b, g, dev) for a, b in zip(widths, widths[1:])]
        adapters = [LateralAdapter(k, widths[i], widths[i + 1], g, dev) for i in range(1, len(widths) - 1)]
        self.columns.append(Column(layers, adapters))
        return self.columns[-1]

    def column_outputs(self, x: torch.Tensor, n_columns: int) -> list[torch.Tensor]:
        """The first n_columns columns' outputs, each column computed once."""
        x = x.flatten(1)
        inputs_per_column, outputs = [], []  # inputs_per_column[j][i]: what layer i of column j reads
        for k, column in enumerate(self.columns[:n_columns]):
            h, inputs = x, []
            for i, layer in enumerate(column.layers):
                inputs.append(h)
                z = layer(h)
                if k > 0 and i > 0:
                    z = z + column.adapters[i - 1]([inputs_per_column[j][i] for j in range(k)])
                h = F.relu(z) if i < len(column.layers) - 1 else z
            inputs_per_column.append(inputs)
            outputs.append(h)
        return outputs

    def head_output(self, x, task):
        if task >= len(self.columns):  # no column yet: the task is unknown to the network (chance level)
            return x.new_zeros(x.shape[0], len(self.classes_per_task[task]))
        return self.column_outputs(x, task + 1)[task]

    def task_outputs(self, x, tasks):
        tasks = list(tasks)
        outputs = self.column_outputs(x, max(tasks) + 1)
        return [outputs[t] for t in tasks]


def unit_grid(values: torch.Tensor) -> list[list[float]]:
    """A vector of per-unit values as a 2-D grid (row-major), as square as the count allows without
    padding (100 units: 10 x 10; 32 units: 4 x 8), for drawing a layer's units as an image."""
    values = values.detach().float().cpu().tolist()
    n = len(values)
    cols = next(c for c in range(math.ceil(math.sqrt(n)), n + 1) if n % c == 0)
    return [values[r * cols:(r + 1) * cols] for r in range(n // cols)]


def owner_fractions(owner: torch.Tensor, n_tasks: int) -> list[float]:
    """Fractions of `owner` entries per task (1..n_tasks) and free (0), as [T1, ..., Tn, free]."""
    counts = torch.bincount(owner.flatten().long(), minlength=n_tasks + 1).float() / owner.numel()
    return counts[1:].tolist() + [float(counts[0])]


def capacity_report(model: nn.Module, baseline_params: int, owners: list[str], layers: dict[str, list[float]],
                    unit: str, first_layer_masks: list | None = None, masks_caption: str = "") -> dict:
    """The architectural family's task-end report (one format, read by the Playground's capacity views):
    - capacity: per layer, the fraction of its `unit`s (weights, units or parameters) that each of
      `owners` holds (tasks, and 'free' or 'shared'); each layer's fractions sum to 1;
    - param_count: the model's parameters now, and baseline_params: those of the plain fixed-size
      backbone that fine-tune, the regularisers and replay train;
    - first_layer_masks: one 2-D map per task (PackNet: the share of each pixel's first-layer weights
      the task owns; HAT: the first layer's unit attention), with a caption saying what they show."""
    report = {"capacity": {"owners": list(owners), "unit": unit, "layers": layers},
              "param_count": parameter_count(model), "baseline_params": baseline_params}
    if first_layer_masks is not None:
        report["first_layer_masks"] = first_layer_masks
        report["masks_caption"] = masks_caption
    return report


class PackedLinear(nn.Module):
    """A linear layer whose weights PackNet hands out to tasks. `owner` holds 0 for a free weight and
    t + 1 for one task t kept; `packed` holds the kept weights' final values, so a finished task reads
    exactly those whatever the optimizer does to the parameter; `trainable` marks the weights the
    current training stage may change."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear
        self.register_buffer("owner", torch.zeros_like(linear.weight, dtype=torch.int16))
        self.register_buffer("packed", torch.zeros_like(linear.weight))
        self.register_buffer("trainable", torch.ones_like(linear.weight, dtype=torch.bool))

    def usable(self, task: int, tasks_packed: int) -> torch.Tensor:
        """Task t's binary mask: the weights of tasks <= t, plus the free ones while t is unfinished."""
        owned = (self.owner > 0) & (self.owner <= task + 1)
        return owned | (self.owner == 0) if task >= tasks_packed else owned

    def forward(self, x, task: int, tasks_packed: int):
        weight = torch.where(self.trainable, self.linear.weight, self.packed)
        return F.linear(x, torch.where(self.usable(task, tasks_packed), weight, 0.0), self.linear.bias)


class PackNetMLP(TaskAwareNet):
    """The MLP's hidden layers as PackedLinear layers, and one head per task (Mallya & Lazebnik 2018)."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator):
        super().__init__(classes_per_task, n_classes)
        self.layers = nn.ModuleList(PackedLinear(layer) for layer in backbone.hidden)
        self.heads = TaskHeads(backbone.classifier.in_features, classes_per_task, generator,
                               backbone.classifier.weight.device)
        self.tasks_packed = 0  # finished tasks, whose masks are final

    def head_output(self, x, task):
        h = x.flatten(1)
        for layer in self.layers:
            h = F.relu(layer(h, task, self.tasks_packed))
        return self.heads(h, task)


class HatMLP(TaskAwareNet):
    """The MLP with hard attention to the task (Serra et al. 2018): after layer l's ReLU, task t's units
    are gated by a_l^t = sigmoid(s * e_l^t), one learned embedding e_l^t per task and layer (initialised
    N(0, 1) as in the authors' code); one head per task. Training anneals s (the strategy sets `s`);
    evaluation uses s = s_max, where the gates are practically binary."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator, s_max: float):
        super().__init__(classes_per_task, n_classes)
        device = backbone.classifier.weight.device
        self.layers = backbone.hidden
        self.embeddings = nn.ModuleList(
            nn.ParameterList(nn.Parameter(torch.randn(layer.out_features, generator=generator).to(device))
                             for layer in backbone.hidden)
            for _ in classes_per_task)
        self.heads = TaskHeads(backbone.classifier.in_features, classes_per_task, generator, device)
        self.s_max = s_max
        self.s = s_max

    def attention(self, task: int, s: float) -> list[torch.Tensor]:
        return [torch.sigmoid(s * e) for e in self.embeddings[task]]

    def head_output(self, x, task):
        h = x.flatten(1)
        for layer, gate in zip(self.layers, self.attention(task, self.s if self.training else self.s_max)):
            h = F.relu(layer(h)) * gate
        return self.heads(h, task)
