"""Multi-head: a shared network with a separate output layer per task (the Task-IL set-up of e.g.
Kirkpatrick et al. 2017 and van de Ven & Tolias 2019, "Three scenarios for continual learning"). Each
task trains the shared trunk and its own head on its own classes; nothing else protects the trunk, so
this is the fine-tune baseline of the architectural family."""

import torch
import torch.nn.functional as F
from torch import nn

from clcore.mechanics.task_aware import (
    MOST_CONFIDENT_TASK,
    CapacityReport,
    TaskAwareNet,
    TaskHeads,
    parameter_count,
    rebuild_optimizer,
    task_classes,
)
from clcore.strategies.base import Strategy, register


class MultiHeadNet(TaskAwareNet):
    """A shared backbone (any of clcore.models) whose single classifier gives way to one head per task."""

    def __init__(self, backbone: nn.Module, classes_per_task, n_classes: int, generator: torch.Generator):
        super().__init__(classes_per_task, n_classes)
        in_features = backbone.classifier.in_features
        backbone.classifier = nn.Identity()
        self.backbone = backbone
        self.heads = TaskHeads(in_features, classes_per_task, generator, next(backbone.parameters()).device)

    def head_output(self, x, task):
        return self.heads(self.backbone(x), task)

    def task_outputs(self, x, tasks):
        features = self.backbone(x)  # shared: computed once for every head
        return [self.heads(features, t) for t in tasks]


@register
class MultiHead(Strategy):
    name = "multihead"
    needs_boundaries = "per_task_parts"
    family = "architecture"
    title = "Multi-head"
    summary = (
        "A shared network with one output head per task, trained by plain SGD; without the task id the "
        "most confident head answers."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK
    report_type = CapacityReport

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        self.baseline_params = parameter_count(model)
        self.model = MultiHeadNet(model, task_classes(self.benchmark), self.benchmark.n_classes, self.generator)
        self.optimizer = rebuild_optimizer(optimizer, self.model.parameters())

    def begin_task(self, task_index):
        super().begin_task(task_index)
        self.model.tasks_seen = task_index + 1

    def observe(self, batch):
        loss = F.cross_entropy(self.model.forward_tasks(batch.x, batch.task), batch.y)
        self.optimizer_step(loss)
        return loss.detach()

    def task_end_report(self):
        heads = [parameter_count(head) for head in self.model.heads.heads]
        n = len(heads)
        layers = (
            {f"layer {i + 1}": [0.0] * n + [1.0] for i in range(len(self.model.backbone.hidden))}
            if hasattr(self.model.backbone, "hidden")
            else {"backbone": [0.0] * n + [1.0]}
        )
        layers["heads"] = [h / sum(heads) for h in heads] + [0.0]
        return CapacityReport.measure(
            self.model, self.baseline_params, [f"T{t + 1}" for t in range(n)] + ["shared"], layers, unit="parameters"
        )
