"""Learned binary weight masks over fixed weights, as Piggyback and SupSup train them: the binarisers
(straight-through), the masked network both build on, and its capacity report (which task's mask keeps
which weights)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from clcore.mechanics.task_aware import CapacityReport, TaskAwareNet, owner_fractions


@dataclass(frozen=True)
class MaskDensity:
    """Per layer, the fraction of its weights each masked task's mask keeps (`tasks` name them in order)."""

    tasks: list[str]
    layers: dict[str, list[float]]


@dataclass(frozen=True, kw_only=True)
class MaskedCapacityReport(CapacityReport):
    """The capacity report of a masked network, with each task's mask density."""

    mask_density: MaskDensity


def straight_through(hard: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """`hard` in the forward pass, while the gradient reaches `scores` unchanged (the straight-through
    estimator of Bengio et al. 2013, as Piggyback and edge-popup train their masks)."""
    return hard + (scores - scores.detach())  # (s - s) first: exactly 0, so the forward is exactly `hard`


def threshold_mask(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Piggyback's binariser (Mallya et al. 2018, eq. 1): 1 where the real-valued mask exceeds the threshold."""
    return straight_through((scores > threshold).to(scores.dtype), scores)


def top_k_mask(scores: torch.Tensor, keep: float) -> torch.Tensor:
    """Edge-popup's supermask (Ramanujan et al. 2020), as SupSup uses it: 1 on the round(keep * n) weights
    with the largest |score|, 0 elsewhere. The gradient passes straight through to |score| (edge-popup ranks
    and trains the scores' magnitudes), so a score moves by sign(score) times the mask's gradient."""
    magnitude = scores.abs()
    flat = magnitude.detach().flatten()
    hard = torch.zeros_like(flat)
    hard[torch.topk(flat, round(keep * flat.numel()), sorted=False).indices] = 1.0
    return straight_through(hard.view_as(scores), magnitude)


def first_owners(masks: list[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    """Per entry of `weight`, 1 + the index of the first of `masks` that keeps it (0: no mask keeps it)."""
    owner = torch.zeros_like(weight, dtype=torch.int16)
    for k, mask in enumerate(masks):
        owner = torch.where((owner == 0) & (mask > 0), torch.full_like(owner, k + 1), owner)
    return owner


class MaskedMLP(TaskAwareNet):
    """Fully connected layers whose weights every task shares, each task seeing them through its own binary
    masks (one per masked layer) binarised from learned real-valued scores by `binarise`. A task without
    scores (Piggyback's first task) uses the weights unmasked."""

    def __init__(self, layers: list[nn.Linear], classes_per_task, n_classes: int):
        super().__init__(classes_per_task, n_classes)
        self.layers = nn.ModuleList(layers)
        self.scores = nn.ModuleList()  # per task: one score tensor per layer (empty: the task is unmasked)
        self.output_masked = False  # whether the last masked layer is the output layer

    def binarise(self, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def add_scores(self, scores: list[torch.Tensor]) -> nn.ParameterList:
        """The next task's scores (an empty list: no mask)."""
        self.scores.append(nn.ParameterList(nn.Parameter(s) for s in scores))
        return self.scores[-1]

    def masks(self, task: int) -> list[torch.Tensor] | None:
        """Task's binary masks per layer; None for a task with no scores (unmasked, or not begun)."""
        if task >= len(self.scores) or not len(self.scores[task]):
            return None
        return [self.binarise(s) for s in self.scores[task]]

    def masked_tasks(self) -> list[int]:
        return [t for t, scores in enumerate(self.scores) if len(scores)]

    def features(self, x: torch.Tensor, masks: list[torch.Tensor] | None, n_layers: int) -> torch.Tensor:
        """The first n_layers layers (each followed by a ReLU) under a task's `masks` (None: unmasked)."""
        h = x.flatten(1)
        for i, layer in enumerate(self.layers[:n_layers]):
            weight = layer.weight if masks is None else layer.weight * masks[i]
            h = F.relu(F.linear(h, weight, layer.bias))
        return h

    def capacity(self, baseline_params: int, image_shape, owners_note: str) -> MaskedCapacityReport:
        """The family's capacity report for masks: per layer, the share of weights first kept by each
        masked task (and by none), each task's kept fraction per layer (`mask_density`), and each masked
        task's first-layer mask as an image: the fraction of each input pixel's weights it keeps."""
        tasks = self.masked_tasks()
        with torch.no_grad():
            masks = {t: [m.detach() for m in self.masks(t)] for t in tasks}
        names = [f"layer {i + 1}" for i in range(len(self.layers))]
        if self.output_masked:
            names[-1] = "output layer"
        layers = {
            name: owner_fractions(first_owners([masks[t][i] for t in tasks], layer.weight), len(tasks))
            for (i, name), layer in zip(enumerate(names), self.layers)
        }
        density = {name: [float(masks[t][i].mean()) for t in tasks] for i, name in enumerate(names)}
        c, h, w = image_shape
        images = [masks[t][0].mean(0).view(c, h, w).mean(0).cpu().tolist() for t in tasks]
        titles = [f"T{t + 1}" for t in tasks]
        return MaskedCapacityReport.measure(
            self,
            baseline_params,
            [*titles, "no mask"],
            layers,
            unit=f"weights ({owners_note})",
            first_layer_masks=images,
            masks_caption="Fraction of each input pixel's first-layer weights that each task's mask keeps",
            masks_titles=titles,
            mask_density=MaskDensity(titles, density),
        )
