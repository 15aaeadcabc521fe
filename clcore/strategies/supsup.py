"""Supermasks in Superposition (Wortsman, Ramanujan, Liu, Kembhavi, Rastegari, Yosinski & Farhadi 2020,
NeurIPS; arXiv:2006.14769).

The network's weights are random and fixed: signed Kaiming constants +-sqrt(2 / fan_in), no biases, the
output layer included (Sec. 3). Each task learns a supermask with edge-popup (Ramanujan et al. 2020): a
real-valued score per weight (Kaiming-uniform initialised), the mask keeping the top k of each layer's
weights by |score|, trained through the straight-through estimator. The output layer has as many units
as a task has classes (task-local labels, as the paper's "GN" scenarios). With the task id given
(Task-IL) the task's supermask answers. Without it, the task is inferred by the "One-Shot" rule (Sec.
3.3, eq. 4): superpose the k masks learnt so far with alpha_i = 1/k, W * (sum_i alpha_i M^i), and take
argmin_i of the gradient of the output entropy with respect to alpha_i - this is the model's plain
forward, used for Class-IL and Domain-IL. Weights never change, so nothing is forgotten."""

import math

import torch
import torch.nn.functional as F

from clcore.strategies.base import Param, Strategy, register
from clcore.task_models import SupermaskMLP, parameter_count, rebuild_optimizer, require_mlp, task_classes


@register
class SupSup(Strategy):
    name = "supsup"
    family = "architecture"
    title = "Supermasks in Superposition (SupSup)"
    summary = (
        "Fixed random weights; each task learns a supermask (top-k edge-popup). Without the task id the "
        "task is inferred from the entropy gradient of all masks in superposition (one-shot)."
    )
    needs_task_id = True
    task_inference = (
        "the supermasks learnt so far are superposed with equal weights 1/k, and each input takes "
        "the task whose weight's entropy gradient is the most negative (SupSup's one-shot rule)"
    )
    params = (
        Param(
            "sparsity",
            0.5,
            0.01,
            1.0,
            "k: the fraction of each layer's weights a supermask keeps (SupSup's 'sparsity', edge-popup's top-k%)",
        ),
    )

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        self.baseline_params = parameter_count(require_mlp(model, self.name))
        self.model = SupermaskMLP(model, task_classes(self.benchmark), self.benchmark.n_classes, self.hp.sparsity)
        self.optimizer = optimizer

    def begin_task(self, task_index):
        super().begin_task(task_index)
        model = self.model
        while len(model.scores) <= task_index:  # edge-popup's scores: Kaiming uniform, bound 1 / sqrt(fan_in)
            model.add_scores(
                [
                    torch.empty(layer.weight.shape)
                    .uniform_(
                        -1 / math.sqrt(layer.in_features), 1 / math.sqrt(layer.in_features), generator=self.generator
                    )
                    .to(layer.weight.device)
                    for layer in model.layers
                ]
            )
        for t, scores in enumerate(model.scores):
            scores.requires_grad_(t == task_index)
        model.tasks_seen = task_index + 1
        self.optimizer = rebuild_optimizer(self.optimizer, model.scores[task_index])

    def observe(self, batch):
        loss = F.cross_entropy(self.model.forward_tasks(batch.x, batch.task), batch.y)
        self.optimizer_step(loss)
        return loss.detach()

    def task_end_report(self):
        return self.model.capacity(
            self.baseline_params, self.benchmark.data.image_shape, "first task whose supermask keeps them"
        )
