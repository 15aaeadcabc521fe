"""Maximally Interfered Retrieval (Aljundi, Caccia, Belilovsky, Caccia, Lin, Charlin & Tuytelaars,
NeurIPS 2019), its ER variant (ER-MIR).

Experience replay that chooses what to replay: from `mir_candidates` random buffer samples of earlier
tasks (the reference code excludes the current task's), it takes the replay_batch_size samples whose
loss the coming update would increase most. The update is estimated by a virtual SGD step on the
current batch, theta_v = theta - lr * grad L(current batch) (section 3.1), and each candidate scored by
its interference s(x) = l(x; theta_v) - l(x; theta). The retrieved samples are then trained together
with the current batch, exactly as ER trains with its random ones.
"""

from dataclasses import dataclass

import torch

from clcore.mechanics.gradients import earlier_task_samples, loss_gradient, per_sample_losses, virtual_sgd_step
from clcore.strategies.base import Param, Strategy, register


@dataclass
class Retrieval:
    x: torch.Tensor
    y: torch.Tensor
    task: torch.Tensor
    scores: torch.Tensor  # interference of every candidate
    chosen: torch.Tensor  # positions of the retrieved candidates (the top scores)


@register
class MaximallyInterferedRetrieval(Strategy):
    name = "mir"
    family = "replay"
    title = "Maximally Interfered Retrieval (MIR)"
    summary = "Replays the buffer samples whose loss a virtual update on the current batch would increase most."
    params = (
        Param(
            "mir_candidates",
            50,
            1,
            5000,
            "buffer samples scored per step; the replay batch is the most interfered among them",
        ),
    )
    uses_buffer = True
    needs_boundaries = "earlier_task_replay"

    def retrieve(self, batch) -> Retrieval | None:
        candidates = earlier_task_samples(self, self.hp.mir_candidates)
        if candidates is None:
            return None
        loss = self.classification_loss(self.model(batch.x), batch.y, batch.task)
        virtual = virtual_sgd_step(self.model, loss_gradient(self.model, loss), self.optimizer.param_groups[0]["lr"])
        with torch.no_grad():

            def masked(logits):
                return self.task_logits(logits, candidates.task)

            before = per_sample_losses(self.model, None, candidates.x, candidates.y, masked)
            after = per_sample_losses(self.model, virtual, candidates.x, candidates.y, masked)
        scores = after - before
        chosen = torch.topk(scores, min(self.replay_batch_size, len(scores))).indices
        return Retrieval(candidates.x[chosen], candidates.y[chosen], candidates.task[chosen], scores, chosen)

    def observe(self, batch):
        x, y, task = batch.x, batch.y, batch.task
        retrieval = self.retrieve(batch)
        if retrieval is not None:
            x, y, task = torch.cat([x, retrieval.x]), torch.cat([y, retrieval.y]), torch.cat([task, retrieval.task])
            self.stats.add("retrieved", retrieval.scores[retrieval.chosen].mean())
            self.stats.add("candidates", retrieval.scores.mean())
        loss = self.classification_loss(self.model(x), y, task)
        self.optimizer_step(loss)
        self.buffer.add(batch.raw, batch.y, batch.task)
        return loss.detach()
