"""Exponential moving average of a model's weights (the mean-teacher update used by CLS-ER)."""

import torch


def ema_alpha(alpha_max: float, global_step: int) -> float:
    """Warm-up: alpha = min(1 - 1/(step + 1), alpha_max), so early averages are not stuck at the init."""
    return min(1.0 - 1.0 / (global_step + 1), alpha_max)


@torch.no_grad()
def ema_update(ema_params: list[torch.Tensor], params: list[torch.Tensor], alpha_max: float, global_step: int) -> float:
    """ema <- alpha * ema + (1 - alpha) * param, pairwise over two models' parameter lists (listed once by the
    caller: listing a module's parameters costs more than updating a small model); returns the alpha used."""
    alpha = ema_alpha(alpha_max, global_step)
    torch._foreach_lerp_(ema_params, params, 1.0 - alpha)
    return alpha
