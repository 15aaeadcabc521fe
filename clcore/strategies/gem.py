"""Gradient Episodic Memory (Lopez-Paz & Ranzato, NeurIPS 2017).

An episodic memory keeps samples of every earlier task k (here: that task's samples in the reservoir
buffer). Each step trains on the current batch only, but the update must not increase any earlier
task's memory loss (eq. 6): with g the current gradient and g_k the gradient of task k's memory loss,
the constraint is <g~, g_k> >= 0 for all k < t. When g violates one, it is replaced by the closest
vector that satisfies all of them (eq. 8), found through the dual QP (eqs. 10-11) in
clcore.mechanics.gradients.project_gem. `gamma` is the reference code's memory strength (a lower bound on the
dual variables, which favours backward transfer); 0 gives the paper's plain projection.
"""

import torch

from clcore.mechanics.gradients import (
    angle_degrees,
    assign_flat_grad,
    earlier_task_samples,
    flat_grad,
    loss_gradient,
    project_gem,
)
from clcore.strategies.base import Param, Strategy, register


@register
class GradientEpisodicMemory(Strategy):
    name = "gem"
    needs_boundaries = "earlier_tasks"
    family = "hybrid"
    title = "Gradient Episodic Memory (GEM)"
    summary = "Projects each gradient (a small quadratic program) so that no earlier task's memory loss increases."
    params = (
        Param(
            "gamma",
            0.5,
            0.0,
            10.0,
            "memory strength: every memory gradient enters a projection with at least this weight "
            "(0: the closest gradient that increases no memory loss)",
        ),
    )
    uses_buffer = True

    def observe(self, batch):
        loss = self.classification_loss(self.model(batch.x), batch.y, batch.task)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        memory = self.memory_gradients()
        if memory is not None:
            g = flat_grad(self.model)
            projected = self.project(g, memory)
            self.stats.add("projected", (memory @ g < 0).any().float())
            self.stats.add("angle", torch.stack([angle_degrees(g, m) for m in memory]).mean())
            self.stats.add("angle_projected", torch.stack([angle_degrees(projected, m) for m in memory]).mean())
            assign_flat_grad(self.model, projected)
        self.optimizer.step()
        self.global_step += 1
        self.buffer.add(batch.raw, batch.y, batch.task)
        return loss.detach()

    def memory_gradients(self) -> torch.Tensor | None:
        """One row per earlier task: the gradient of the loss on that task's memory samples."""
        memory = earlier_task_samples(self)
        if memory is None:
            return None
        rows = []
        for task in memory.task.unique().tolist():
            mine = memory.task == task
            loss = self.classification_loss(self.model(memory.x[mine]), memory.y[mine], memory.task[mine])
            rows.append(loss_gradient(self.model, loss))
        return torch.stack(rows)

    def project(self, g: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return project_gem(g, memory, self.hp.gamma)
