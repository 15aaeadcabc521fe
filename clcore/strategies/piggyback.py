"""Piggyback (Mallya, Davis & Lazebnik 2018, "Piggyback: Adapting a Single Network to Multiple Tasks by
Learning to Mask Weights", ECCV; arXiv:1801.06519).

The backbone (the MLP's hidden layers) is trained by plain fine-tuning on the first task and then frozen.
Every later task learns a real-valued mask m_r per backbone weight, binarised by a threshold tau,
m = 1[m_r > tau] (eq. 1, tau = 5e-3, m_r initialised at 1e-2 so training starts from the whole
backbone), and the task's layers compute y = (W * m) x + b. The binarisation passes gradients straight
through (dL/dm_r = dL/dm = dL/dy_j x_i W_ji, Sec. 3). As in the paper the masks train with Adam at their
own learning rate, whatever optimiser trains the backbone and heads; biases are never masked; each task
has its own output head. Earlier tasks' masks, heads and the backbone never change, so nothing is
forgotten; a task costs one bit per backbone weight once its mask is binarised."""

import torch
import torch.nn.functional as F

from clcore.mechanics.masks import MaskedCapacityReport, MaskedMLP, threshold_mask
from clcore.mechanics.task_aware import (
    MOST_CONFIDENT_TASK,
    TaskHeads,
    parameter_count,
    rebuild_optimizer,
    require_mlp,
    task_classes,
)
from clcore.models import MLP
from clcore.strategies.base import Param, Strategy, register


class PiggybackMLP(MaskedMLP):
    """Piggyback (Mallya, Davis & Lazebnik 2018): the MLP's hidden layers are the backbone (trained by the
    first task, then frozen); every later task masks their weights with m > threshold of its real-valued
    mask m; biases are never masked. One head per task."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator, threshold: float):
        super().__init__(list(backbone.hidden), classes_per_task, n_classes)
        self.threshold = threshold
        self.heads = TaskHeads(
            backbone.classifier.in_features, classes_per_task, generator, backbone.classifier.weight.device
        )

    def binarise(self, scores):
        return threshold_mask(scores, self.threshold)

    def head_output(self, x, task):
        return self.heads(self.features(x, self.masks(task), len(self.layers)), task)


@register
class Piggyback(Strategy):
    name = "piggyback"
    needs_boundaries = "per_task_parts"
    family = "architecture"
    title = "Piggyback (learned weight masks)"
    summary = (
        "Trains the network on the first task, freezes it, and learns for every later task a binary "
        "mask over its weights (real-valued mask, thresholded, straight-through gradients)."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK
    report_type = MaskedCapacityReport
    params = (
        Param("threshold", 5e-3, 0.0, 1.0, "tau: a weight is kept where its task's real-valued mask exceeds it"),
        Param(
            "mask_init",
            1e-2,
            0.0,
            1.0,
            "initial value of every real-valued mask (above tau: a new task starts from the whole backbone)",
        ),
        Param("mask_lr", 1e-4, 1e-6, 1.0, "Adam learning rate of the real-valued masks (the paper: 1e-4)"),
    )

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        self.baseline_params = parameter_count(require_mlp(model, self.name))
        self.model = PiggybackMLP(
            model, task_classes(self.benchmark), self.benchmark.n_classes, self.generator, self.hp.threshold
        )
        self.optimizer = optimizer
        self.mask_optimizer = None  # Adam over the current task's real-valued masks (none for the first task)

    def begin_task(self, task_index):
        super().begin_task(task_index)
        model = self.model
        model.tasks_seen = task_index + 1
        while len(model.scores) <= task_index:
            t = len(model.scores)
            model.add_scores(
                [] if t == 0 else [torch.full_like(layer.weight, self.hp.mask_init) for layer in model.layers]
            )
        model.layers.requires_grad_(task_index == 0)  # the backbone learns the first task only
        for t, (head, scores) in enumerate(zip(model.heads.heads, model.scores)):
            head.requires_grad_(t == task_index)
            scores.requires_grad_(t == task_index)
        backbone = list(model.layers.parameters()) if task_index == 0 else []
        self.optimizer = rebuild_optimizer(self.optimizer, [*backbone, *model.heads.heads[task_index].parameters()])
        self.mask_optimizer = torch.optim.Adam(model.scores[task_index], lr=self.hp.mask_lr) if task_index > 0 else None

    def observe(self, batch):
        loss = F.cross_entropy(self.model.forward_tasks(batch.x, batch.task), batch.y)
        if self.mask_optimizer is not None:
            self.mask_optimizer.zero_grad(set_to_none=True)
        self.optimizer_step(loss)
        if self.mask_optimizer is not None:
            self.mask_optimizer.step()
            scores = self.model.scores[self.current_task]
            kept = sum((s.detach() > self.hp.threshold).sum() for s in scores)
            self.stats.add("mask_density", kept / sum(s.numel() for s in scores))
        return loss.detach()

    def task_end_report(self):
        return self.model.capacity(
            self.baseline_params,
            self.benchmark.data.image_shape,
            "first later task whose mask keeps them; T1 trained them all",
        )
