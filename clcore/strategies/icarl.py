"""iCaRL (Rebuffi, Kolesnikov, Sperl & Lampert, CVPR 2017, "iCaRL: Incremental Classifier and
Representation Learning").

- Exemplar memory (Alg. 4-5): after each task, K memory slots are split evenly, m = K / (classes
  seen) per class. Old exemplar sets are reduced by keeping their first m (Alg. 5); each new class
  gets m exemplars chosen by herding (Alg. 4) on its L2-normalised features phi(x): exemplar k is the
  sample that brings the mean of the k chosen so far closest to the class mean.
- Representation learning (Alg. 3): the network trains on the new data together with the exemplars,
  with one sigmoid binary cross-entropy per class seen so far: one-hot targets for the new classes,
  the previous network's sigmoid outputs for the old ones (distillation; clcore.mechanics.losses
  .binary_distillation_loss, averaged over classes as mammoth does). The exemplars stream mixed into
  the task's batches, each once per epoch as in the union of both sets: K / N exemplars per new sample.
- Classification (Alg. 1): nearest mean of exemplars (NME): a sample goes to the class whose mean of
  normalised exemplar features (re-normalised) is nearest to its own normalised feature vector.
Both the NME classifier ("nme", reported) and the network's own linear head ("linear") are evaluated.

Domain-IL (every task brings all classes): exemplar sets are kept per (task, class), so m = K /
(tasks x classes seen), and NME averages a class's exemplars over all tasks; no class is ever old
while the current task brings it, so there is no distillation there.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from clcore.mechanics.losses import binary_distillation_loss
from clcore.strategies.base import Strategy, register

FEATURE_CHUNK = 1000  # samples per forward pass when extracting features
SHOWN_EXEMPLARS = 6  # per new class, the first exemplars herding chose, kept in the task-end report


def herding_order(features: torch.Tensor, m: int) -> torch.Tensor:
    """Indices of min(m, n) rows of `features` (n x d), in the order herding picks them: each next row
    is the one that brings the mean of the rows chosen so far closest to the mean of all rows."""
    target = features.mean(0)
    running_sum = torch.zeros_like(target)
    available = torch.ones(len(features), dtype=torch.bool, device=features.device)
    chosen = []
    for k in range(1, min(m, len(features)) + 1):
        distance = ((running_sum + features) / k - target).norm(dim=1).masked_fill(~available, float("inf"))
        best = int(distance.argmin())
        chosen.append(best)
        running_sum += features[best]
        available[best] = False
    return torch.tensor(chosen, dtype=torch.int64, device=features.device)


class NearestMeanOfExemplars(nn.Module):
    """logits = -(Euclidean distance of the normalised features to each class mean); classes with no
    exemplars get -inf."""

    def __init__(self, network: nn.Module, n_classes: int):
        super().__init__()
        self.network = network
        self.register_buffer("class_means", torch.zeros(n_classes, 0))
        self.register_buffer("has_mean", torch.zeros(n_classes, dtype=torch.bool))

    def forward(self, x):
        features = F.normalize(self.network.features(x), dim=1)
        if self.class_means.shape[1] == 0:  # no exemplars yet
            return features.new_full((len(x), len(self.has_mean)), float("-inf"))
        return (-torch.cdist(features, self.class_means)).masked_fill(~self.has_mean, float("-inf"))


@dataclass(frozen=True)
class ICaRLReport:
    """The exemplar memory after a task: exemplars kept per class, and the first exemplars herding chose for
    each of the task's classes (original inputs, n x C x H x W; None where too large for a JSON result)."""

    per_class: int
    herded_classes: list[int]
    herded_images: list[torch.Tensor]


@register
class ICaRL(Strategy):
    name = "icarl"
    needs_boundaries = "task_end_update"
    family = "hybrid"
    report_type = ICaRLReport
    title = "iCaRL (exemplars, distillation, nearest mean)"
    summary = (
        "Keeps herding-chosen exemplars per class, distils the old network's sigmoid outputs, and "
        "classifies by the nearest mean of exemplars."
    )
    uses_buffer = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.nme = NearestMeanOfExemplars(self.model, self.benchmark.n_classes).to(self.benchmark.device)
        self.old_network = None
        self.group_sizes: list[int] = []  # exemplars per (task, class) set, the sets one after another
        self.memory_version = 0  # bumped whenever the exemplar sets change
        self._means_for = None  # (optimizer step, memory version) the NME class means were computed at
        self.report: ICaRLReport | None = None

    # training ------------------------------------------------------------------------------------
    def begin_task(self, task_index):
        super().begin_task(task_index)
        masks = self.benchmark.class_masks
        self.new_classes = masks[task_index]
        self.old_classes = masks[:task_index].any(0) & ~self.new_classes
        distils = task_index > 0 and bool(self.old_classes.any())
        self.old_network = deepcopy(self.model).requires_grad_(False).eval() if distils else None
        # the exemplars stream once per epoch alongside the task's N samples: K / N per new sample
        self.exemplar_rate = len(self.buffer) / len(self.benchmark.tasks[task_index].train_idx)
        self.exemplar_credit = 0.0
        self.exemplar_order = torch.zeros(0, dtype=torch.int64)
        self.exemplar_position = 0

    def next_exemplars(self, n_new: int):
        """The exemplars that go with the next `n_new` new samples (None when none do), walking through
        a random order of the memory and reshuffling when it is used up."""
        self.exemplar_credit += n_new * self.exemplar_rate
        take = int(self.exemplar_credit)
        if take == 0:
            return None
        self.exemplar_credit -= take
        chosen = []
        while take:
            if self.exemplar_position == len(self.exemplar_order):
                self.exemplar_order = torch.randperm(len(self.buffer), generator=self.generator)
                self.exemplar_position = 0
            part = self.exemplar_order[self.exemplar_position : self.exemplar_position + take]
            chosen.append(part)
            self.exemplar_position += len(part)
            take -= len(part)
        sample = self.buffer.get(torch.cat(chosen).to(self.buffer.device))
        if self.benchmark.augment is not None:
            sample.x = self.benchmark.augment(sample.x, self.generator)
        return sample

    def observe(self, batch):
        x, y = batch.x, batch.y
        exemplars = self.next_exemplars(len(y))
        if exemplars is not None:
            x, y = torch.cat([x, exemplars.x]), torch.cat([y, exemplars.y])
        teacher_logits = None
        if self.old_network is not None:
            with torch.no_grad():
                teacher_logits = self.old_network(x)
        loss = binary_distillation_loss(self.model(x), y, teacher_logits, self.new_classes, self.old_classes)
        self.optimizer_step(loss)
        return loss.detach()

    # exemplar memory -------------------------------------------------------------------------------
    @torch.no_grad()
    def normalised_features(self, x: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        features = torch.cat(
            [F.normalize(self.model.features(x[i : i + FEATURE_CHUNK]), dim=1) for i in range(0, len(x), FEATURE_CHUNK)]
        )
        self.model.train(was_training)
        return features

    @torch.no_grad()
    def end_task(self, task_index):
        task = self.benchmark.tasks[task_index]
        per_group = self.buffer.capacity // (len(self.group_sizes) + len(task.classes))
        # Alg. 5: reduce every old exemplar set to its first m (the buffer holds the sets one after another)
        kept, start = [torch.zeros(0, dtype=torch.int64, device=self.buffer.device)], 0
        for size in self.group_sizes:
            kept.append(torch.arange(start, start + min(size, per_group), device=self.buffer.device))
            start += size
        old = self.buffer.get(torch.cat(kept)) if len(self.buffer) else None
        # Alg. 4: herd m exemplars of each new class from the task's training data
        x, y = self.benchmark.train_batch(task, torch.arange(len(task.train_idx), device=task.train_idx.device))
        features = self.normalised_features(x)
        new_x, new_y, new_sizes, shown = [], [], [], []  # shown: each class's first exemplars, original images
        for c in task.classes:
            of_class = torch.nonzero(y == c).flatten()
            order = of_class[herding_order(features[of_class], per_group)]
            new_x.append(x[order]), new_y.append(y[order]), new_sizes.append(len(order))
            shown.append(self.benchmark.data.x_train[task.train_idx[order[:SHOWN_EXEMPLARS]]].cpu())
        new_x, new_y = torch.cat(new_x), torch.cat(new_y)
        new_task = torch.full_like(new_y, task_index)
        if old is not None:
            new_x, new_y = torch.cat([old.x, new_x]), torch.cat([old.y, new_y])
            new_task = torch.cat([old.task, new_task])
        self.buffer.replace(new_x, new_y, new_task)
        self.group_sizes = [min(size, per_group) for size in self.group_sizes] + new_sizes
        self.memory_version += 1
        self.report = ICaRLReport(per_group, list(task.classes), shown)

    # evaluation ------------------------------------------------------------------------------------
    @torch.no_grad()
    def refresh_class_means(self) -> None:
        """NME class means from the current network: the mean of each class's normalised exemplar
        features, re-normalised."""
        n = len(self.buffer)
        if n == 0:
            return
        features = self.normalised_features(self.buffer.x[:n])
        y = self.buffer.y[:n]
        n_classes = self.benchmark.n_classes
        sums = torch.zeros(n_classes, features.shape[1], device=features.device).index_add_(0, y, features)
        self.nme.class_means = F.normalize(sums, dim=1)
        self.nme.has_mean = torch.bincount(y, minlength=n_classes) > 0

    def evaluation_models(self):
        if self._means_for != (self.global_step, self.memory_version):
            self.refresh_class_means()
            self._means_for = (self.global_step, self.memory_version)
        return {"nme": self.nme, "linear": self.model}

    def task_end_report(self):
        return self.report
