"""CWR*'s output layer (Maltoni & Lomonaco 2019, "Continuous learning in single-incremental-task
scenarios", Algorithm 3; Lomonaco, Maltoni & Pellegrini 2020, "Rehearsal-free continual learning over
small non-i.i.d. batches"), shared by CWR* and AR1.

The classifier keeps consolidated weights cw per class. Each batch (here: task) trains temporary weights
tw: zero, except the batch's classes that were consolidated before, which start from cw. At the batch's
end every class j it trained is consolidated, weighted by how many examples each side has seen:

    cw[j] = (cw[j] * wpast_j + (tw[j] - avg(tw))) / (wpast_j + 1),   wpast_j = sqrt(past_j / cur_j)

(avg(tw): the mean of the batch classes' temporary weights, so that classes trained in different
batches have comparable scales), then past_j += cur_j. The reference implementation (its output layer
has no bias) centres the weights by one scalar mean; our classifiers have biases, which are centred and
consolidated the same way with their own mean. Inference uses cw."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def consolidate(
    cw: torch.Tensor, tw: torch.Tensor, trained: torch.Tensor, past: torch.Tensor, cur: torch.Tensor
) -> torch.Tensor:
    """Algorithm 3's consolidation of the rows `trained` (bool per class) of a per-class tensor (rows:
    classes): new rows are tw - avg(tw); others keep cw. `past` and `cur`: examples per class seen
    before and in this batch."""
    if not bool(trained.any()):
        return cw.clone()
    rows = trained.nonzero().flatten()
    centred = tw[rows] - tw[rows].mean()
    shape = (-1,) + (1,) * (cw.dim() - 1)
    w_past = (past[rows].to(cw.dtype) / cur[rows].to(cw.dtype)).sqrt().view(shape)
    out = cw.clone()
    out[rows] = (cw[rows] * w_past + centred) / (w_past + 1)
    return out


class ConsolidatedHead:
    """The bookkeeping of CWR* around a linear classifier: `begin(counts)` loads the temporary weights
    for the classes with counts > 0, `end()` consolidates them, `inference()` is what cw would be if
    the batch ended now (the model CWR* tests with)."""

    def __init__(self, classifier: nn.Linear):
        self.layer = classifier
        n = classifier.out_features
        self.cw = {name: torch.zeros_like(p) for name, p in self._tensors().items()}
        self.past = torch.zeros(n, device=classifier.weight.device)  # examples consolidated per class
        self.cur = None  # examples per class in the batch being trained (None between batches)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {name: p for name, p in (("weight", self.layer.weight), ("bias", self.layer.bias)) if p is not None}

    @property
    def active(self) -> torch.Tensor | None:
        """The classes the current batch trains (bool per class), or None between batches."""
        return None if self.cur is None else self.cur > 0

    @torch.no_grad()
    def begin(self, counts: torch.Tensor) -> None:
        self.cur = counts.to(self.past)
        resume = self.active & (self.past > 0)
        for name, p in self._tensors().items():
            p.zero_()
            p[resume] = self.cw[name][resume]

    def mask(self, logits: torch.Tensor) -> torch.Tensor:
        """Training competes only among the batch's classes (tw of the others is zero and stays so)."""
        return logits.masked_fill(~self.active, float("-inf"))

    @torch.no_grad()
    def consolidated(self) -> dict[str, torch.Tensor]:
        if self.cur is None:
            return {name: cw.clone() for name, cw in self.cw.items()}
        return {
            name: consolidate(self.cw[name], p.detach(), self.active, self.past, self.cur)
            for name, p in self._tensors().items()
        }

    @torch.no_grad()
    def end(self) -> None:
        self.cw = self.consolidated()
        self.past += self.cur
        self.cur = None
        for name, p in self._tensors().items():
            p.copy_(self.cw[name])

    def inference(self, features: torch.Tensor) -> torch.Tensor:
        weights = self.consolidated()
        return F.linear(features, weights["weight"], weights.get("bias"))


class ConsolidatedModel(nn.Module):
    """The network with the consolidated head: what CWR* / AR1 are evaluated with, also mid-task."""

    def __init__(self, model: nn.Module, head: ConsolidatedHead):
        super().__init__()
        self.model = model
        self.head = head

    def forward(self, x):
        return self.head.inference(self.model.features(x))
