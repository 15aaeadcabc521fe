"""Look-ahead MAML (La-MAML: Gupta, Yadav & Paull, NeurIPS 2020), as the authors' code runs it on MNIST
(montrealrobotics/La-MAML, model/lamaml.py: first order, asynchronous update).

Every weight has its own learning rate alpha, learned. For each incoming batch, `glances` times:
- inner loop (the look-ahead): starting from the weights theta, one SGD step per current sample, each
  with the per-parameter rates relu(alpha), gives fast weights theta_1 .. theta_k (torch.func: the model is
  called with the fast weights, never copied);
- meta-loss: the mean over those k fast weights of the loss on a meta-batch, a random buffer batch together
  with the current batch;
- its gradient (first order: the inner gradients are constants) updates the learning rates first,
  alpha <- alpha - eta * d meta / d alpha, with eta the run's learning rate, and then the weights with the
  new rates, theta <- theta - relu(alpha) * d meta / d theta.
The gradient of the meta-loss with respect to alpha is, to first order, minus the dot product of the inner
(new-sample) gradients with the meta-batch's: a weight's rate grows where new and replayed samples agree and
shrinks to zero (the weight freezes) where they conflict. Both meta-gradients are clipped to a norm.
The learned rates replace the run's optimizer: of its settings only the learning rate (eta) is used.

The authors' inner loop also calls torch.clamp on each gradient without keeping the result (no effect):
here there is no inner clamp either. Their buffer is a reservoir filled with each sample; so is this one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad

from clcore.strategies.base import Param, Strategy, register

QUANTILES = (0.1, 0.5, 0.9)  # the spread of the first layer's learning rates the live view follows
MAP_UNITS = 16  # first-layer units whose learning-rate maps a report carries


@dataclass(frozen=True)
class LaMAMLReport:
    """The learned learning rates at a task end: the first layer's per hidden unit as images (units x H x W,
    for an MLP that sees the image; too large for a run's JSON result, None when read back), which units
    those are, and each parameter tensor's median rate."""

    unit_maps: torch.Tensor | None
    units: list[int]
    median_by_tensor: dict[str, float]


@register
class LookAheadMAML(Strategy):
    name = "lamaml"
    family = "meta"
    title = "Look-ahead MAML (La-MAML)"
    summary = (
        "Meta-learns a learning rate for every weight on replayed samples: rates grow where new and old "
        "samples' gradients agree and shrink to zero where they conflict."
    )
    params = (
        Param("alpha_init", 0.15, 0.0, 10.0, "initial learning rate of every weight (alpha)"),
        Param("glances", 5, 1, 100, "meta-updates per incoming batch, each with a fresh replay batch"),
        Param("clip", 2.0, 0.0, 1.0e6, "norm the meta-gradients of the weights and of the rates are clipped to"),
    )
    uses_buffer = True
    report_type = LaMAMLReport

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weights = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        self.alpha = {n: torch.full_like(p, self.hp.alpha_init, requires_grad=True) for n, p in self.weights.items()}
        first = self.model.first_layer.weight if hasattr(self.model, "first_layer") else None
        self.first_name = next((n for n, p in self.weights.items() if p is first), None)

    def rates(self, name: str) -> torch.Tensor:
        """The learning rates in use for a parameter tensor: relu(alpha)."""
        return F.relu(self.alpha[name].detach())

    def _loss(self, params: dict, x, y, task) -> torch.Tensor:
        return self.classification_loss(functional_call(self.model, params, (x,)), y, task)

    def observe(self, batch):
        for _ in range(self.hp.glances):
            order = torch.randperm(len(batch.y), generator=self.generator).to(batch.y.device)
            x, y, task = batch.x[order], batch.y[order], batch.task[order]
            meta_x, meta_y, meta_task = x, y, task
            if len(self.buffer):
                replay = self.replay_batch()
                meta_x, meta_y = torch.cat([replay.x, x]), torch.cat([replay.y, y])
                meta_task = torch.cat([replay.task, task])
            fast, meta_losses = dict(self.weights), []
            for i in range(len(y)):
                sample = (x[i : i + 1], y[i : i + 1], task[i : i + 1])
                # first order: the inner gradient is a constant, alpha and theta reach the meta-loss linearly
                inner = grad(self._loss)({n: w.detach() for n, w in fast.items()}, *sample)
                fast = {n: w - inner[n] * F.relu(self.alpha[n]) for n, w in fast.items()}
                meta_losses.append(self._loss(fast, meta_x, meta_y, meta_task))
            meta_loss = torch.stack(meta_losses).mean()
            names = list(self.weights)
            grads = torch.autograd.grad(meta_loss, [self.weights[n] for n in names] + [self.alpha[n] for n in names])
            weight_grads, alpha_grads = (
                clipped(grads[: len(names)], self.hp.clip),
                clipped(grads[len(names) :], self.hp.clip),
            )
            with torch.no_grad():
                for n, g_w, g_a in zip(names, weight_grads, alpha_grads):
                    self.alpha[n].sub_(self.optimizer.param_groups[0]["lr"] * g_a)
                    self.weights[n].sub_(g_w * F.relu(self.alpha[n]))
            self.global_step += 1
        self.buffer.add(batch.raw, batch.y, batch.task)
        return meta_loss.detach()

    # what the views read -----------------------------------------------------------------------------
    def drain_step_stats(self):
        """The spread of the first layer's learning rates at the window's end (its quantiles, and the share
        of weights whose rate is zero: frozen), beside the default window means."""
        stats = super().drain_step_stats() or {}
        name = self.first_name or next(iter(self.weights))
        rates = self.rates(name).flatten().float()
        for q, value in zip(QUANTILES, torch.quantile(rates, torch.tensor(QUANTILES, device=rates.device)).tolist()):
            stats[f"lr_q{round(q * 100)}"] = value
        stats["lr_frozen"] = float((rates <= 0).float().mean())
        return stats

    def task_end_report(self) -> LaMAMLReport:
        maps, units = None, []
        shape = self.benchmark.data.image_shape
        if self.first_name is not None:
            w = self.rates(self.first_name).float().cpu()
            c, h, wd = shape
            if w.dim() == 2 and w.shape[1] == c * h * wd:
                per_unit = w.view(-1, c, h, wd).mean(1)
                units = torch.argsort(per_unit.flatten(1).mean(1), descending=True)[:MAP_UNITS].tolist()
                maps = per_unit[units]
        medians = {n: float(self.rates(n).median()) for n in self.weights}
        return LaMAMLReport(maps, units, medians)


def clipped(grads, max_norm: float) -> list[torch.Tensor]:
    """The gradients scaled together to a total norm of at most `max_norm` (clip_grad_norm_'s rule; 0: none)."""
    if max_norm <= 0:
        return list(grads)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    return [g * scale for g in grads]
