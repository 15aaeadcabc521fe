"""Replay buffer on the training device: inputs, labels, task ids and (for DER-style replay) logits.

Two insertion policies:
- "reservoir": reservoir sampling over the stream, vectorised per batch and exactly equal to the
  sequential algorithm (every example seen so far is kept with probability capacity / seen).
- "balanced": greedy class-balanced sampling (GDumb): once full, a sample of an under-represented
  class replaces a random sample of the currently largest class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

BUFFER_POLICIES = ("reservoir", "balanced")


@dataclass
class BufferBatch:
    x: torch.Tensor
    y: torch.Tensor
    task: torch.Tensor
    logits: torch.Tensor | None
    index: torch.Tensor  # slots in the buffer, to update stored values


class ReplayBuffer:
    def __init__(
        self,
        capacity: int,
        n_classes: int,
        device="cpu",
        policy: str = "reservoir",
        generator: torch.Generator | None = None,
    ):
        if policy not in BUFFER_POLICIES:
            raise ValueError(f"unknown buffer policy {policy}")
        self.capacity, self.n_classes, self.policy = int(capacity), n_classes, policy
        self.device = torch.device(device)
        self.generator = generator or torch.Generator().manual_seed(0)  # CPU: decisions, not data
        self.seen = 0
        self.filled = 0
        self.x = self.y = self.task = self.logits = None
        self._slot_class = np.full(self.capacity, -1, dtype=np.int64)  # balanced policy bookkeeping

    def __len__(self) -> int:
        return self.filled

    def _allocate(self, x, logits):
        self.x = torch.zeros((self.capacity, *x.shape[1:]), dtype=x.dtype, device=self.device)
        self.y = torch.zeros(self.capacity, dtype=torch.int64, device=self.device)
        self.task = torch.zeros(self.capacity, dtype=torch.int64, device=self.device)
        if logits is not None:
            self.logits = torch.zeros((self.capacity, logits.shape[1]), dtype=logits.dtype, device=self.device)

    def _reservoir_placement(self, batch_size: int) -> dict:
        """{slot: batch row} to write. Decided on Python numbers: a batch is small, and late in a stream most
        batches keep nothing, which then costs no tensor work at all."""
        draws = torch.rand(batch_size, generator=self.generator, dtype=torch.float64).tolist()
        written = {}
        for row, draw in enumerate(draws):
            position = self.seen + row
            slot = position if position < self.capacity else int(draw * (position + 1))
            if slot < self.capacity:
                written[slot] = row  # two rows of one batch may draw the same slot: sequentially the later wins
        return written

    def _balanced_placement(self, labels: np.ndarray) -> dict:
        counts = np.bincount(self._slot_class[self._slot_class >= 0], minlength=self.n_classes)
        written = {}  # slot -> batch row; later rows overwrite earlier ones
        for row, label in enumerate(labels):
            if self.filled < self.capacity:
                slot = self.filled
                self.filled += 1
            else:
                seen_classes = max(1, int(np.count_nonzero(counts)) + (counts[label] == 0))
                if counts[label] >= self.capacity / seen_classes:
                    continue
                largest = np.flatnonzero(counts == counts.max())
                victim_class = largest[int(torch.randint(len(largest), (1,), generator=self.generator))]
                candidates = np.flatnonzero(self._slot_class == victim_class)
                slot = int(candidates[int(torch.randint(len(candidates), (1,), generator=self.generator))])
                counts[victim_class] -= 1
            self._slot_class[slot] = label
            counts[label] += 1
            written[slot] = row
        return written

    @torch.no_grad()
    def add(self, x: torch.Tensor, y: torch.Tensor, task: int | torch.Tensor, logits: torch.Tensor | None = None):
        if self.capacity <= 0:
            return
        if self.x is None:
            self._allocate(x, logits)
        if self.policy == "reservoir":
            written = self._reservoir_placement(len(y))
            self.filled = min(self.capacity, self.seen + len(y))
        else:
            written = self._balanced_placement(y.cpu().numpy())
        self.seen += len(y)
        if not written:
            return
        slots = torch.tensor(list(written), device=self.device)
        rows = torch.tensor(list(written.values()), device=x.device)
        task = torch.as_tensor(task, device=x.device).expand(len(y))
        for store, values in ((self.x, x), (self.y, y), (self.task, task), (self.logits, logits)):
            if values is not None:
                store.index_copy_(0, slots, values.detach().index_select(0, rows).to(self.device, store.dtype))

    @torch.no_grad()
    def replace(self, x: torch.Tensor, y: torch.Tensor, task: torch.Tensor) -> None:
        """Hold exactly these samples, in this order, bypassing the insertion policy: for strategies that
        choose their memory themselves (iCaRL's herding)."""
        if len(y) > self.capacity:
            raise ValueError(f"{len(y)} samples do not fit a buffer of {self.capacity}")
        if self.x is None:
            self._allocate(x, None)
        n = len(y)
        self.x[:n], self.y[:n], self.task[:n] = x.to(self.device), y.to(self.device), task.to(self.device)
        self.filled = n
        self._slot_class[:] = -1
        self._slot_class[:n] = y.cpu().numpy()

    def sample(self, n: int) -> BufferBatch:
        """`n` distinct stored samples (fewer if the buffer holds fewer), uniformly at random."""
        n = min(n, self.filled)
        index = torch.randperm(self.filled, generator=self.generator)[:n].to(self.device)
        return self.get(index)

    def get(self, index: torch.Tensor) -> BufferBatch:
        logits = self.logits.index_select(0, index) if self.logits is not None else None
        return BufferBatch(
            self.x.index_select(0, index),
            self.y.index_select(0, index),
            self.task.index_select(0, index),
            logits,
            index,
        )

    def composition(self, n_tasks: int) -> dict:
        """How many stored samples belong to each class and to each task (plain lists, for plots)."""
        if self.filled == 0:
            return {"classes": [0] * self.n_classes, "tasks": [0] * n_tasks, "size": 0}
        y, t = self.y[: self.filled], self.task[: self.filled]  # both policies fill slots in order
        return {
            "classes": torch.bincount(y, minlength=self.n_classes).tolist(),
            "tasks": torch.bincount(t, minlength=n_tasks).tolist(),
            "size": self.filled,
        }
