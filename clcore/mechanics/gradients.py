"""Gradient mechanics shared by the gradient-based strategies (GEM, A-GEM, MIR, LFD): parameters and
their gradients as one flat vector, gradients of a loss on a set of samples, per-sample losses at other
parameter values (torch.func.functional_call, without touching the model), the episodic-memory
projections of GEM and A-GEM, and which buffer samples belong to earlier tasks.

Flat vectors follow the order of `model.parameters()` (trainable ones only)."""

from __future__ import annotations

import numpy as np
import quadprog
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

# quadprog needs a strictly positive definite matrix; when memory gradients are linearly dependent the
# Gram matrix is only semi-definite, and a ridge this small (relative to the mean squared gradient norm)
# makes it definite while moving the solution by ~1e-8 relative.
GEM_RIDGE = 1e-8


def trainable(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def flatten(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(model: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """A flat vector as {name: tensor} shaped like the model's trainable parameters (views of `flat`,
    so a gradient flows back to it through functional_call)."""
    named, start = {}, 0
    for name, p in model.named_parameters():
        if p.requires_grad:
            named[name] = flat[start : start + p.numel()].view_as(p)
            start += p.numel()
    return named


def flat_params(model: nn.Module) -> torch.Tensor:
    return flatten(p.detach() for p in trainable(model))


def flat_grad(model: nn.Module) -> torch.Tensor:
    """The gradient the last backward() left in the parameters (zeros where a parameter got none)."""
    return flatten(p.grad if p.grad is not None else torch.zeros_like(p) for p in trainable(model))


def assign_flat_grad(model: nn.Module, flat: torch.Tensor) -> None:
    """Overwrite the parameters' .grad with a flat vector (what the optimizer steps with)."""
    start = 0
    for p in trainable(model):
        p.grad = flat[start : start + p.numel()].view_as(p).clone()
        start += p.numel()


def loss_gradient(model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
    """d loss / d parameters as a flat vector, leaving the parameters' .grad untouched."""
    params = trainable(model)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return flatten(g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params))


def per_sample_losses(model: nn.Module, params: dict | None, x, y, logit_fn=None) -> torch.Tensor:
    """Cross-entropy of each sample, at `params` ({name: tensor}, e.g. after a virtual step) or at the
    model's own parameters (None). Buffers (batch-norm statistics) are passed as copies, so that
    evaluating a hypothetical model never changes the real one's running statistics."""
    if params is None:
        logits = model(x)
    else:
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        logits = functional_call(model, (params, buffers), (x,))
    if logit_fn is not None:
        logits = logit_fn(logits)
    return F.cross_entropy(logits, y, reduction="none")


def virtual_sgd_step(model: nn.Module, gradient: torch.Tensor, lr: float) -> dict[str, torch.Tensor]:
    """The parameters one plain SGD step of size `lr` along `gradient` (flat) would give, as
    {name: tensor}; the model itself is not changed."""
    return unflatten(model, flat_params(model) - lr * gradient)


def angle_degrees(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle between two flat vectors, in degrees (90 when either is zero)."""
    cosine = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    return torch.rad2deg(torch.arccos(cosine.clamp(-1.0, 1.0)))


def project_agem(g: torch.Tensor, g_ref: torch.Tensor) -> torch.Tensor:
    """A-GEM (Chaudhry et al. 2019, eq. 11): when g points against the reference gradient, remove that
    component, g - (g.g_ref / g_ref.g_ref) g_ref; otherwise g unchanged."""
    violation = torch.dot(g, g_ref).clamp(max=0.0)  # 0 when g is fine: no branch, no device sync
    return g - (violation / torch.dot(g_ref, g_ref).clamp_min(1e-20)) * g_ref


def project_gem(g: torch.Tensor, memory_grads: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """GEM (Lopez-Paz & Ranzato 2017, eqs. 10-11): the closest vector to g whose dot product with every
    memory gradient (rows of `memory_grads`, t x p) is non-negative. Solved through the dual
        min_v 1/2 v^T G G^T v + g^T G^T v   subject to  v >= margin,   g~ = G^T v + g
    with quadprog (Goldfarb-Idnani active set, exact), in float64. margin = 0 is the paper's problem;
    the reference code's margin ("memory strength" gamma) keeps every v_k at least gamma, biasing the
    update towards backward transfer. g is returned unchanged when it violates no constraint."""
    if bool((memory_grads @ g >= 0).all()):
        return g
    G = memory_grads.detach().double().cpu().numpy()
    g_np = g.detach().double().cpu().numpy()
    gram = G @ G.T
    gram = 0.5 * (gram + gram.T)
    t = gram.shape[0]
    # quadprog: min 1/2 v^T P v - a^T v  subject to  C^T v >= b
    problem = (-(G @ g_np), np.eye(t), np.full(t, float(margin)))
    try:
        v = quadprog.solve_qp(gram, *problem)[0]
    except ValueError:  # "matrix G is not positive definite": linearly dependent memory gradients
        ridge = GEM_RIDGE * max(float(np.trace(gram)) / t, 1e-30)
        v = quadprog.solve_qp(gram + ridge * np.eye(t), *problem)[0]
    return torch.from_numpy(v @ G + g_np).to(dtype=g.dtype, device=g.device)


def earlier_task_index(buffer, current_task: int) -> torch.Tensor:
    """Buffer slots holding samples of tasks before `current_task` (the episodic memory of GEM/A-GEM/LFD)."""
    if buffer is None or len(buffer) == 0:
        return torch.zeros(0, dtype=torch.int64)
    return torch.nonzero(buffer.task[: len(buffer)] < current_task).flatten()


def random_subset(index: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """`n` distinct entries of `index` (all if it has fewer), drawn with the run's generator."""
    order = torch.randperm(len(index), generator=generator)[: min(n, len(index))]
    return index[order.to(index.device)]


def earlier_task_samples(strategy, n: int | None = None, before: int | None = None):
    """Buffer samples of the tasks before task `before` (default: the strategy's current task), all of
    them or `n` at random, augmented like the current data; None when the buffer holds none."""
    index = earlier_task_index(strategy.buffer, strategy.current_task if before is None else before)
    if len(index) == 0:
        return None
    if n is not None:
        index = random_subset(index, n, strategy.generator)
    sample = strategy.buffer.get(index.to(strategy.buffer.device))
    if strategy.benchmark.augment is not None:
        sample.x = strategy.benchmark.augment(sample.x, strategy.generator)
    return sample
