"""CWR* (Maltoni & Lomonaco 2019, "Continuous learning in single-incremental-task scenarios", Neural
Networks 116, Algorithm 3; as used in Lomonaco, Maltoni & Pellegrini 2020, "Rehearsal-free continual
learning over small non-i.i.d. batches", CVPR-W): copy weights with re-init.

The first task trains the whole network; afterwards everything below the classifier is frozen and each
task trains only temporary output weights tw of its own classes (reset to zero, or to the consolidated
weights of classes seen before), competing only among those classes. At the task's end they are
consolidated into cw with the per-class weighting of clcore.mechanics.cwr; the network is evaluated with cw
(mid-task: with what consolidating now would give)."""

from dataclasses import dataclass

import torch

from clcore.mechanics.cwr import ConsolidatedHead, ConsolidatedModel
from clcore.strategies.base import Param, register
from clcore.strategies.latent_replay import LatentReplay, LatentReport


@dataclass(frozen=True, kw_only=True)
class CWRStarReport(LatentReport):
    """The latent report, with how many training examples each class's consolidated weights stand for."""

    consolidated_counts: list[int]


@register
class CWRStar(LatentReplay):
    name = "cwr_star"
    family = "architecture"
    # In Domain-IL every task has the same classes: nothing for the per-class consolidation to protect (Permuted-MNIST:
    # 63.5 % vs fine-tune's 64.3 with the features training, 27.9 % with them frozen after task 1; bench/DEMO.md).
    weak_scenarios = {"domain-il": "same_classes"}
    title = "CWR* (copy weights with re-init)"
    summary = (
        "Freezes the network after the first task; each task trains zero-reset output weights of its "
        "classes, consolidated per class by example counts."
    )
    uses_buffer = False
    # The paper freezes the network below the head after the first task (on a pretrained network); Avalanche's
    # CWRStarPlugin makes that optional (freeze_remaining_model). At the Playground's scale task 1's two digits
    # teach features that serve later tasks worse than fine-tune's retrained ones (Split-MNIST Task-IL 95.0 vs
    # 96.2, bench/DEMO.md): training them on keeps the head's consolidation, CWR*'s own mechanism.
    params = (
        Param(
            "freeze_features",
            True,
            help="freeze everything below the output layer after the first task (the paper's CWR*); "
            "off: the features keep training, only the output weights are consolidated",
        ),
    )
    report_type = CWRStarReport

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.head = ConsolidatedHead(self.model.classifier)
        self.consolidated_model = ConsolidatedModel(self.model, self.head)

    def frozen_blocks(self) -> int:
        cut = getattr(self.model, "depth", 0)  # 0 on a model without blocks: check_cut says it cannot be cut
        return cut if self.hp.freeze_features else 0

    def class_counts(self, task_index) -> torch.Tensor:
        """Training examples per class that this task's batches train on."""
        task = self.benchmark.tasks[task_index]
        return torch.bincount(self.benchmark.data.y_train[task.train_idx], minlength=self.benchmark.n_classes)

    def begin_task(self, task_index):
        super().begin_task(task_index)
        self.head.begin(self.class_counts(task_index))

    def loss(self, logits, y, task):
        return self.classification_loss(self.head.mask(logits), y, task)

    def end_task(self, task_index):
        self.head.end()
        super().end_task(task_index)

    def evaluation_models(self):
        return {"student": self.consolidated_model}

    def task_end_report(self):
        return CWRStarReport(**vars(super().task_end_report()), consolidated_counts=self.head.past.tolist())
