"""Online EWC (Kirkpatrick et al. 2017; Schwarz et al. 2018): after each task, the diagonal empirical
Fisher of that task's data is added to a decayed running Fisher, and the weights are anchored there."""

import torch

from clcore.mechanics.importance import (
    ImportanceReport,
    importance_report,
    online_sum,
    quadratic_penalty,
    snapshot,
    task_fisher,
)
from clcore.strategies.base import Param, Strategy, register


@register
class OnlineEWC(Strategy):
    name = "ewc"
    needs_boundaries = "importance"
    family = "regularisation"
    title = "Online EWC"
    summary = "Penalises moving weights that the Fisher information marks as important for earlier tasks."
    weak_scenarios = {"class-il": "regularisation"}  # near fine-tune there (van de Ven & Tolias 2019)
    report_type = ImportanceReport
    params = (
        Param("ewc_lambda", 10.0, 0.0, 1e6, "lambda: strength of the penalty sum_k F_k (theta_k - theta*_k)^2"),
        Param("gamma", 1.0, 0.0, 1.0, "decay of the running Fisher at each new task (1 = plain sum)"),
        Param("fisher_samples", 0, 0, 1_000_000, "training samples of the task used for the Fisher (0 = all)"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.importance = None  # running Fisher, per parameter name
        self.anchor = None
        self.task_importance = None  # the last task's own Fisher, for the per-task views

    def observe(self, batch):
        loss = self.classification_loss(self.model(batch.x), batch.y, batch.task)
        if self.importance is not None:
            loss = loss + self.hp.ewc_lambda * quadratic_penalty(self.model, self.anchor, self.importance)
        self.optimizer_step(loss)
        return loss.detach()

    def end_task(self, task_index):
        task_ids = torch.full((1,), task_index, device=self.benchmark.device)
        fisher = task_fisher(
            self.model,
            self.benchmark,
            task_index,
            self.hp.fisher_samples,
            logit_fn=lambda logits: self.task_logits(logits, task_ids),
        )
        self.task_importance = fisher
        self.importance = online_sum(self.importance, fisher, self.hp.gamma)
        self.anchor = snapshot(self.model)

    def task_end_report(self):
        return importance_report(self.model, self.importance, self.task_importance, self.benchmark.data.image_shape)
