"""Cutting a network at a block (clcore.models.BlockChain) and freezing what lies below the cut: the
shared mechanics of latent replay, CWR* and AR1, and what their views show (which layers still learn,
and what a buffer of latent activations costs next to one of raw images)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from clcore.errors import ConfigError


def check_cut(model: nn.Module, strategy: str, cut: int) -> None:
    depth = getattr(model, "depth", None)
    if depth is None:
        raise ConfigError("model", "not_cuttable", strategy=strategy, model=type(model).__name__)
    if cut > depth:
        raise ConfigError("params.latent_layer", "cut_too_deep", value=cut, depth=depth)


def freeze_lower(model: nn.Module, cut: int, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Freeze the first `cut` blocks: no gradients, batch-norm statistics fixed (eval mode), and out of
    the optimizer (so weight decay or momentum cannot move them either). Returns the optimizer of the
    parameters that still learn: the same kind with the same settings."""
    for module in model.lower_modules(cut):
        module.requires_grad_(False)
    keep_frozen_in_eval(model, cut)
    return type(optimizer)([p for p in model.parameters() if p.requires_grad], **optimizer.defaults)


def keep_frozen_in_eval(model: nn.Module, cut: int) -> None:
    """Evaluation switches the whole model back to training mode afterwards; frozen blocks must keep
    their batch-norm statistics, so this is re-asserted before they run."""
    for module in model.lower_modules(cut):
        module.eval()


@dataclass(frozen=True)
class LayerRow:
    """A block (or the classifier): its name, parameter count and how many of them still learn."""

    name: str
    params: int
    trainable: int


@dataclass(frozen=True)
class LatentMemory:
    """What the latent buffer holds (`stored` activations of `latent_shape`), in bytes, next to the same
    number of raw inputs."""

    stored: int
    latent_shape: list[int]
    latent_bytes: int
    raw_bytes: int


def layer_table(model: nn.Module) -> list[LayerRow]:
    """Per block and the classifier: its name, parameter count and how many of them still learn."""
    names = {module: name for name, module in model.named_modules()}
    rows = []
    for i, (modules, _) in enumerate(model.blocks()):
        params = [p for m in modules for p in m.parameters()]
        label = "+".join(names[m] for m in modules) or f"block {i + 1} (no parameters)"
        rows.append(LayerRow(label, sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)))
    head = list(model.classifier.parameters())
    rows.append(LayerRow("classifier", sum(p.numel() for p in head), sum(p.numel() for p in head if p.requires_grad)))
    return rows


def memory_report(buffer, raw_example: torch.Tensor) -> LatentMemory:
    """What the latent buffer holds, in bytes, next to the same number of raw inputs (`raw_example`:
    one input as the data set keeps it)."""
    stored = len(buffer)
    latent = buffer.x[0] if buffer.x is not None else None
    return LatentMemory(
        stored=stored,
        latent_shape=list(latent.shape) if latent is not None else [],
        latent_bytes=stored * (latent.numel() * latent.element_size() if latent is not None else 0),
        raw_bytes=stored * raw_example.numel() * raw_example.element_size(),
    )
