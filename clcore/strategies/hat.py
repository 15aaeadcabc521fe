"""Hard Attention to the Task (Serra, Suris, Miron & Karatzoglou 2018, ICML; arXiv:1801.01423).

Each hidden unit of layer l is gated for task t by a_l^t = sigmoid(s e_l^t) (eq. 1), a learned
per-task embedding e. Within every epoch s is annealed from 1/s_max to s_max (eq. 3); at test time
s = s_max, so the gates are practically binary. After a task, the cumulative attention
a^{<=t} = max(a^{<t}, a^t) records the units earlier tasks use, and while later tasks train:
- gradient compensation (eq. 2): the gradient of weight w_{l,ij} is scaled by
  1 - min(a_{l,i}^{<t}, a_{l-1,j}^{<t}) (the input layer counts as fully attended, so the first layer's
  factor is 1 - a_{1,i}^{<t}; a bias by 1 - a_{l,i}^{<t}), so units earlier tasks use stay put;
- the attention regulariser (eq. 6), weighted by c, keeps the new task's attention sparse on the
  units still free: R = sum_l sum_i a_{l,i}^t (1 - a_{l,i}^{<t}) / sum_l sum_i (1 - a_{l,i}^{<t});
- embedding gradient compensation (eq. 5): q' = s_max (cosh(s e) + 1) / (s (cosh(e) + 1)) q, undoing
  the annealing's effect on the embeddings' gradient magnitude.
As in the authors' code, cosh's argument is clamped to +-50, embeddings to +-6 and the gradient norm to
10,000. The protection is exact for plain SGD (the paper's optimiser): momentum or weight decay would
still move protected weights."""

import math

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
    unit_grid,
)
from clcore.models import MLP
from clcore.strategies.base import Param, Strategy, register

COSH_CLAMP = 50.0  # the authors' thres_cosh
EMBEDDING_CLAMP = 6.0  # the authors' thres_emb
GRADIENT_CLIP = 10_000.0  # the authors' clipgrad


def annealed_scale(batch_index: int, n_batches: int, s_max: float) -> float:
    """Eq. 3: s = 1/s_max + (s_max - 1/s_max) (b - 1) / (B - 1) for batch b = 1..B of an epoch."""
    progress = (batch_index - 1) / (n_batches - 1) if n_batches > 1 else 1.0
    return 1.0 / s_max + (s_max - 1.0 / s_max) * progress


def attention_regulariser(attention: list[torch.Tensor], previous: list[torch.Tensor] | None) -> torch.Tensor:
    """Eq. 6: the new task's attention on units that earlier tasks leave free, normalised by how many are
    free (with no earlier task every unit is free, so it is the mean attention)."""
    if previous is None:
        previous = [torch.zeros_like(a) for a in attention]
    used = sum((a * (1 - p)).sum() for a, p in zip(attention, previous))
    free = sum((1 - p).sum() for p in previous)
    return used / free


def compensation_factors(previous: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Eq. 2: per hidden layer, the factors (weight: 1 - min(a_out, a_in), bias: 1 - a_out) that scale
    the gradients of the weights and biases earlier tasks' attention uses."""
    factors, incoming = [], None
    for out in previous:
        in_attention = out[:, None] if incoming is None else torch.minimum(out[:, None], incoming[None, :])
        factors.append((1 - in_attention, 1 - out))
        incoming = out
    return factors


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
            nn.ParameterList(
                nn.Parameter(torch.randn(layer.out_features, generator=generator).to(device))
                for layer in backbone.hidden
            )
            for _ in classes_per_task
        )
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


@register
class HardAttention(Strategy):
    name = "hat"
    needs_boundaries = "per_task_parts"
    family = "architecture"
    title = "Hard Attention to the Task (HAT)"
    summary = (
        "Learns a near-binary attention mask over the units for each task and protects the units "
        "earlier tasks attend to. Without the task id the most confident mask answers."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK
    report_type = CapacityReport
    params = (
        Param("s_max", 400.0, 1.0, 10_000.0, "s_max: final scale of the gates sigmoid(s e) (larger: more binary)"),
        Param("c", 0.75, 0.0, 100.0, "c: weight of the attention-sparsity regulariser"),
    )

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        self.baseline_params = parameter_count(require_mlp(model, self.name))
        self.model = HatMLP(
            model, task_classes(self.benchmark), self.benchmark.n_classes, self.generator, self.hp.s_max
        )
        self.optimizer = optimizer
        self.previous = None  # cumulative attention a^{<t} per layer (s = s_max)
        self.first_claims = None  # per layer, 1 + the first task whose attention took each unit (0: free)

    def begin_task(self, task_index):
        super().begin_task(task_index)
        self.model.tasks_seen = task_index + 1
        self.batch_in_epoch = 0
        self.samples_in_epoch = 0
        self.n_batches = None  # batches per epoch, known from the first batch's size
        for t in range(len(self.model.classes_per_task)):
            self.model.embeddings[t].requires_grad_(t == task_index)
            self.model.heads.heads[t].requires_grad_(t == task_index)
        self.factors = None if self.previous is None else compensation_factors(self.previous)
        self.optimizer = rebuild_optimizer(self.optimizer, self.model.parameters())

    def _scale(self, batch_size: int) -> float:
        n_train = len(self.benchmark.tasks[self.current_task].train_idx)
        if self.n_batches is None:
            self.n_batches = math.ceil(n_train / batch_size)
        if self.samples_in_epoch >= n_train:  # a new epoch: the annealing starts again
            self.batch_in_epoch = self.samples_in_epoch = 0
        self.batch_in_epoch += 1
        self.samples_in_epoch += batch_size
        return annealed_scale(self.batch_in_epoch, self.n_batches, self.hp.s_max)

    def observe(self, batch):
        s = self._scale(len(batch.y))
        self.model.s = s
        task = self.current_task
        logits = self.model.forward_tasks(batch.x, batch.task)
        regulariser = attention_regulariser(self.model.attention(task, s), self.previous)
        loss = F.cross_entropy(logits, batch.y) + self.hp.c * regulariser
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            if self.factors is not None:
                for layer, (weight_factor, bias_factor) in zip(self.model.layers, self.factors):
                    layer.weight.grad.mul_(weight_factor)
                    layer.bias.grad.mul_(bias_factor)
            for e in self.model.embeddings[task]:
                e.grad.mul_(
                    self.hp.s_max * (torch.cosh((s * e).clamp(-COSH_CLAMP, COSH_CLAMP)) + 1) / (s * (torch.cosh(e) + 1))
                )
        torch.nn.utils.clip_grad_norm_(
            [p for group in self.optimizer.param_groups for p in group["params"]], GRADIENT_CLIP
        )
        self.optimizer.step()
        self.global_step += 1
        with torch.no_grad():
            for e in self.model.embeddings[task]:
                e.clamp_(-EMBEDDING_CLAMP, EMBEDDING_CLAMP)
        self.stats.add("s", s)
        self.stats.add("regulariser", regulariser.detach())
        return loss.detach()

    def end_task(self, task_index):
        with torch.no_grad():
            attention = [a.detach().clone() for a in self.model.attention(task_index, self.hp.s_max)]
        self.previous = (
            attention if self.previous is None else [torch.maximum(p, a) for p, a in zip(self.previous, attention)]
        )
        claims = [(a > 0.5).to(torch.int16) * (task_index + 1) for a in attention]
        self.first_claims = (
            claims
            if self.first_claims is None
            else [torch.where(old > 0, old, new) for old, new in zip(self.first_claims, claims)]
        )

    def task_end_report(self):
        n = len(self.model.classes_per_task)
        layers = {f"layer {i + 1}": owner_fractions(claim, n) for i, claim in enumerate(self.first_claims)}
        masks = [
            unit_grid(torch.sigmoid(self.hp.s_max * self.model.embeddings[t][0].detach()))
            for t in range(self.current_task + 1)
        ]
        return CapacityReport.measure(
            self.model,
            self.baseline_params,
            [f"T{t + 1}" for t in range(n)] + ["free"],
            layers,
            unit="units (first task to attend, a > 0.5)",
            first_layer_masks=masks,
            masks_caption="Each task's attention on the first hidden layer's units, "
            "sigmoid(s_max e), one cell per unit",
        )
