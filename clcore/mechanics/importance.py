"""Per-parameter importance shared by the regularisation strategies (EWC's Fisher, SI's path integral):
the quadratic penalty that anchors important weights, and a compact summary for the importance views."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, vmap


def named_params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in named_params(model).items()}


def quadratic_penalty(model: nn.Module, anchor: dict, importance: dict) -> torch.Tensor:
    """sum_k importance_k * (theta_k - anchor_k)^2: zero at the anchor, gradient 2*importance*(theta - anchor).
    Trainable parameters without an importance (e.g. a head that AR1 leaves to CWR*) are not anchored."""
    terms = [
        (importance[name] * (p - anchor[name]).pow(2)).sum()
        for name, p in named_params(model).items()
        if name in importance
    ]
    return torch.stack(terms).sum()


def online_sum(running: dict | None, new: dict, decay: float = 1.0) -> dict:
    """Accumulated importance after a task: decay * running + new (online EWC's gamma; SI sums, decay 1).
    Parameters that are only in one of the two keep that one's value."""
    if running is None:
        return dict(new)
    return {**new, **{k: decay * v + new[k] if k in new else v for k, v in running.items()}}


def task_fisher(model: nn.Module, benchmark, task_index: int, max_samples: int = 0, logit_fn=None) -> dict:
    """The empirical Fisher of a task's first `max_samples` training examples (0: all of them)."""
    task = benchmark.tasks[task_index]
    n = len(task.train_idx) if max_samples == 0 else min(max_samples, len(task.train_idx))
    x, y = benchmark.train_batch(task, torch.arange(n, device=benchmark.device))
    n_params = sum(p.numel() for p in model.parameters())
    return empirical_fisher(model, x, y, logit_fn=logit_fn, chunk=max(1, min(256, int(2e7 // n_params))))


def empirical_fisher(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, logit_fn=None, chunk: int = 256
) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher: the mean over samples of (d log p(y_i | x_i) / d theta)^2.

    Networks made only of linear layers (the MLPs) take an exact shortcut; others get per-sample
    gradients in vectorised chunks (torch.func). Both evaluate in eval mode, so that one sample's
    gradient never depends on the rest of its chunk (batch norm)."""
    was_training = model.training
    model.eval()
    try:
        linear_only = all(
            isinstance(m, nn.Linear) for m in model.modules() if next(m.parameters(False), None) is not None
        )
        fisher = (_fisher_linear if linear_only else _fisher_vmap)(model, x, y, logit_fn, chunk)
    finally:
        model.train(was_training)
    return {k: v / max(1, len(x)) for k, v in fisher.items()}


def _log_likelihood(logits, y, logit_fn):
    if logit_fn is not None:
        logits = logit_fn(logits)
    return torch.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)


def _fisher_linear(model, x, y, logit_fn, chunk):
    """A linear layer's per-sample weight gradient is the outer product delta_i a_i^T (delta: gradient at
    its output, a: its input), so sum_i (delta_i a_i^T)^2 = (delta^2)^T (a^2): one product per layer and
    chunk instead of materialising every per-sample gradient (about 100x faster for the MLP)."""
    layers = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    seen = {}
    hooks = [
        m.register_forward_hook(lambda _m, inputs, output, name=name: seen.__setitem__(name, (inputs[0], output)))
        for name, m in layers.items()
    ]
    fisher = {k: torch.zeros_like(v) for k, v in named_params(model).items()}
    try:
        for start in range(0, len(x), max(chunk, 1024)):
            with torch.enable_grad():
                total = _log_likelihood(
                    model(x[start : start + max(chunk, 1024)]), y[start : start + max(chunk, 1024)], logit_fn
                ).sum()  # a sum: each sample's delta keeps its own scale
                deltas = torch.autograd.grad(total, [seen[name][1] for name in layers])
            for (name, layer), delta in zip(layers.items(), deltas):
                a = seen[name][0].detach()
                fisher[f"{name}.weight"] += delta.pow(2).T @ a.pow(2)
                if layer.bias is not None:
                    fisher[f"{name}.bias"] += delta.pow(2).sum(0)
    finally:
        for hook in hooks:
            hook.remove()
    return fisher


def _fisher_vmap(model, x, y, logit_fn, chunk):
    params = {k: v.detach() for k, v in named_params(model).items()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def log_likelihood(p, xi, yi):
        logits = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return _log_likelihood(logits, yi.unsqueeze(0), logit_fn).squeeze(0)

    per_sample_grad = vmap(grad(log_likelihood), in_dims=(None, 0, 0))
    fisher = {k: torch.zeros_like(v) for k, v in params.items()}
    for start in range(0, len(x), chunk):
        for k, g in per_sample_grad(params, x[start : start + chunk], y[start : start + chunk]).items():
            fisher[k] += g.pow(2).sum(0)
    return fisher


@dataclass(frozen=True)
class Histogram:
    """A parameter tensor's importance: log10 histogram (counts per bin, bin edges), mean and max."""

    log10_counts: list[float]
    log10_edges: list[float]
    mean: float
    max: float


@dataclass(frozen=True)
class ImportanceSummary:
    """What the importance views draw: a histogram per parameter tensor and, for a linear first layer that
    sees the image, its importance per hidden unit as images (units x H x W) and per input pixel (H x W).
    The unit maps are too large for a run's JSON result, which drops them (None when read back)."""

    layers: dict[str, Histogram]
    unit_maps: torch.Tensor | None = None
    pixel_map: torch.Tensor | None = None


@dataclass(frozen=True)
class ImportanceReport:
    """A regularisation strategy's task-end report: the accumulated and the last task's own importance."""

    importance: ImportanceSummary
    task_importance: ImportanceSummary


def importance_summary(model: nn.Module, importance: dict[str, torch.Tensor], image_shape, bins: int = 30):
    first = model.first_layer
    first_name = next(name for name, p in model.named_parameters() if p is first.weight)
    w = importance[first_name].detach().float().cpu()
    c, h, wd = image_shape
    unit_maps = w.view(-1, c, h, wd).sum(1) if w.dim() == 2 and w.shape[1] == c * h * wd else None
    layers = {}
    for name, value in importance.items():
        v = value.detach().float().flatten().cpu().clamp_min(1e-12).log10()
        counts, edges = torch.histogram(v, bins=bins)
        layers[name] = Histogram(counts.tolist(), edges.tolist(), float(value.mean()), float(value.max()))
    return ImportanceSummary(layers, unit_maps, None if unit_maps is None else unit_maps.sum(0))


def importance_report(model: nn.Module, importance: dict, task_importance: dict, image_shape) -> ImportanceReport:
    return ImportanceReport(
        importance_summary(model, importance, image_shape), importance_summary(model, task_importance, image_shape)
    )
