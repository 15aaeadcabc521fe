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
from torch import nn
from torch.nn.utils import skip_init

from clcore.mechanics.masks import MaskedCapacityReport, MaskedMLP, top_k_mask
from clcore.mechanics.task_aware import parameter_count, rebuild_optimizer, require_mlp, task_classes
from clcore.models import MLP
from clcore.strategies.base import Param, Strategy, register


def signed_kaiming_constant(weight: torch.Tensor) -> torch.Tensor:
    """SupSup's fixed weights (Wortsman et al. 2020, Sec. 3, after Ramanujan et al. 2020): +-sqrt(2 / fan_in),
    the sign taken from `weight` (the backbone's seeded initialisation)."""
    return weight.sign() * math.sqrt(2.0 / weight.shape[1])


class SupermaskMLP(MaskedMLP):
    """Supermasks in Superposition (Wortsman et al. 2020): fixed signed-constant weights and no biases in
    every layer, the output layer included; each task's supermask picks a subnetwork. The output layer has
    as many units as the largest task has classes: task t's class k is output unit k (local labels)."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, keep: float):
        width = max(len(c) for c in classes_per_task)
        layers = []
        for layer in [*backbone.hidden, backbone.classifier]:
            fixed = skip_init(
                nn.Linear,
                layer.in_features,
                width if layer is backbone.classifier else layer.out_features,
                bias=False,
                device=layer.weight.device,
            )
            with torch.no_grad():
                fixed.weight.copy_(signed_kaiming_constant(layer.weight[: fixed.out_features]))
            layers.append(fixed.requires_grad_(False))
        super().__init__(layers, classes_per_task, n_classes)
        self.keep = keep
        self.output_masked = True

    def binarise(self, scores):
        return top_k_mask(scores, self.keep)

    def head_output(self, x, task):
        masks = self.masks(task)
        if masks is None:  # no supermask yet: the task is unknown to the network (chance level)
            return x.new_zeros(x.shape[0], len(self.classes_per_task[task]))
        logits = F.linear(self.features(x, masks, len(self.layers) - 1), self.layers[-1].weight * masks[-1])
        return logits[:, : len(self.classes_per_task[task])]

    def superposed_output(self, x: torch.Tensor, alphas: torch.Tensor, masks: list[list[torch.Tensor]]):
        """The network under the superposed mask sum_i alpha_i M^i, with one row of mixing weights
        `alphas` (batch x masks) per sample (each sample's output depends on its own row only)."""
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            per_mask = torch.einsum("bj,kij->bki", h, torch.stack([layer.weight * m[i] for m in masks]))
            h = (alphas[:, :, None] * per_mask).sum(1)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return h

    def infer_tasks(self, x):
        """SupSup's one-shot task inference (Sec. 3.3, eq. 4): with alpha_i = 1/k on the k masks trained so
        far, the task is argmin_i dH/dalpha_i, H the entropy of the superposed network's output - the mask
        whose weight most lowers the entropy. Inferred per sample (the paper infers once per batch of one
        task; here an evaluation batch may mix tasks)."""
        tasks = range(self.tasks_seen)
        with torch.no_grad():
            outputs = self.task_outputs(x, tasks)
            if self.tasks_seen == 1:
                return torch.zeros(x.shape[0], dtype=torch.long, device=x.device), outputs
            masks = [[m.detach() for m in self.masks(t)] for t in tasks]
        with torch.enable_grad():
            alphas = torch.full((x.shape[0], len(masks)), 1.0 / len(masks), device=x.device, requires_grad=True)
            log_p = self.superposed_output(x.detach(), alphas, masks).log_softmax(1)
            entropy = -(log_p.exp() * log_p).sum()
            (gradient,) = torch.autograd.grad(entropy, alphas)
        return gradient.argmin(1), outputs


@register
class SupSup(Strategy):
    name = "supsup"
    needs_boundaries = "per_task_parts"
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
    report_type = MaskedCapacityReport
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
