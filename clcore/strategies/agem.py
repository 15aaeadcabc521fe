"""Averaged GEM (Chaudhry, Ranzato, Rohrbach & Elhoseiny, ICLR 2019).

GEM with a single constraint: instead of one gradient per earlier task, one reference gradient g_ref of
the loss on a random batch of the episodic memory (all earlier tasks; here their samples in the
reservoir buffer). When the current gradient g points against it (g . g_ref < 0), g is projected onto
the half-space of non-negative dot products in closed form (eq. 11):
    g~ = g - (g . g_ref / g_ref . g_ref) g_ref,
otherwise g is used as is.
"""

import torch

from clcore.mechanics.gradients import earlier_task_samples, loss_gradient, project_agem
from clcore.strategies.base import register
from clcore.strategies.gem import GradientEpisodicMemory


@register
class AveragedGEM(GradientEpisodicMemory):
    name = "agem"
    family = "hybrid"
    title = "Averaged GEM (A-GEM)"
    summary = (
        "Projects the gradient when it would increase the loss on a random batch of earlier tasks' "
        "memory (one constraint, closed form)."
    )
    params = ()

    def memory_gradients(self) -> torch.Tensor | None:
        """A single row: the gradient on a random batch (replay batch size) of earlier tasks' samples."""
        memory = earlier_task_samples(self, self.replay_batch_size)
        if memory is None:
            return None
        loss = self.classification_loss(self.model(memory.x), memory.y, memory.task)
        return loss_gradient(self.model, loss)[None]

    def project(self, g: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return project_agem(g, memory[0])
