"""GDumb (Prabhu, Torr & Dokania, ECCV 2020, "GDumb: A Simple Approach that Questions Our Progress in
Continual Learning"): a Greedy class-balanced sampler and a Dumb learner.

- Sampler (Sec. 3): every stream sample is stored while the memory has room; once full, a sample
  whose class holds fewer than k / |classes seen| slots replaces a random sample of the currently
  largest class, otherwise it is dropped. This is ReplayBuffer's "balanced" policy, which GDumb always
  uses (Strategy.buffer_policy: a run's config records it whatever policy was asked for). Nothing is learnt from the
  stream.
- Learner: before every evaluation (here at each task end) the network is reset to the same initial
  weights and trained from scratch on the memory only. As in the paper's code for MNIST: SGD with
  momentum 0.9, weight decay 1e-6, batch 16, gradient norm clipped at 10; one warm-up epoch at
  max_lr / 10, then cosine annealing with warm restarts (SGDR, T_0 = 1 epoch, doubling) from max_lr
  down to min_lr. CutMix is off, as in the paper's MNIST runs; the MLP has no batch norm (the
  paper's MLP has).
Between task ends the live evaluations show the model retrained at the previous task end.
In Domain-IL (permuted / rotated MNIST) every task brings the same classes, so the sampler, which
balances classes and not tasks, keeps the first task's samples and drops the later tasks' ones.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

import torch
from torch import nn

from clcore.errors import ConfigError
from clcore.strategies.base import Param, Strategy, register

MOMENTUM = 0.9  # the paper's code (src/main.py)
WEIGHT_DECAY = 1e-6
GRAD_CLIP = 10.0


@dataclass(frozen=True)
class GDumbReport:
    """The retraining from scratch at a task end: mean loss and learning rate per epoch over the memory, and
    the memory's examples per class."""

    retrain_loss: list[float]
    retrain_lr: list[float]
    buffer_classes: list[int]


@register
class GDumb(Strategy):
    name = "gdumb"
    needs_boundaries = "task_end_update"
    family = "replay"
    report_type = GDumbReport
    title = "GDumb (greedy sampler, dumb learner)"
    summary = (
        "Keeps a class-balanced memory of the stream and, at each task end, trains a network from "
        "scratch on that memory only."
    )
    uses_buffer = True
    buffer_policy = "balanced"  # GDumb's greedy class-balanced sampler
    # every Domain-IL task brings the same classes: the balanced memory keeps the first task only
    weak_scenarios = {"domain-il": "class_balanced_memory"}
    params = (
        Param(
            "epochs_on_buffer",
            32,
            1,
            2000,
            "epochs of training from scratch on the memory at each task end "
            "(the paper: 128 on MNIST; a power of two ends a cosine cycle)",
        ),
        Param("max_lr", 0.05, 1e-5, 1.0, "peak learning rate of the retraining (SGDR schedule)"),
        Param("min_lr", 0.0005, 0.0, 1.0, "learning rate at the end of each cosine cycle"),
        Param("fit_batch_size", 16, 1, 4096, "batch size of the retraining"),
    )

    @classmethod
    def resolve_params(cls, given):
        params = super().resolve_params(given)
        if params["min_lr"] > params["max_lr"]:
            raise ConfigError("params.min_lr", "min_lr_above_max_lr", value=params["min_lr"], high=params["max_lr"])
        return params

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_state = deepcopy(self.model.state_dict())
        self.retrain_loss: list[float] = []
        self.retrain_lr: list[float] = []

    @torch.no_grad()
    def observe(self, batch):
        """Store greedily; report how the latest retrained model does on the incoming batch."""
        self.buffer.add(batch.raw, batch.y, batch.task)
        return self.classification_loss(self.model(batch.x), batch.y, batch.task)

    def end_task(self, task_index):
        self.model.load_state_dict(self.initial_state)  # the dumb learner starts from scratch every time
        self.retrain_loss, self.retrain_lr = self.fit_memory()

    def fit_memory(self) -> tuple[list[float], list[float]]:
        """Train self.model on the whole memory; returns the mean loss and the learning rate per epoch."""
        hp, n = self.hp, len(self.buffer)
        optimizer = torch.optim.SGD(self.model.parameters(), lr=hp.max_lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        schedule = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=1, T_mult=2, eta_min=hp.min_lr)
        losses, lrs = [], []
        self.model.train()
        for epoch in range(hp.epochs_on_buffer):
            if epoch <= 1:  # warm-up epoch at a tenth of the peak, then the peak
                for group in optimizer.param_groups:
                    group["lr"] = hp.max_lr * (0.1 if epoch == 0 else 1.0)
            else:
                schedule.step()
            order = torch.randperm(n, generator=self.generator).to(self.buffer.device)
            total = torch.zeros((), device=self.buffer.device)
            for start in range(0, n, hp.fit_batch_size):
                sample = self.buffer.get(order[start : start + hp.fit_batch_size])
                x = sample.x if self.benchmark.augment is None else self.benchmark.augment(sample.x, self.generator)
                loss = self.classification_loss(self.model(x), sample.y, sample.task)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), GRAD_CLIP)
                optimizer.step()
                total += loss.detach() * len(sample.y)
            losses.append(float(total) / n)
            lrs.append(optimizer.param_groups[0]["lr"])
        return losses, lrs

    def task_end_report(self):
        return GDumbReport(
            self.retrain_loss, self.retrain_lr, self.buffer.composition(len(self.benchmark.tasks))["classes"]
        )
