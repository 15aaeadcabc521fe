"""Less-Forgetting Direction and Equilibrium Point (Wen, Qiu, Wang, Cheng & Li, "Class incremental
learning with less forgetting direction and equilibrium point", IEEE TCSVT 2024; seed 004).

With theta_old the parameters after the previous task and a memory of old-task samples (the buffer):
1. LFD. A unit direction d along which the old tasks' loss grows least: minimise
   g(d) = L_mem(theta_old + r d) over the unit sphere ||d|| = 1 (r: `radius`) by Riemannian SGD - the
   Euclidean gradient r grad L_mem is projected onto the sphere's tangent space at d, a step is taken
   against it, and the result is retracted onto the sphere by normalisation. d starts at random.
2. Learning along the LFD. While training the new task, the offset s = theta - theta_old is penalised
   by the norm of its component orthogonal to d, ||s - d d^T s||^2 (weight `ortho_weight`): the update
   may move freely along d and pays for every other direction.
3. EP. At the task's end the equilibrium point on the segment theta(a) = theta_old + a (theta_new -
   theta_old) is searched over a grid of a in [0, 1]: the a whose average over the learned tasks of
   the memory loss is lowest (old tasks' memory against the new task's samples in memory); the model
   takes theta(a) and is the next task's theta_old.
Seed 004's sketch has defects fixed here: its direction tensors never get a gradient (so its RSGD never
moves) and its search never evaluates the loss along the direction; here g(d) is differentiated through
torch.func.functional_call. The paper's class-incremental protocol trains on the new data together with
the exemplar memory; `replay` does that (one buffer batch per step, as ER), and can be switched off to
see the regulariser alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from clcore.mechanics.gradients import (
    earlier_task_samples,
    flat_params,
    flatten,
    per_sample_losses,
    trainable,
    unflatten,
)
from clcore.strategies.base import Param, Strategy, register


def sphere_tangent(direction: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """The Riemannian gradient on the unit sphere: the Euclidean gradient's component tangent to it."""
    return gradient - torch.dot(gradient, direction) * direction


def riemannian_sphere_step(direction: torch.Tensor, gradient: torch.Tensor, lr: float) -> torch.Tensor:
    """One Riemannian SGD step on the unit sphere: against the tangent gradient, then retraction onto
    the sphere by normalisation."""
    moved = direction - lr * sphere_tangent(direction, gradient)
    return moved / moved.norm().clamp_min(1e-12)


def find_direction(
    loss_at: Callable[[torch.Tensor], torch.Tensor],
    anchor: torch.Tensor,
    start: torch.Tensor,
    radius: float,
    lr: float,
    steps: int,
) -> torch.Tensor:
    """The less-forgetting direction: Riemannian SGD from the unit vector `start` on
    g(d) = loss_at(anchor + radius * d), for a differentiable `loss_at(flat parameters)`."""
    direction = start / start.norm()
    for _ in range(steps):
        probe = direction.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(loss_at(anchor + radius * probe), probe)
        direction = riemannian_sphere_step(direction, gradient, lr)
    return direction


def orthogonal_component(offset: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """offset - d d^T offset for a unit vector d: the part of the offset not along d."""
    return offset - torch.dot(offset, direction) * direction


def equilibrium_point(criterion: Callable[[float], float], points: int) -> tuple[list[float], list[float], int]:
    """The grid a_i = i / (points - 1) over [0, 1], the criterion at each, and the index of its minimum
    (the lowest a among ties: the point closest to the old parameters)."""
    alphas = [i / (points - 1) for i in range(points)]
    values = [float(criterion(a)) for a in alphas]
    return alphas, values, min(range(points), key=lambda i: (values[i], i))


@dataclass(frozen=True)
class Equilibrium:
    """The equilibrium point search at a task end (move from the old parameters towards the new ones by
    alpha): the criterion (mean memory loss per task) and the old and new tasks' memory losses at each of
    `alphas`, and the `alpha` chosen."""

    alphas: list[float]
    criterion: list[float]
    alpha: float
    old_loss: list[float | None]
    new_loss: list[float | None]


@dataclass(frozen=True)
class DirectionSearch:
    """The earlier tasks' memory loss at the anchor, and at `radius` from it along the less-forgetting
    direction found and along the random direction the search started from."""

    random_loss: float
    direction_loss: float
    anchor_loss: float


@dataclass(frozen=True)
class LFDReport:
    """A task end: the equilibrium search (None at the first task: no old parameters yet) and the direction
    search (None after the last task)."""

    equilibrium: Equilibrium | None = None
    direction: DirectionSearch | None = None


@register
class LessForgettingDirection(Strategy):
    name = "lfd"
    needs_boundaries = "earlier_tasks"
    family = "hybrid"
    report_type = LFDReport
    title = "Less-Forgetting Direction + Equilibrium Point (LFD)"
    summary = (
        "Lets the parameters move freely only along a direction that barely raises the old tasks' "
        "memory loss, then interpolates old and new parameters to their equilibrium point."
    )
    params = (
        Param("ortho_weight", 0.1, 0.0, 1e4, "weight of the penalty on the update's part orthogonal to the direction"),
        Param(
            "radius",
            1.0,
            1e-3,
            100.0,
            "distance from the old parameters at which a direction's old-task loss is measured",
        ),
        Param("direction_steps", 50, 0, 2000, "Riemannian SGD steps of the direction search (0: a random direction)"),
        Param(
            "direction_lr",
            0.1,
            1e-4,
            100.0,
            "step size of the direction search (stable while direction_lr * radius^2 * |grad| stays small)",
        ),
        Param("ep_points", 21, 2, 1001, "grid points in [0, 1] for the equilibrium coefficient"),
        Param("replay", True, help="train each batch together with a buffer batch (the exemplar memory)"),
    )
    uses_buffer = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.anchor: torch.Tensor | None = None  # theta_old, flat
        self.direction: torch.Tensor | None = None  # the LFD, a unit vector
        self.report: LFDReport | None = None

    def observe(self, batch):
        x, y, task = batch.x, batch.y, batch.task
        if self.hp.replay and len(self.buffer):
            replay = self.replay_batch()
            x, y, task = torch.cat([x, replay.x]), torch.cat([y, replay.y]), torch.cat([task, replay.task])
        loss = self.classification_loss(self.model(x), y, task)
        if self.direction is not None:
            offset = flatten(trainable(self.model)) - self.anchor
            orthogonal = orthogonal_component(offset, self.direction)
            loss = loss + self.hp.ortho_weight * orthogonal.pow(2).sum()
            self.stats.add("offset_along", torch.dot(offset.detach(), self.direction).abs())
            self.stats.add("offset_orthogonal", orthogonal.detach().norm())
        self.optimizer_step(loss)
        self.buffer.add(batch.raw, batch.y, batch.task)
        return loss.detach()

    # memory losses at other parameters -------------------------------------------------------------
    def memory_loss_at(self, flat: torch.Tensor, memory) -> torch.Tensor:
        """Mean memory loss of each task in `memory`, at flat parameters `flat` (differentiable in it)."""
        losses = per_sample_losses(
            self.model,
            unflatten(self.model, flat),
            memory.x,
            memory.y,
            lambda logits: self.task_logits(logits, memory.task),
        )
        return torch.stack([losses[memory.task == t].mean() for t in memory.task.unique().tolist()])

    def end_task(self, task_index):
        memory = earlier_task_samples(self, before=task_index + 1)  # every task learned so far
        equilibrium = direction = None
        if self.anchor is not None and memory is not None:
            equilibrium = self._move_to_equilibrium(memory, task_index)
        self.anchor = flat_params(self.model)
        if memory is not None and task_index + 1 < len(self.benchmark.tasks):
            direction = self._search_direction(memory)
        self.report = LFDReport(equilibrium, direction)

    def _move_to_equilibrium(self, memory, task_index: int) -> Equilibrium:
        new = flat_params(self.model)
        tasks = memory.task.unique().tolist()
        per_task = {}

        def criterion(alpha):
            with torch.no_grad():
                losses = self.memory_loss_at(self.anchor + alpha * (new - self.anchor), memory)
            per_task[alpha] = losses
            return losses.mean()

        alphas, values, best = equilibrium_point(criterion, self.hp.ep_points)
        old = [t != task_index for t in tasks]
        with torch.no_grad():
            chosen = self.anchor + alphas[best] * (new - self.anchor)
            for p, value in zip(trainable(self.model), unflatten(self.model, chosen).values()):
                p.copy_(value)
        return Equilibrium(
            alphas=alphas,
            criterion=values,
            alpha=alphas[best],
            old_loss=[float(per_task[a][torch.tensor(old)].mean()) if any(old) else None for a in alphas],
            new_loss=[
                float(per_task[a][torch.tensor(old).logical_not()].mean()) if not all(old) else None for a in alphas
            ],
        )

    def _search_direction(self, memory) -> DirectionSearch:
        def old_loss(flat):
            return self.memory_loss_at(flat, memory).mean()

        start = torch.randn(len(self.anchor), generator=self.generator).to(self.anchor.device)
        start = start / start.norm()
        self.direction = find_direction(
            old_loss, self.anchor, start, self.hp.radius, self.hp.direction_lr, self.hp.direction_steps
        )
        with torch.no_grad():
            return DirectionSearch(
                random_loss=float(old_loss(self.anchor + self.hp.radius * start)),
                direction_loss=float(old_loss(self.anchor + self.hp.radius * self.direction)),
                anchor_loss=float(old_loss(self.anchor)),
            )

    def task_end_report(self):
        return self.report
