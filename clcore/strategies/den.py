"""Dynamically Expandable Networks (Yoon et al., ICLR 2018, "Lifelong Learning with Dynamically Expandable
Networks"), after the authors' TensorFlow code (jaehong31/DEN, DEN.py `add_task`):

- task 1 trains the whole MLP with L1 sparsity (a proximal soft-threshold after every step, as DEN.py does);
- every later task first trains only its new head, L1-sparse (the first tenth of its first epoch: DEN.py's
  `early_training`, a tenth of the task's iterations); the units reachable from the head's nonzero weights,
  found breadth-first down the nonzero weights, form the subnetwork that the rest of the task retrains
  (selective retraining), with an L2 pull lambda/2 ||W - W^{t-1}||^2 towards the weights the task started with;
- dynamic expansion: if the task's training loss after selective retraining stays above tau (here its mean
  over the task's training data; DEN.py: the last mini-batch's), every hidden layer gets k new units, trained
  (with the head) while the old weights stay put; a group-sparse (group lasso) proximal step per new unit
  zeroes the useless ones, which are then removed;
- split/duplication (in DEN.py only after an expansion): an old unit whose incoming weights moved more than
  sigma (L2) from their values at the task's start is duplicated, at most k a layer, the farthest first
  (DEN.py keeps the k nearest above sigma, which reads as a slip): the copy keeps the new values and serves
  the new task, the original gets its old values back and keeps them (here it stays frozen while the network
  retrains once more; DEN.py only pulls it back with the L2 term);
- timestamps: each task records the layer sizes at its end and reads only the units that existed then, so
  units added later never reach the earlier tasks.

The model, and so the optimizer, grow during a task: every stage rebuilds the optimizer over what it trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from clcore.mechanics.task_aware import (
    MOST_CONFIDENT_TASK,
    TaskAwareNet,
    parameter_count,
    rebuild_optimizer,
    require_mlp,
    task_classes,
)
from clcore.models import MLP
from clcore.strategies.base import Param, Strategy, register

# The head-only start of selective retraining: this fraction of the task's first epoch (DEN.py: max_iter / 10).
HEAD_FRACTION = 0.1
LOSS_BATCH = 1000  # examples per forward pass when measuring a task's training loss


def xavier(rows: int, cols: int, fan_in: int, fan_out: int, generator: torch.Generator, device) -> torch.Tensor:
    """A (rows, cols) block of Xavier-uniform weights for a layer of fan_in -> fan_out, from `generator`."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(rows, cols).uniform_(-bound, bound, generator=generator).to(device)


class ExpandableMLP(TaskAwareNet):
    """The MLP's hidden layers as growable weight matrices (layer i: W_i of shape (units_i, units_{i-1})),
    one head per task, and the timestamps: `stamps[t]` are the hidden layer sizes when task t ended. Task t
    reads the first stamps[t][i] units of each layer (all of them while it trains), so units born later
    never reach it."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator):
        super().__init__(classes_per_task, n_classes)
        self.input_size = backbone.first_layer.in_features
        self.device = backbone.classifier.weight.device
        self.weights = nn.ParameterList(layer.weight for layer in backbone.hidden)
        self.biases = nn.ParameterList(layer.bias for layer in backbone.hidden)
        self.head_weights, self.head_biases = nn.ParameterList(), nn.ParameterList()
        self.stamps: list[list[int]] = []
        self.add_head(0, generator)

    def sizes(self, task: int | None = None) -> list[int]:
        """The hidden layer sizes task `task` reads (the current ones for the training task or None)."""
        if task is not None and task < len(self.stamps):
            return list(self.stamps[task])
        return [w.shape[0] for w in self.weights]

    def in_size(self, layer: int, sizes: list[int]) -> int:
        return self.input_size if layer == 0 else sizes[layer - 1]

    def add_head(self, task: int, generator: torch.Generator) -> None:
        width = self.sizes()[-1] if len(self.weights) else self.input_size
        n_out = len(self.classes_per_task[task])
        self.head_weights.append(nn.Parameter(xavier(n_out, width, width, n_out, generator, self.device)))
        self.head_biases.append(nn.Parameter(torch.zeros(n_out, device=self.device)))

    def head_output(self, x, task):
        if task >= len(self.head_weights):  # no head yet: the task is unknown to the network (chance level)
            return x.new_zeros(x.shape[0], len(self.classes_per_task[task]))
        sizes = self.sizes(task)
        h = x.flatten(1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = F.relu(F.linear(h, w[: sizes[i], : self.in_size(i, sizes)], b[: sizes[i]]))
        return F.linear(h, self.head_weights[task], self.head_biases[task])

    def next_weight(self, layer: int, task: int) -> nn.Parameter:
        """The weights that read layer `layer`'s units: the next layer's, or the training task's head."""
        return self.weights[layer + 1] if layer + 1 < len(self.weights) else self.head_weights[task]

    def _set_next(self, layer: int, task: int, value: torch.Tensor) -> None:
        if layer + 1 < len(self.weights):
            self.weights[layer + 1] = nn.Parameter(value)
        else:
            self.head_weights[task] = nn.Parameter(value)

    @torch.no_grad()
    def append_units(self, layer: int, task: int, incoming, bias, outgoing) -> None:
        """Add units at the end of `layer`: their incoming weights (k, inputs), biases (k) and outgoing
        weights into the next layer or task's head (its units, k)."""
        self.weights[layer] = nn.Parameter(torch.cat([self.weights[layer], incoming]))
        self.biases[layer] = nn.Parameter(torch.cat([self.biases[layer], bias]))
        self._set_next(layer, task, torch.cat([self.next_weight(layer, task), outgoing], 1))

    @torch.no_grad()
    def keep_units(self, layer: int, task: int, keep: torch.Tensor) -> None:
        """Remove the units of `layer` where `keep` is False (with their outgoing weights)."""
        self.weights[layer] = nn.Parameter(self.weights[layer][keep])
        self.biases[layer] = nn.Parameter(self.biases[layer][keep])
        self._set_next(layer, task, self.next_weight(layer, task)[:, keep])


@dataclass(frozen=True)
class DENReport:
    """What one task did to the network (the DEN view stacks these over tasks), per hidden layer:
    - units: its size at the task's end (the task's timestamp);
    - added: units that dynamic expansion added and group sparsity kept; pruned: those it removed;
    - duplicated: units split off drifting old ones;
    - selected: units in the subnetwork selective retraining trained (task 1: all);
    and the task's training loss after selective retraining (None for task 1), tau, whether it expanded,
    the parameter count now and that of the fixed-size MLP the other strategies train."""

    layers: list[str]
    units: list[int]
    added: list[int]
    pruned: list[int]
    duplicated: list[int]
    selected: list[int]
    loss: float | None
    threshold: float
    expanded: bool
    param_count: int
    baseline_params: int


@dataclass
class Stage:
    """One training stage: the parameters it trains, for each the entries it may change (None: all), and
    the values the other entries are held at (the optimizer's weight decay and momentum would move them)."""

    params: list[nn.Parameter]
    masks: list[torch.Tensor | None]
    held: list[torch.Tensor | None]
    groups: list[tuple[int, int]]  # (layer, first new unit): rows under the group-sparse step


@register
class DEN(Strategy):
    name = "den"
    needs_boundaries = "per_task_parts"
    family = "architecture"
    title = "Dynamically Expandable Networks (DEN)"
    summary = (
        "Retrains only the units a new task reaches (L1-sparse), adds units when its loss stays above a "
        "threshold (group sparsity prunes the useless ones), duplicates units that drifted too far, and "
        "timestamps units so earlier tasks never see later ones."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK
    report_type = DENReport
    params = (
        Param("l1", 1e-4, 0.0, 0.1, "L1 sparsity: soft-threshold subtracted from the trained weights after each step"),
        Param(
            "drift_penalty",
            0.5,
            0.0,
            1e4,
            "lambda of the L2 pull (lambda/2 ||W - W_prev||^2) of old weights towards their values at the task's start",
        ),
        Param(
            "loss_threshold",
            0.1,
            0.0,
            100.0,
            "tau: expand the network when the task's training loss after selective retraining is above it",
        ),
        Param(
            "expand_units",
            10,
            0,
            10_000,
            "k: units an expansion adds to every hidden layer, and the most units split per layer",
        ),
        Param("group_l1", 0.005, 0.0, 10.0, "group sparsity: shrink of each new unit's incoming-weight norm per step"),
        Param(
            "split_threshold",
            0.1,
            0.0,
            1e4,
            "sigma: an old unit whose incoming weights moved more than this (L2) is duplicated",
        ),
        Param("stage_epochs", 1, 1, 100, "epochs over the task's data for the expansion and the post-split retraining"),
    )

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        self.baseline_params = parameter_count(require_mlp(model, self.name))
        self.model = ExpandableMLP(model, task_classes(self.benchmark), self.benchmark.n_classes, self.generator)
        self.optimizer = optimizer
        self.stage: Stage | None = None
        self.batch_size = 1  # the task's training batch size, for the end-of-task stages
        self.head_steps: int | None = None  # steps left of the head-only start of selective retraining
        self.start_sizes: list[int] = []
        self.previous: list[tuple[torch.Tensor, torch.Tensor]] = []  # each layer's (W, b) at the task's start
        self.selected: list[int] = []
        self.layer_names = [f"layer {i + 1}" for i in range(len(self.model.weights))]

    # stages ------------------------------------------------------------------------------------------
    def _train(self, params, masks=None, groups=()) -> None:
        """Train `params` from now on, each only where its mask is True (None: everywhere)."""
        masks = list(masks) if masks is not None else [None] * len(params)
        training = {id(p) for p in params}
        for p in self.model.parameters():
            p.requires_grad_(id(p) in training)
        held = [None if m is None else p.detach().clone() for p, m in zip(params, masks)]
        self.stage = Stage(list(params), masks, held, list(groups))
        self.optimizer = rebuild_optimizer(self.optimizer, params)

    @torch.no_grad()
    def _after_step(self) -> None:
        """The proximal steps of DEN.py (L1 on every trained weight, group lasso on new units' incoming
        weights), then the entries this stage does not train back to their values."""
        stage, l1 = self.stage, self.hp.l1
        for p, mask, held in zip(stage.params, stage.masks, stage.held):
            if l1 and p.dim() == 2:
                shrunk = p.sign() * (p.abs() - l1).clamp(min=0.0)
                p.copy_(shrunk if mask is None else torch.where(mask, shrunk, p))
            if mask is not None:
                p.copy_(torch.where(mask, p, held))
        for layer, first in stage.groups:
            rows = self.model.weights[layer][first:]
            norms = rows.norm(dim=1, keepdim=True)
            rows.mul_((1.0 - self.hp.group_l1 / norms.clamp(min=1e-12)).clamp(min=0.0))

    def _drift_penalty(self, task: int) -> torch.Tensor | float:
        """lambda/2 ||W - W^{t-1}||^2 over the weights the task started with (0 for task 1)."""
        if task == 0 or not self.hp.drift_penalty:
            return 0.0
        total = 0.0
        for i, (old_w, old_b) in enumerate(self.previous):
            w, b = self.model.weights[i], self.model.biases[i]
            if w.requires_grad:
                total = total + (w[: old_w.shape[0], : old_w.shape[1]] - old_w).pow(2).sum()
            if b.requires_grad:
                total = total + (b[: old_b.shape[0]] - old_b).pow(2).sum()
        return 0.5 * self.hp.drift_penalty * total

    def _step(self, x, y, task: int) -> torch.Tensor:
        loss = F.cross_entropy(self.model.forward_task(x, task), y)
        self.optimizer_step(loss + self._drift_penalty(task))
        self._after_step()
        return loss.detach()

    def _pass_over_task(self, task_index: int, stat: str) -> None:
        """`stage_epochs` epochs over the task's training data at its batch size (the end-of-task stages)."""
        task, bench = self.benchmark.tasks[task_index], self.benchmark
        n = len(task.train_idx)
        for _ in range(self.hp.stage_epochs):
            order = torch.randperm(n, generator=self.generator).to(bench.device)
            for start in range(0, n, self.batch_size):
                x, y = bench.train_batch(task, order[start : start + self.batch_size])
                if bench.augment is not None:
                    x = bench.augment(x, self.generator)
                self.stats.add(stat, self._step(x, y, task_index))

    @torch.no_grad()
    def task_loss(self, task_index: int) -> float:
        """The mean cross-entropy of the task's head over the task's training data."""
        task, bench = self.benchmark.tasks[task_index], self.benchmark
        n = len(task.train_idx)
        total = 0.0
        for start in range(0, n, LOSS_BATCH):
            x, y = bench.train_batch(task, torch.arange(start, min(n, start + LOSS_BATCH), device=bench.device))
            total += float(F.cross_entropy(self.model.forward_task(x, task_index), y, reduction="sum"))
        return total / max(n, 1)

    # the task's course ---------------------------------------------------------------------------------
    def begin_task(self, task_index):
        super().begin_task(task_index)
        model = self.model
        self.start_sizes = model.sizes()
        self.previous = [(w.detach().clone(), b.detach().clone()) for w, b in zip(model.weights, model.biases)]
        self.added = self.pruned = self.duplicated = [0] * len(self.start_sizes)
        self.loss, self.expanded = None, False
        if task_index == 0:
            self.selected = list(self.start_sizes)
            self._train(list(model.parameters()))
            return
        while len(model.head_weights) <= task_index:
            model.add_head(len(model.head_weights), self.generator)
        model.tasks_seen = task_index + 1
        self.head_steps = None  # set by the task's first batch, which gives the batch size
        self._train([model.head_weights[task_index], model.head_biases[task_index]])

    def observe(self, batch):
        self.batch_size = max(self.batch_size, len(batch.y))
        task = self.current_task
        if task > 0 and self.head_steps is None:
            steps_per_epoch = math.ceil(len(self.benchmark.tasks[task].train_idx) / len(batch.y))
            self.head_steps = math.ceil(HEAD_FRACTION * steps_per_epoch)
        if task > 0:
            if self.head_steps == 0:
                self._retrain_subnetwork(task)
            self.head_steps -= 1
        return self._step(batch.x, batch.y, task)

    def _retrain_subnetwork(self, task: int) -> None:
        """Selective retraining's second part: breadth-first from the new head's nonzero weights down the
        nonzero weights, the units the task reaches; train only the weights among them (and the head)."""
        model = self.model
        reached = (model.head_weights[task] != 0).any(0)  # units of the top hidden layer the head reads
        units = [reached]
        for i in range(len(model.weights) - 1, 0, -1):
            reached = (model.weights[i][reached] != 0).any(0)
            units.insert(0, reached)
        self.selected = [int(u.sum()) for u in units]
        params, masks = [], []
        for i, (w, b) in enumerate(zip(model.weights, model.biases)):
            inputs = units[i - 1] if i > 0 else torch.ones(w.shape[1], dtype=torch.bool, device=w.device)
            params += [w, b]
            masks += [units[i][:, None] & inputs[None, :], units[i].clone()]
        head_columns = units[-1] if units else torch.ones_like(model.head_weights[task], dtype=torch.bool)[0]
        head = model.head_weights[task]
        params += [head, model.head_biases[task]]
        masks += [head_columns[None, :].expand_as(head).clone(), None]
        self._train(params, masks)

    def end_task(self, task_index):
        if task_index > 0:
            if self.head_steps is None or self.head_steps >= 0:  # a task shorter than the head-only start
                self._retrain_subnetwork(task_index)
            self.loss = self.task_loss(task_index)
            self.expanded = self.loss > self.hp.loss_threshold and self.hp.expand_units > 0
            if self.expanded:
                self._expand(task_index)
                self._split(task_index)
        self.model.stamps.append(self.model.sizes())
        self.model.tasks_seen = task_index + 1

    def _expand(self, task: int) -> None:
        """Add k units to every hidden layer, train them (old weights fixed) with group sparsity, then
        remove the new units left with no incoming weight."""
        model, k, g = self.model, int(self.hp.expand_units), self.generator
        old = self.start_sizes
        for i in range(len(model.weights)):
            sizes = model.sizes()
            n_in, n_out = model.in_size(i, sizes), sizes[i] + k
            following = model.next_weight(i, task)
            n_next = following.shape[0]
            fan_next = following.shape[1] + k
            model.append_units(
                i,
                task,
                xavier(k, n_in, n_in, n_out, g, model.device),
                torch.zeros(k, device=model.device),
                xavier(n_next, k, fan_next, n_next, g, model.device),
            )
        params, masks = [], []
        for i, (w, b) in enumerate(zip(model.weights, model.biases)):
            new_inputs = torch.arange(w.shape[1], device=w.device) >= (old[i - 1] if i > 0 else w.shape[1])
            new_units = torch.arange(w.shape[0], device=w.device) >= old[i]
            params += [w, b]
            masks += [new_units[:, None] | new_inputs[None, :], new_units]
        params += [model.head_weights[task], model.head_biases[task]]
        masks += [None, None]
        self._train(params, masks, groups=[(i, old[i]) for i in range(len(old))])
        self._pass_over_task(task, "expansion_loss")
        added, pruned = [], []
        for i in range(len(model.weights)):
            alive = model.weights[i][old[i] :].ne(0).any(1)
            model.keep_units(i, task, torch.cat([torch.ones(old[i], dtype=torch.bool, device=alive.device), alive]))
            added.append(int(alive.sum()))
            pruned.append(k - added[-1])
        self.added, self.pruned = added, pruned

    @torch.no_grad()
    def _drifted(self, layer: int) -> torch.Tensor:
        """Old units of `layer` whose incoming weights moved more than sigma since the task began (at most k,
        the farthest first)."""
        old_w, _ = self.previous[layer]
        drift = (self.model.weights[layer][: old_w.shape[0], : old_w.shape[1]] - old_w).norm(dim=1)
        candidates = (drift > self.hp.split_threshold).nonzero().flatten()
        order = torch.argsort(drift[candidates], descending=True, stable=True)
        return candidates[order[: int(self.hp.expand_units)]]

    def _split(self, task: int) -> None:
        """Duplicate the drifted old units: the copy (appended) keeps the new incoming and outgoing weights,
        the original gets back its values from the task's start; retrain with the originals frozen."""
        model = self.model
        restored = []
        for i in range(len(model.weights)):
            units = self._drifted(i)
            restored.append(units)
            if not len(units):
                continue
            w, b, following = model.weights[i], model.biases[i], model.next_weight(i, task)
            model.append_units(i, task, w[units].detach().clone(), b[units].detach().clone(), following[:, units])
            old_w, old_b = self.previous[i]
            with torch.no_grad():
                model.weights[i][units, : old_w.shape[1]] = old_w[units]
                model.biases[i][units] = old_b[units]
                if i + 1 < len(model.weights):
                    above = self.previous[i + 1][0]
                    model.weights[i + 1][: above.shape[0], units] = above[:, units]
                else:  # the new task reads the copy; the original serves the earlier tasks
                    model.head_weights[task][:, units] = 0.0
        self.duplicated = [len(u) for u in restored]
        params, masks = [], []
        for i, (w, b) in enumerate(zip(model.weights, model.biases)):
            frozen = torch.zeros(w.shape[0], dtype=torch.bool, device=w.device)
            frozen[restored[i]] = True
            masks_w = ~frozen[:, None].expand_as(w)
            if i > 0 and len(restored[i - 1]):  # the originals' outgoing weights into old units
                masks_w = masks_w.clone()
                masks_w[: self.start_sizes[i], restored[i - 1]] = False
            params += [w, b]
            masks += [masks_w.clone(), ~frozen]
        head = model.head_weights[task]
        params += [head, model.head_biases[task]]
        masks += [None, None]
        self._train(params, masks)
        self._pass_over_task(task, "split_loss")

    def task_end_report(self):
        return DENReport(
            layers=list(self.layer_names),
            units=self.model.sizes(),
            added=list(self.added),
            pruned=list(self.pruned),
            duplicated=list(self.duplicated),
            selected=list(self.selected),
            loss=self.loss,
            threshold=float(self.hp.loss_threshold),
            expanded=self.expanded,
            param_count=parameter_count(self.model),
            baseline_params=self.baseline_params,
        )
