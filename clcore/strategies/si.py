"""Synaptic Intelligence (Zenke, Poole & Ganguli 2017): each weight's importance is its contribution
to the loss decrease along the training path, sum_t -g_t * delta_theta_t, normalised at the task's end
by (total change)^2 + xi."""
import torch

from ..importance import importance_report, named_params, quadratic_penalty, snapshot
from .base import Param, Strategy, register


@register
class SynapticIntelligence(Strategy):
    name = "si"
    family = "regularisation"
    title = "Synaptic Intelligence (SI)"
    summary = "Estimates each weight's importance online from its path integral and anchors important weights."
    params = (
        Param("c", 0.5, 0.0, 1e6, "c: strength of the surrogate-loss penalty"),
        Param("xi", 1.0, 1e-9, 1e3, "xi: damping added to the squared total change of each weight"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.task_start = snapshot(self.model)
        self.path_integral = {k: torch.zeros_like(v) for k, v in self.task_start.items()}
        self.importance = None  # Omega, accumulated over tasks
        self.task_importance = None

    def observe(self, batch):
        loss = self.classification_loss(self.model(batch.x), batch.y, batch.task)
        if self.importance is not None:
            loss = loss + self.hp.c * quadratic_penalty(self.model, self.task_start, self.importance)
        params = named_params(self.model)
        before = [p.detach().clone() for p in params.values()]
        self.optimizer_step(loss)
        with torch.no_grad():
            # omega += -g * delta_theta: exact for any optimizer, lr * g^2 for plain SGD.
            for (name, p), old in zip(params.items(), before):
                if p.grad is not None:
                    self.path_integral[name] -= p.grad * (p - old)
        return loss.detach()

    def end_task(self, task_index):
        with torch.no_grad():
            task_omega = {name: omega / ((p.detach() - self.task_start[name]).pow(2) + self.hp.xi)
                          for (name, p), omega in zip(named_params(self.model).items(), self.path_integral.values())}
        self.task_importance = task_omega
        self.importance = task_omega if self.importance is None else \
            {k: v + task_omega[k] for k, v in self.importance.items()}
        self.task_start = snapshot(self.model)
        self.path_integral = {k: torch.zeros_like(v) for k, v in self.task_start.items()}

    def task_end_report(self):
        return importance_report(self.model, self.importance, self.task_importance, self.benchmark.data.image_shape)
