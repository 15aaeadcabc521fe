"""Cumulative training (the survey's baseline, seeds/001: "accumulative memory"): at every task the
network keeps training on ALL the data seen so far, tasks 1..i shuffled together, as plain fine-tuning.
Unbounded memory and a cost that grows with every task: the upper reference for replay methods under
the same budget of epochs per phase."""

from dataclasses import dataclass

import torch

from clcore.strategies.base import register
from clcore.strategies.finetune import Finetune


@dataclass(frozen=True)
class CumulativeReport:
    """How many samples of each task a phase trained on."""

    samples_per_task: list[int]


@register
class Cumulative(Finetune):
    name = "cumulative"
    needs_boundaries = "cumulative"
    report_type = CumulativeReport
    title = "Cumulative (all data so far)"
    summary = "At every task, trains on the data of all tasks seen so far, shuffled together (unbounded memory)."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # counted on the training device: no synchronisation per step
        self.phase_counts = torch.zeros(len(self.benchmark.tasks), dtype=torch.int64, device=self.benchmark.device)

    @classmethod
    def training_phases(cls, tasks):
        return [list(tasks[: i + 1]) for i in range(len(tasks))]

    def begin_task(self, task_index):
        super().begin_task(task_index)
        self.phase_counts.zero_()

    def observe(self, batch):
        self.phase_counts += torch.bincount(batch.task, minlength=len(self.phase_counts))
        return super().observe(batch)

    def task_end_report(self):
        """How many samples of each task this phase trained on (one epoch: every sample of tasks 1..i)."""
        return CumulativeReport(self.phase_counts.tolist())
