"""PackNet (Mallya & Lazebnik 2018, "Adding Multiple Tasks to a Single Network by Iterative Pruning"):
train a task on the free weights, prune a fixed fraction of them by magnitude (per layer), retrain the
kept ones briefly, then freeze them: the task's binary mask is its kept weights plus every earlier
task's (Sec. 3). Freed weights are zeroed and left to later tasks. Biases are not pruned: they belong to
the first task and stay fixed afterwards, as in the paper. Each task has its own output head."""

import torch
import torch.nn.functional as F
from torch import nn

from clcore.mechanics.task_aware import (
    MOST_CONFIDENT_TASK,
    CapacityReport,
    TaskAwareNet,
    TaskHeads,
    owner_fractions,
    parameter_count,
    rebuild_optimizer,
    require_mlp,
    task_classes,
)
from clcore.models import MLP
from clcore.strategies.base import Param, Strategy, register


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
        self.heads = TaskHeads(
            backbone.classifier.in_features, classes_per_task, generator, backbone.classifier.weight.device
        )
        self.tasks_packed = 0  # finished tasks, whose masks are final

    def head_output(self, x, task):
        h = x.flatten(1)
        for layer in self.layers:
            h = F.relu(layer(h, task, self.tasks_packed))
        return self.heads(h, task)


@register
class PackNet(Strategy):
    name = "packnet"
    needs_boundaries = "per_task_parts"
    family = "architecture"
    title = "PackNet (iterative pruning)"
    summary = (
        "After each task, prunes the smallest of its weights, retrains the rest and freezes them: one "
        "binary weight mask per task. Without the task id the most confident mask answers."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK
    report_type = CapacityReport
    params = (
        Param(
            "prune",
            0.75,
            0.0,
            0.99,
            "fraction of each layer's newly trained weights pruned (freed for later tasks) after each task",
        ),
        Param("retrain_epochs", 1, 0, 100, "epochs over the task's data that retrain the kept weights after pruning"),
    )

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        self.baseline_params = parameter_count(require_mlp(model, self.name))
        self.model = PackNetMLP(model, task_classes(self.benchmark), self.benchmark.n_classes, self.generator)
        self.optimizer = optimizer
        self.batch_size = 1  # the task's training batch size, for the retraining

    def begin_task(self, task_index):
        super().begin_task(task_index)
        self.model.tasks_seen = task_index + 1
        for layer in self.model.layers:
            layer.trainable.copy_(layer.owner == 0)
            layer.linear.bias.requires_grad_(task_index == 0)
        for t, head in enumerate(self.model.heads.heads):
            head.requires_grad_(t == task_index)
        self.optimizer = rebuild_optimizer(self.optimizer, self.model.parameters())

    def observe(self, batch):
        self.batch_size = max(self.batch_size, len(batch.y))
        return self._step(batch.x, batch.y, batch.task)

    def _step(self, x, y, task_ids):
        loss = F.cross_entropy(self.model.forward_tasks(x, task_ids), y)
        self.optimizer_step(loss)
        return loss.detach()

    def end_task(self, task_index):
        owner_id = task_index + 1
        with torch.no_grad():
            for layer in self.model.layers:
                trained = layer.owner == 0
                weights = layer.linear.weight
                magnitudes = weights[trained].abs()
                n_pruned = int(self.hp.prune * magnitudes.numel())
                # keep the largest (1 - prune) of the weights this task trained (ties: the earlier index)
                kept = torch.zeros_like(magnitudes, dtype=torch.bool)
                kept[torch.argsort(magnitudes, descending=True, stable=True)[: magnitudes.numel() - n_pruned]] = True
                owner = torch.zeros_like(magnitudes, dtype=layer.owner.dtype)
                owner[kept] = owner_id
                layer.owner[trained] = owner
                weights[trained & (layer.owner == 0)] = 0.0  # freed weights start the next task from zero
                layer.trainable.copy_(layer.owner == owner_id)
        self.optimizer = rebuild_optimizer(self.optimizer, self.model.parameters())
        self._retrain(task_index)
        with torch.no_grad():
            for layer in self.model.layers:
                mine = layer.owner == owner_id
                layer.packed[mine] = layer.linear.weight[mine]
                layer.trainable.zero_()
        self.model.tasks_packed = task_index + 1

    def _retrain(self, task_index):
        """Retrain the kept weights on the task's data (the paper's post-pruning fine-tuning)."""
        task, bench = self.benchmark.tasks[task_index], self.benchmark
        n = len(task.train_idx)
        for _ in range(self.hp.retrain_epochs):
            order = torch.randperm(n, generator=self.generator).to(bench.device)
            for start in range(0, n, self.batch_size):
                x, y = bench.train_batch(task, order[start : start + self.batch_size])
                if bench.augment is not None:
                    x = bench.augment(x, self.generator)
                loss = self._step(x, y, torch.full_like(y, task_index))
                self.stats.add("retrain_loss", loss)

    def task_end_report(self):
        n = len(self.model.classes_per_task)
        layers = {f"layer {i + 1}": owner_fractions(layer.owner, n) for i, layer in enumerate(self.model.layers)}
        first = self.model.layers[0].owner
        image_shape = self.benchmark.data.image_shape
        c, h, w = image_shape
        masks = []
        for t in range(self.model.tasks_packed):
            share = (first == t + 1).float().mean(0).view(c, h, w).mean(0)  # over hidden units (and channels)
            masks.append(share.cpu().tolist())
        return CapacityReport.measure(
            self.model,
            self.baseline_params,
            [f"T{t + 1}" for t in range(n)] + ["free"],
            layers,
            unit="weights",
            first_layer_masks=masks,
            masks_caption="Share of each input pixel's first-layer weights that each task "
            "kept (its pruned mask, pixel by pixel)",
        )
