"""Meta-Experience Replay (Riemer, Cases, Ajemian, Liu, Rish, Tu & Tesauro, ICLR 2019).

Experience replay whose update is a Reptile meta-update. For each incoming batch, `batch_num` batches are
drawn, each the current batch with a fresh random batch from the reservoir buffer. Each is trained by
`inner_steps` SGD steps, one after another, on consecutive slices of it (the current samples first); then
the weights keep only a fraction beta of the change that batch made (within-batch Reptile). After all the
batches they keep a fraction gamma of the whole step's change (across-batch Reptile). Sequential steps
followed by a Reptile interpolation add to the update a term that raises the dot product of the gradients
of the samples trained one after another (the paper's Sec. 4): MER trains new and replayed samples so
that their gradients agree, which is what stops one from undoing the other.

Where the references differ: the paper's Algorithm 1 (IBM's meralg1.py, kept in montrealrobotics/La-MAML)
steps on every sample alone (inner_steps = the batch's length); mammoth's models/mer.py takes one SGD step
per batch (inner_steps = 1), at batch size 1. With mammoth's best arguments for S-MNIST (beta = gamma = 1,
batch_num = 1) the update is then exactly ER's at batch size 1.

The live view compares the gradient alignment MER produces with ER's on the same run: every
ALIGNMENT_EVERY steps, on that step's current and replay batch, the cosine between their gradients is
measured before the update, after MER's update, and after the one SGD step ER would take from the same
weights on the same samples (a virtual step, through torch.func; the model is not touched).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from clcore.mechanics.gradients import flat_params, trainable, unflatten
from clcore.strategies.base import Param, Strategy, register

ALIGNMENT_EVERY = 5  # steps between alignment measurements: six small backward passes each


@register
class MetaExperienceReplay(Strategy):
    name = "mer"
    family = "meta"
    title = "Meta-Experience Replay (MER)"
    summary = (
        "Experience replay with Reptile meta-updates, so that the gradients of new and replayed samples learn to agree."
    )
    params = (
        Param("beta", 1.0, 0.0, 1.0, "within-batch Reptile: fraction of each batch's weight change kept"),
        Param("gamma", 1.0, 0.0, 1.0, "across-batch Reptile: fraction of the whole step's weight change kept"),
        Param("batch_num", 1, 1, 100, "batches per step, each the current batch with a fresh replay batch"),
        Param(
            "inner_steps",
            1,
            1,
            1000,
            "SGD steps per batch, on consecutive slices of it (1: one step, mammoth; the batch's length: one "
            "sample a step, the paper's Algorithm 1)",
        ),
    )
    uses_buffer = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches_seen = 0  # incoming batches (global_step counts every inner SGD step)

    def observe(self, batch):
        start = [p.detach().clone() for p in trainable(self.model)]
        measured = None
        for draw in range(self.hp.batch_num):
            x, y, task = batch.x, batch.y, batch.task
            replay = self.replay_batch() if len(self.buffer) else None
            if replay is not None:
                if draw == 0 and self.batches_seen % ALIGNMENT_EVERY == 0:
                    measured = self._alignment_before_and_er(batch, replay)
                x, y, task = torch.cat([x, replay.x]), torch.cat([y, replay.y]), torch.cat([task, replay.task])
            batch_start = [p.detach().clone() for p in trainable(self.model)]
            for rows in torch.arange(len(y), device=y.device).tensor_split(min(self.hp.inner_steps, len(y))):
                loss = self.classification_loss(self.model(x[rows]), y[rows], task[rows])
                self.optimizer_step(loss)
            reptile(self.model, batch_start, self.hp.beta)
        reptile(self.model, start, self.hp.gamma)
        if measured is not None:
            new, replay, before, after_er = measured
            self.stats.add("alignment_before", before)
            self.stats.add("alignment_er", after_er)
            self.stats.add("alignment_mer", self._alignment(flat_params(self.model), new, replay))
        self.buffer.add(batch.raw, batch.y, batch.task)
        self.batches_seen += 1
        return loss.detach()

    # the alignment MER optimises, measured without touching the model --------------------------------
    def _gradient(self, flat: torch.Tensor, samples) -> torch.Tensor:
        """d loss(samples) / d parameters at the flat parameter vector `flat`; batch-norm statistics are
        passed as copies, so the measurement never changes the model."""
        flat = flat.detach().requires_grad_()
        buffers = {name: b.clone() for name, b in self.model.named_buffers()}
        logits = functional_call(self.model, (unflatten(self.model, flat), buffers), (samples[0],))
        loss = self.classification_loss(logits, samples[1], samples[2])
        return torch.autograd.grad(loss, flat)[0]

    def _alignment(self, flat, new, replay) -> torch.Tensor:
        return F.cosine_similarity(self._gradient(flat, new), self._gradient(flat, replay), dim=0)

    def _alignment_before_and_er(self, batch, replay):
        """The step's (new, replay) samples, their gradients' cosine at the current weights, and the cosine
        after the SGD step ER would take on both from here (its loss is the mean over new and replay samples,
        so its gradient is their size-weighted mean: no extra backward pass)."""
        new, old = (batch.x, batch.y, batch.task), (replay.x, replay.y, replay.task)
        flat = flat_params(self.model)
        g_new, g_old = self._gradient(flat, new), self._gradient(flat, old)
        n_new, n_old = len(batch.y), len(replay.y)
        er_step = (n_new * g_new + n_old * g_old) / (n_new + n_old)
        after_er = flat - self.optimizer.param_groups[0]["lr"] * er_step
        return new, old, F.cosine_similarity(g_new, g_old, dim=0), self._alignment(after_er, new, old)


@torch.no_grad()
def reptile(model, start: list[torch.Tensor], fraction: float) -> None:
    """Reptile's interpolation: keep `fraction` of the change since `start`, theta = start + f (theta - start)."""
    if fraction == 1.0:
        return
    for p, p0 in zip(trainable(model), start):
        p.lerp_(p0, 1.0 - fraction)
