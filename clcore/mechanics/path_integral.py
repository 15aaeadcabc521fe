"""Synaptic Intelligence's online importance (Zenke, Poole & Ganguli 2017), shared by SI and AR1.

Along each task's training path every parameter accumulates omega_k = sum_t -g_k(t) * delta_theta_k(t)
(eq. 3, its contribution to the decrease of the loss), and at the task's end its importance grows by
Omega_k += omega_k / ((Delta theta_k)^2 + xi) (eq. 5, Delta: its total change over the task)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from clcore.mechanics.importance import online_sum, quadratic_penalty


class PathIntegral:
    def __init__(self, model: torch.nn.Module, xi: float, exclude: tuple[str, ...] = ()):
        """Tracks the parameters of `model` whose names start with none of `exclude`. Frozen ones (no
        gradient) simply accumulate nothing."""
        self.model, self.xi = model, xi
        self.params = {name: p for name, p in model.named_parameters() if not name.startswith(exclude)}
        self.task_start = self._snapshot()
        self.path_integral = {k: torch.zeros_like(v) for k, v in self.task_start.items()}
        self.importance = None  # Omega, accumulated over tasks
        self.task_importance = None  # the last task's own

    def _snapshot(self) -> dict:
        return {name: p.detach().clone() for name, p in self.params.items()}

    def penalty(self) -> torch.Tensor | None:
        """sum_k Omega_k (theta_k - theta_k at the task's start)^2 over the tracked parameters that still
        learn; None before the first task ended or when none of them learns any more."""
        if self.importance is None or not any(p.requires_grad for p in self.params.values()):
            return None
        return quadratic_penalty(self.model, self.task_start, self.importance)

    def track(self, step: Callable[[], None]) -> None:
        """Run one optimizer step and add its -g * delta_theta (exact for any optimizer; lr * g^2 for
        plain SGD)."""
        moving = {name: p for name, p in self.params.items() if p.requires_grad}
        before = [p.detach().clone() for p in moving.values()]
        step()
        with torch.no_grad():
            for (name, p), old in zip(moving.items(), before):
                if p.grad is not None:
                    self.path_integral[name] -= p.grad * (p - old)

    def end_task(self) -> None:
        with torch.no_grad():
            task_omega = {
                name: omega / ((self.params[name].detach() - self.task_start[name]).pow(2) + self.xi)
                for name, omega in self.path_integral.items()
            }
        self.task_importance = task_omega
        self.importance = online_sum(self.importance, task_omega)
        self.task_start = self._snapshot()
        self.path_integral = {k: torch.zeros_like(v) for k, v in self.task_start.items()}
