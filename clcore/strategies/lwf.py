"""Learning without Forgetting (Li & Hoiem 2016): a frozen copy of the model from before the task acts
as teacher; the new model matches its softened outputs on the old classes while learning the new ones."""

from copy import deepcopy

import torch

from clcore.mechanics.losses import distillation_loss
from clcore.strategies.base import Param, Strategy, register


@register
class LearningWithoutForgetting(Strategy):
    name = "lwf"
    needs_boundaries = "teacher"
    family = "regularisation"
    title = "Learning without Forgetting (LwF)"
    summary = "Distils the previous model's outputs on the new data into the old classes' logits."
    weak_scenarios = {"class-il": "regularisation"}  # near fine-tune there (van de Ven & Tolias 2019)
    params = (
        Param("alpha", 1.0, 0.0, 100.0, "weight of the distillation term"),
        Param("temperature", 2.0, 0.1, 100.0, "T: softmax temperature of the distillation"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = None

    def begin_task(self, task_index):
        super().begin_task(task_index)
        masks = self.benchmark.class_masks
        self.seen_classes = masks[: task_index + 1].any(0)
        # Domain-IL tasks share every class: distil them all. Split tasks: only the old tasks' classes.
        self.old_classes = masks[:task_index].any(0) if self.benchmark.has_task_il else self.seen_classes
        if task_index > 0:
            self.teacher = deepcopy(self.model).requires_grad_(False).eval()

    def observe(self, batch):
        logits = self.model(batch.x)
        # Class-IL: only the classes seen so far compete in the cross-entropy.
        seen_logits = logits.masked_fill(~self.seen_classes, float("-inf"))
        loss = self.classification_loss(seen_logits, batch.y, batch.task)
        if self.teacher is not None:
            with torch.no_grad():
                teacher_logits = self.teacher(batch.x)
            loss = loss + self.hp.alpha * distillation_loss(
                logits[:, self.old_classes], teacher_logits[:, self.old_classes], self.hp.temperature
            )
        self.optimizer_step(loss)
        return loss.detach()
