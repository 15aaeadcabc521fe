"""Ensemble (the survey's baseline, seeds/001: "one for each and put together"): one independent model
per task, each a fresh copy of the same initial network trained on its task only, so nothing is ever
forgotten but nothing is shared either. The memory grows with every task.

Inference: with the task known (Task-IL), the task's own member answers. Without it (Class-IL /
Domain-IL), every member trained so far looks at the sample and the most confident one answers (the
member whose highest softmax probability is the highest): the members never saw each other's classes,
so this is where the ensemble can fail."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from clcore.strategies.base import Strategy, register

REPORT_TEST_SAMPLES = 500  # test samples per task for the task-end report (members' accuracies, answers)


class Ensemble(nn.Module):
    """The members trained so far (member t learnt task t) and a copy of the untrained network, which
    answers for tasks that have no member yet (what their member would start from)."""

    def __init__(self, untrained: nn.Module):
        super().__init__()
        self.untrained = untrained
        self.members = nn.ModuleList()

    def forward_task(self, x, task_index: int):
        return self.members[task_index](x) if task_index < len(self.members) else self.untrained(x)

    def answering_member(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, member index) per sample: the member whose top softmax probability is highest."""
        if not len(self.members):
            logits = self.untrained(x)
            return logits, torch.full((len(x),), -1, dtype=torch.int64, device=logits.device)
        logits = torch.stack([member(x) for member in self.members])  # members x batch x classes
        confidence = F.softmax(logits, dim=2).amax(dim=2)
        chosen = confidence.argmax(dim=0)
        return logits[chosen, torch.arange(len(x), device=logits.device)], chosen

    def forward(self, x):
        return self.answering_member(x)[0]


@dataclass(frozen=True)
class EnsembleReport:
    """members_acc[m][t]: member m's accuracy (%) on task t among that task's classes (Task-IL);
    answered[t][m]: the share (%) of task t's test samples that member m answered without the task id."""

    members_acc: list[list[float]]
    answered: list[list[float]]


@register
class EnsembleStrategy(Strategy):
    name = "ensemble"
    needs_boundaries = "per_task_parts"
    family = "baseline"
    report_type = EnsembleReport
    title = "Ensemble (one model per task)"
    summary = (
        "Trains a fresh copy of the initial network on each task; without the task id the most "
        "confident member answers."
    )
    # the members never saw each other's tasks: without the task id, the most confident one is a guess
    weak_scenarios = {"class-il": "task_id", "domain-il": "task_id"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ensemble = Ensemble(deepcopy(self.model).requires_grad_(False))

    def begin_task(self, task_index):
        super().begin_task(task_index)
        if len(self.ensemble.members):  # the first member is the run's own network, already optimised
            self.model = deepcopy(self.ensemble.untrained).requires_grad_(True)
            # the same optimizer, with the same settings, now for the new member only
            self.optimizer = type(self.optimizer)(self.model.parameters(), **self.optimizer.defaults)
        self.ensemble.members.append(self.model)

    def observe(self, batch):
        loss = self.classification_loss(self.model(batch.x), batch.y, batch.task)
        self.optimizer_step(loss)
        return loss.detach()

    def evaluation_models(self):
        return {"ensemble": self.ensemble}

    @torch.no_grad()
    def task_end_report(self):
        bench, n_members = self.benchmark, len(self.ensemble.members)
        was_training = self.model.training
        self.ensemble.eval()
        members_acc, answered = [[] for _ in range(n_members)], []
        for task in bench.tasks:
            x, y = bench.test_set(task, REPORT_TEST_SAMPLES)
            for m, member in enumerate(self.ensemble.members):
                logits = member(x).masked_fill(~bench.class_masks[task.index], float("-inf"))
                members_acc[m].append(float((logits.argmax(1) == y).float().mean() * 100))
            chosen = self.ensemble.answering_member(x)[1]
            answered.append((torch.bincount(chosen, minlength=n_members).float() * 100 / len(y)).tolist())
        self.model.train(was_training)
        return EnsembleReport(members_acc, answered)
