"""Online EWC (Kirkpatrick et al. 2017; Schwarz et al. 2018): after each task, the diagonal empirical
Fisher of that task's data is added to a decayed running Fisher, and the weights are anchored there."""
import torch

from ..importance import empirical_fisher, importance_report, quadratic_penalty, snapshot
from .base import Param, Strategy, register


@register
class OnlineEWC(Strategy):
    name = "ewc"
    family = "regularisation"
    title = "Online EWC"
    summary = "Penalises moving weights that the Fisher information marks as important for earlier tasks."
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
        task = self.benchmark.tasks[task_index]
        n = len(task.train_idx) if self.hp.fisher_samples == 0 else min(self.hp.fisher_samples, len(task.train_idx))
        x, y = self.benchmark.train_batch(task, torch.arange(n, device=self.benchmark.device))
        task_ids = torch.full((1,), task_index, device=x.device)
        n_params = sum(p.numel() for p in self.model.parameters())
        fisher = empirical_fisher(self.model, x, y, logit_fn=lambda logits: self.task_logits(logits, task_ids),
                                  chunk=max(1, min(256, int(2e7 // n_params))))
        self.task_importance = fisher
        if self.importance is None:
            self.importance = fisher
        else:
            self.importance = {k: self.hp.gamma * v + fisher[k] for k, v in self.importance.items()}
        self.anchor = snapshot(self.model)

    def task_end_report(self):
        return importance_report(self.model, self.importance, self.task_importance, self.benchmark.data.image_shape)
