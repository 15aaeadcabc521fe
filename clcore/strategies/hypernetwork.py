"""Continual learning with hypernetworks (von Oswald, Henning, Grewe & Sacramento 2020, ICLR;
arXiv:1906.00695).

A task-conditioned hypernetwork h(e, theta) generates every weight of the target network (an MLP shaped
like the backbone) from a learned task embedding e_t (one per task: the only parameters that grow with
tasks). Learning task T minimises (eq. 2)
    L_task(h(e_T, theta)) + beta / (T - 1) * sum_{t < T} || h(e_t, theta) - h(e_t, theta*) ||^2,
theta* being the hypernetwork's parameters before task T: the regulariser keeps the weights generated for
earlier tasks where they were, so only one point per task is rehearsed, never data. Earlier embeddings
stay fixed. The paper's optional look-ahead (evaluating the regulariser at theta + Delta theta) is not
used. The hypernetwork is chunked (Sec. 3, Fig. 1b) to stay small. Without the task id the most confident
task's generated network answers (the paper's HNET+ENT picks the lowest output entropy, a close rule)."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from clcore.mechanics.task_aware import (
    MOST_CONFIDENT_TASK,
    CapacityReport,
    TaskAwareNet,
    parameter_count,
    rebuild_optimizer,
    require_mlp,
    task_classes,
)
from clcore.models import MLP
from clcore.strategies.base import Param, Strategy, register


@dataclass(frozen=True, kw_only=True)
class HypernetworkReport(CapacityReport):
    """The capacity report, with how far the weights generated for each earlier task moved while the last
    task trained (relative change of h(e_t, theta)), and the target network's size."""

    weight_drift: list[float]
    target_params: int


def output_regulariser(generated: torch.Tensor, targets: torch.Tensor, beta: float) -> torch.Tensor:
    """beta / T_prev * sum_t ||h(e_t, theta) - h(e_t, theta*)||^2 over the earlier tasks' rows."""
    return beta / generated.shape[0] * (generated - targets).pow(2).sum()


def _uniform(shape, bound: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.empty(shape).uniform_(-bound, bound, generator=generator).to(device)


class ChunkedHypernetwork(nn.Module):
    """A chunked hypernetwork (von Oswald et al. 2020, Sec. 3 and Fig. 1b): the input [e, c_j] (task
    embedding e, learned chunk embedding c_j) goes through one hidden ReLU layer to chunk j of the target
    weights; the chunks, concatenated and cut to `n_target`, times a fixed per-weight scale (the target
    layer's Xavier standard deviation, so generated weights start at the target's usual scale), are the
    target network's weights. The chunk embeddings have the task embeddings' size."""

    def __init__(
        self, scale: torch.Tensor, embedding_dim: int, hidden: int, chunk_size: int, generator: torch.Generator
    ):
        super().__init__()
        device = scale.device
        n_chunks = math.ceil(scale.numel() / chunk_size)
        self.register_buffer("scale", scale)
        self.chunk_embeddings = nn.Parameter(torch.randn(n_chunks, embedding_dim, generator=generator).to(device))
        # Kaiming-uniform hidden layer, then unit-variance outputs: raw chunks start with variance ~1
        self.hidden = nn.Linear(2 * embedding_dim, hidden, device=device)
        self.out = nn.Linear(hidden, chunk_size, device=device)
        with torch.no_grad():
            self.hidden.weight.copy_(
                _uniform(self.hidden.weight.shape, math.sqrt(6 / (2 * embedding_dim)), generator, device)
            )
            self.out.weight.copy_(_uniform(self.out.weight.shape, math.sqrt(3 / hidden), generator, device))
            self.hidden.bias.zero_()
            self.out.bias.zero_()

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Target weights (flat) for each row of `embeddings`: (n, embedding_dim) -> (n, n_target)."""
        n, n_chunks = embeddings.shape[0], self.chunk_embeddings.shape[0]
        inputs = torch.cat(
            [embeddings[:, None].expand(-1, n_chunks, -1), self.chunk_embeddings[None].expand(n, -1, -1)], 2
        )
        chunks = self.out(F.relu(self.hidden(inputs)))
        return chunks.flatten(1)[:, : self.scale.numel()] * self.scale


class HypernetMLP(TaskAwareNet):
    """The target network is an MLP shaped like the backbone (its hidden widths; an output layer with as
    many units as the largest task has classes, task t's class k being unit k) whose weights and biases all
    come from the hypernetwork given task t's embedding e_t (one learned vector per task, added as tasks
    arrive, drawn N(0, 1))."""

    def __init__(
        self,
        backbone: MLP,
        classes_per_task,
        n_classes: int,
        generator: torch.Generator,
        embedding_dim: int,
        hidden: int,
        chunk_size: int,
    ):
        super().__init__(classes_per_task, n_classes)
        widths = [backbone.hidden[0].in_features if len(backbone.hidden) else backbone.classifier.in_features]
        widths += [layer.out_features for layer in backbone.hidden] + [max(len(c) for c in classes_per_task)]
        self.shapes = list(zip(widths[1:], widths[:-1]))  # (out, in) per target layer
        scale = torch.cat([torch.full((o * i + o,), math.sqrt(2.0 / (i + o))) for o, i in self.shapes])
        self.weights_device = backbone.classifier.weight.device
        self.hnet = ChunkedHypernetwork(scale.to(self.weights_device), embedding_dim, hidden, chunk_size, generator)
        self.embeddings = nn.ParameterList()
        self.embedding_dim = embedding_dim

    def add_embedding(self, generator: torch.Generator) -> nn.Parameter:
        self.embeddings.append(
            nn.Parameter(torch.randn(self.embedding_dim, generator=generator).to(self.weights_device))
        )
        return self.embeddings[-1]

    @property
    def target_params(self) -> int:
        return self.hnet.scale.numel()

    def generate(self, tasks) -> torch.Tensor:
        """The target weights of each of `tasks` (rows)."""
        return self.hnet(torch.stack([self.embeddings[t] for t in tasks]))

    def target_forward(self, x: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        h, start = x.flatten(1), 0
        for i, (o, n_in) in enumerate(self.shapes):
            weight = flat[start : start + o * n_in].view(o, n_in)
            bias = flat[start + o * n_in : start + o * n_in + o]
            start += o * n_in + o
            h = F.linear(h, weight, bias)
            if i < len(self.shapes) - 1:
                h = F.relu(h)
        return h

    def head_output(self, x, task):
        return self.task_outputs(x, [task])[0]

    def task_outputs(self, x, tasks):
        tasks = list(tasks)
        known = [t for t in tasks if t < len(self.embeddings)]
        weights = dict(zip(known, self.generate(known))) if known else {}  # one hypernetwork pass for all
        # a task with no embedding yet is unknown to the network (chance level)
        return [
            self.target_forward(x, weights[t])[:, : len(self.classes_per_task[t])]
            if t in weights
            else x.new_zeros(x.shape[0], len(self.classes_per_task[t]))
            for t in tasks
        ]


@register
class Hypernetwork(Strategy):
    name = "hypernetwork"
    needs_boundaries = "per_task_parts"
    family = "architecture"
    title = "Task-conditioned hypernetwork (HNET)"
    summary = (
        "A hypernetwork generates the whole network's weights from a learned per-task embedding; a "
        "regulariser keeps the weights it generates for earlier tasks unchanged."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK
    report_type = HypernetworkReport
    params = (
        Param("beta", 0.01, 0.0, 1000.0, "beta: weight of the output regulariser on earlier tasks' generated weights"),
        Param("embedding_dim", 32, 1, 512, "size of each task embedding (and of each chunk embedding)"),
        Param("hnet_hidden", 64, 1, 2048, "units in the hypernetwork's hidden layer"),
        Param("chunk_size", 1000, 10, 1_000_000, "target weights generated per hypernetwork pass (chunk)"),
    )

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        self.baseline_params = parameter_count(require_mlp(model, self.name))
        self.model = HypernetMLP(
            model,
            task_classes(self.benchmark),
            self.benchmark.n_classes,
            self.generator,
            self.hp.embedding_dim,
            self.hp.hnet_hidden,
            self.hp.chunk_size,
        )
        self.optimizer = optimizer
        self.targets = None  # h(e_t, theta*) for the earlier tasks t, rows in task order
        self.finished = []  # each finished task's generated weights when its training ended

    def begin_task(self, task_index):
        super().begin_task(task_index)
        model = self.model
        while len(model.embeddings) <= task_index:
            model.add_embedding(self.generator)
        for t, embedding in enumerate(model.embeddings):
            embedding.requires_grad_(t == task_index)
        model.tasks_seen = task_index + 1
        with torch.no_grad():
            self.targets = model.generate(range(task_index)) if task_index > 0 else None
        self.optimizer = rebuild_optimizer(self.optimizer, [*model.hnet.parameters(), model.embeddings[task_index]])

    def observe(self, batch):
        loss = F.cross_entropy(self.model.forward_tasks(batch.x, batch.task), batch.y)
        if self.targets is not None:
            regulariser = output_regulariser(self.model.generate(range(self.current_task)), self.targets, self.hp.beta)
            loss = loss + regulariser
            self.stats.add("regulariser", regulariser.detach())
        self.optimizer_step(loss)
        return loss.detach()

    def end_task(self, task_index):
        with torch.no_grad():
            self.finished.append(self.model.generate([task_index])[0])

    def task_end_report(self):
        model = self.model
        n = len(model.classes_per_task)
        hnet, embeddings = parameter_count(model.hnet), [e.numel() for e in model.embeddings]
        total = hnet + sum(embeddings)
        # every parameter is either shared (the hypernetwork) or one task's own (its embedding)
        shares = [e / total for e in embeddings] + [0.0] * (n - len(embeddings)) + [hnet / total]
        earlier = self.finished[:-1]  # the tasks before the one that just ended
        with torch.no_grad():
            now = model.generate(range(len(earlier))) if earlier else []
        return HypernetworkReport.measure(
            model,
            self.baseline_params,
            [f"T{t + 1}" for t in range(n)] + ["shared"],
            {"hypernetwork and embeddings": shares},
            unit="parameters",
            weight_drift=[float((w - before).norm() / before.norm()) for w, before in zip(now, earlier)],
            target_params=model.target_params,
        )
