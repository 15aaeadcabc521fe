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

import torch
import torch.nn.functional as F

from clcore.strategies.base import Param, Strategy, register
from clcore.task_models import (
    MOST_CONFIDENT_TASK,
    HypernetMLP,
    capacity_report,
    parameter_count,
    rebuild_optimizer,
    require_mlp,
    task_classes,
)


def output_regulariser(generated: torch.Tensor, targets: torch.Tensor, beta: float) -> torch.Tensor:
    """beta / T_prev * sum_t ||h(e_t, theta) - h(e_t, theta*)||^2 over the earlier tasks' rows."""
    return beta / generated.shape[0] * (generated - targets).pow(2).sum()


@register
class Hypernetwork(Strategy):
    name = "hypernetwork"
    family = "architecture"
    title = "Task-conditioned hypernetwork (HNET)"
    summary = (
        "A hypernetwork generates the whole network's weights from a learned per-task embedding; a "
        "regulariser keeps the weights it generates for earlier tasks unchanged."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK
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
        report = capacity_report(
            model,
            self.baseline_params,
            [f"T{t + 1}" for t in range(n)] + ["shared"],
            {"hypernetwork and embeddings": shares},
            unit="parameters",
        )
        earlier = self.finished[:-1]  # the tasks before the one that just ended
        with torch.no_grad():
            now = model.generate(range(len(earlier))) if earlier else []
        report["weight_drift"] = [float((w - before).norm() / before.norm()) for w, before in zip(now, earlier)]
        report["target_params"] = model.target_params
        return report
