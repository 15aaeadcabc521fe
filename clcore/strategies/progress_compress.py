"""Progress & Compress (Schwarz, Luketina, Czarnecki, Grabska-Barwinska, Teh, Pascanu & Hadsell 2018,
"Progress & Compress: A scalable framework for continual learning", ICML), Sec. 2.

Two networks of the same architecture: the knowledge base (KB, the run's model, the one reported) and an
active column, re-initialised at each new task.
- Progress: the active column learns the task (the KB is fixed). With `lateral`, each of its layers after
  the first also receives the KB's previous-layer activations through an adaptor (eq. 1):
  h_i = relu(W_i h_{i-1} + alpha_i * U_i relu(V_i h^KB_{i-1} + c_i) + b_i), for forward transfer.
- Compress (at the task's end, over the task's training data): the KB is distilled from the active
  column, E[KL(pi_active(.|x) || pi_KB(.|x))], plus the online-EWC penalty on the KB (eq. 2-4):
  lambda * sum_k F*_k (theta_k - theta*_k)^2 with F*_k = gamma F*_{k-1} + F_k and theta* the KB after the
  previous compress; F_k is the KB's empirical Fisher of the task's data after this compress.
The active column's targets are its outputs with the KB as it was before the compress."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from clcore.errors import ConfigError
from clcore.mechanics.importance import online_sum, quadratic_penalty, snapshot, task_fisher
from clcore.mechanics.losses import distillation_loss
from clcore.models import MLP, reinitialised
from clcore.strategies.base import Param, Strategy, register

TARGET_CHUNK = 1024  # inputs per forward pass when computing the active column's targets


class LateralAdaptor(nn.Module):
    """alpha * U relu(V h + c) (Rusu et al. 2016's adaptor, as P&C's eq. 1 uses it)."""

    def __init__(self, in_features: int, out_features: int, alpha: float = 0.1):
        super().__init__()
        self.v = nn.Linear(in_features, in_features)
        self.u = nn.Linear(in_features, out_features, bias=False)
        self.alpha = nn.Parameter(torch.tensor(alpha))

    def forward(self, h):
        return self.alpha * self.u(F.relu(self.v(h)))


class ActiveColumn(nn.Module):
    """A freshly initialised copy of the KB's MLP, with lateral adaptors from the KB (None: no laterals).
    The KB is read, never trained, through this column: it is kept outside the module's parameters."""

    def __init__(self, column: nn.Module, knowledge_base: nn.Module, adaptors: nn.ModuleList | None):
        super().__init__()
        self.column, self.adaptors = column, adaptors
        self._knowledge_base = (knowledge_base,)

    def forward(self, x):
        if self.adaptors is None:
            return self.column(x)
        kb = self._knowledge_base[0]
        h = kb_h = x.flatten(1)
        for i, layer in enumerate(self.column.hidden):
            pre = layer(h)
            if i > 0:
                pre = pre + self.adaptors[i - 1](kb_h)
            h = F.relu(pre)
            with torch.no_grad():
                kb_h = F.relu(kb.hidden[i](kb_h))
        return self.column.classifier(h) + self.adaptors[-1](kb_h)


@dataclass(frozen=True)
class ProgressCompressReport:
    """The compress phase's KL from the knowledge base to the active column on the task's data, before and
    after."""

    compress_kl_before: float
    compress_kl_after: float


@register
class ProgressCompress(Strategy):
    name = "progress_compress"
    needs_boundaries = "importance"
    family = "hybrid"
    report_type = ProgressCompressReport
    title = "Progress & Compress"
    summary = "An active column learns each task, then is distilled into a knowledge base protected by online EWC."
    weak_scenarios = {"class-il": "regularisation"}  # EWC and distillation only: near fine-tune there
    params = (
        Param(
            "ewc_lambda",
            30.0,
            0.0,
            1e6,
            "lambda: strength of the online-EWC penalty on the knowledge base "
            "(the compress phase's SGD diverges once lambda * lr * max Fisher > 1)",
        ),
        Param("gamma", 1.0, 0.0, 1.0, "decay of the running Fisher at each new task (1 = plain sum)"),
        Param("compress_epochs", 1, 1, 100, "passes over the task's training data in the compress phase"),
        Param("lateral", True, help="lateral adaptors from the knowledge base into the active column (MLP only)"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.hp.lateral and not isinstance(self.model, MLP):
            raise ConfigError(
                "params.lateral", "lateral_needs_mlp", strategy=self.name, model=type(self.model).__name__
            )
        self.kb_optimizer = self.optimizer
        self.importance = None  # running Fisher F*
        self.task_importance = None
        self.anchor = None
        self.compress_batch = None  # the training batch size, read from the first batch
        self.compress_kl = []  # per task: mean KL(active || KB) on its data before and after the compress
        self.active = self._new_active_column()

    def _new_active_column(self) -> ActiveColumn:
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        column = reinitialised(self.model, seed)
        adaptors = None
        if self.hp.lateral:
            sizes = [layer.out_features for layer in self.model.hidden]
            outs = sizes[1:] + [self.model.classifier.out_features]
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + 1)
                adaptors = nn.ModuleList(LateralAdaptor(a, b) for a, b in zip(sizes, outs))
            adaptors = adaptors.to(next(self.model.parameters()).device)
        active = ActiveColumn(column, self.model, adaptors)
        self.optimizer = type(self.kb_optimizer)(active.parameters(), **self.kb_optimizer.defaults)
        return active

    def begin_task(self, task_index):
        super().begin_task(task_index)
        if task_index > 0:
            self.active = self._new_active_column()

    def observe(self, batch):
        if self.compress_batch is None:
            self.compress_batch = len(batch.y)
        loss = self.classification_loss(self.active(batch.x), batch.y, batch.task)
        self.optimizer_step(loss)
        return loss.detach()

    @torch.no_grad()
    def _active_targets(self, task) -> torch.Tensor:
        self.active.eval()
        positions = torch.arange(len(task.train_idx), device=self.benchmark.device)
        targets = torch.cat(
            [
                self.active(self.benchmark.train_batch(task, positions[s : s + TARGET_CHUNK])[0])
                for s in range(0, len(positions), TARGET_CHUNK)
            ]
        )
        self.active.train()
        return targets

    @torch.no_grad()
    def mean_kl(self, task, targets) -> float:
        """KL(active || KB) averaged over the task's training data."""
        total = 0.0
        for s in range(0, len(targets), TARGET_CHUNK):
            x, _ = self.benchmark.train_batch(
                task, torch.arange(s, min(s + TARGET_CHUNK, len(targets)), device=self.benchmark.device)
            )
            total += float(distillation_loss(self.model(x), targets[s : s + TARGET_CHUNK], 1.0)) * len(x)
        return total / len(targets)

    def compress(self, task_index):
        task = self.benchmark.tasks[task_index]
        targets = self._active_targets(task)
        kl_before = self.mean_kl(task, targets)
        self.optimizer = self.kb_optimizer
        n = len(task.train_idx)
        for _ in range(self.hp.compress_epochs):
            order = torch.randperm(n, generator=self.generator).to(self.benchmark.device)
            for start in range(0, n, self.compress_batch or n):
                positions = order[start : start + (self.compress_batch or n)]
                x, _ = self.benchmark.train_batch(task, positions)
                loss = distillation_loss(self.model(x), targets[positions], 1.0)
                if self.importance is not None:
                    loss = loss + self.hp.ewc_lambda * quadratic_penalty(self.model, self.anchor, self.importance)
                self.optimizer_step(loss)
        self.compress_kl.append((kl_before, self.mean_kl(task, targets)))

    def end_task(self, task_index):
        self.compress(task_index)
        task_ids = torch.full((1,), task_index, device=self.benchmark.device)
        fisher = task_fisher(
            self.model, self.benchmark, task_index, logit_fn=lambda logits: self.task_logits(logits, task_ids)
        )
        self.task_importance = fisher
        self.importance = online_sum(self.importance, fisher, self.hp.gamma)
        self.anchor = snapshot(self.model)

    def evaluation_models(self):
        return {"knowledge_base": self.model, "active": self.active}

    def task_end_report(self):
        before, after = self.compress_kl[-1]
        return ProgressCompressReport(before, after)
