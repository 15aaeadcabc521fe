"""CLS-ER (Arani, Sarfraz & Zonooz, ICLR 2022): complementary learning system-based experience replay.

A working model is trained on current + buffer samples. Two EMA copies of it play the fast (plastic)
and slow (stable) memories: after each optimizer step each is updated with its own probability (r_P > r_S)
and decay min(1 - 1/(step + 1), alpha). On every buffer sample, the teacher that gives the true label the
higher softmax probability supplies the target logits for an MSE consistency term. Inference uses the
stable model. One forward pass over current + buffer samples serves both the cross-entropy and the
consistency term (the reference code runs the buffer batch twice; identical without batch norm).
"""

from copy import deepcopy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clcore.mechanics.ema import ema_update
from clcore.strategies.base import Param, Strategy, register


@dataclass(frozen=True)
class TeacherChoices:
    """Replayed buffer samples per task (the sample's task) whose target came from the plastic and from
    the stable teacher; `steps`: the optimizer steps counted (one logging window; the whole run at a task
    end)."""

    plastic: list[int]
    stable: list[int]
    steps: int


@dataclass(frozen=True)
class CLSERReport:
    """Teacher choices over the whole run so far."""

    teacher_choices_total: TeacherChoices


@register
class CLSER(Strategy):
    name = "clser"
    family = "replay"
    report_type = CLSERReport
    title = "CLS-ER (fast and slow teachers)"
    summary = (
        "Replay with two EMA teachers, plastic and stable; each buffer sample is matched to the more confident one."
    )
    uses_buffer = True
    params = (
        Param("reg_weight", 0.1, 0.0, 100.0, "lambda: weight of the MSE consistency loss towards the chosen teacher"),
        Param("plastic_freq", 0.9, 0.0, 1.0, "r_P: probability of updating the plastic (fast) model after a step"),
        Param("plastic_alpha", 0.999, 0.0, 1.0, "alpha_P: EMA decay of the plastic model"),
        Param("stable_freq", 0.7, 0.0, 1.0, "r_S: probability of updating the stable (slow) model after a step"),
        Param("stable_alpha", 0.999, 0.0, 1.0, "alpha_S: EMA decay of the stable model"),
    )

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        self.plastic = deepcopy(model).requires_grad_(False)
        self.stable = deepcopy(model).requires_grad_(False)
        # listed once: listing a module's parameters at every step costs more than the EMA update itself
        self._params = [list(m.parameters()) for m in (self.model, self.plastic, self.stable)]
        # float32 like the draws, so that a draw is compared with the same threshold as a tensor comparison does
        self._update_freqs = torch.tensor([self.hp.plastic_freq, self.hp.stable_freq])
        # Per step with replay: (step, [[plastic per task], [stable per task]]); drained to `choice_log`.
        self._pending_choices = []
        self.choice_log_steps: list[int] = []
        self.choice_log = torch.zeros(0, 2, len(self.benchmark.tasks), dtype=torch.int64)

    def evaluation_models(self):
        return {"stable": self.stable, "plastic": self.plastic, "student": self.model}

    @staticmethod
    def choose_teacher(plastic_logits, stable_logits, labels):
        """Per sample, the logits of the teacher more confident on the true label (ties: plastic).
        Returns (target logits, bool mask of samples that took the stable teacher)."""
        p_plastic = F.softmax(plastic_logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        p_stable = F.softmax(stable_logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        took_stable = p_stable > p_plastic
        return torch.where(took_stable[:, None], stable_logits, plastic_logits), took_stable

    def observe(self, batch):
        x, y, task = batch.x, batch.y, batch.task
        n_current = len(y)
        replay = self.replay_batch() if len(self.buffer) else None
        if replay is not None:
            x, y, task = torch.cat([x, replay.x]), torch.cat([y, replay.y]), torch.cat([task, replay.task])
        logits = self.model(x)
        loss = self.classification_loss(logits, y, task)
        if replay is not None:
            with torch.no_grad():
                target, took_stable = self.choose_teacher(self.plastic(replay.x), self.stable(replay.x), replay.y)
            loss = loss + self.hp.reg_weight * F.mse_loss(logits[n_current:], target)
            # [[plastic per task], [stable per task]] from one count over (task, teacher) pairs
            n_tasks = len(self.benchmark.tasks)
            pairs = torch.bincount(replay.task * 2 + took_stable, minlength=2 * n_tasks)
            self._pending_choices.append(pairs.view(n_tasks, 2).T)
        self.optimizer_step(loss)
        if replay is not None:
            self.choice_log_steps.append(self.global_step)
        self.buffer.add(batch.raw, batch.y, batch.task)
        update_plastic, update_stable = (torch.rand(2, generator=self.generator) < self._update_freqs).tolist()
        params, plastic, stable = self._params
        if update_plastic:
            ema_update(plastic, params, self.hp.plastic_alpha, self.global_step)
        if update_stable:
            ema_update(stable, params, self.hp.stable_alpha, self.global_step)
        return loss.detach()

    def drain_step_stats(self):
        """Teacher choices summed over the steps since the last call, per buffer-sample task.
        The per-step counts stay in `choice_log` (steps x [plastic, stable] x tasks)."""
        if not self._pending_choices:
            return None
        window = torch.stack(self._pending_choices).cpu()
        self._pending_choices.clear()
        self.choice_log = torch.cat([self.choice_log, window])
        totals = window.sum(0)
        return TeacherChoices(totals[0].tolist(), totals[1].tolist(), len(window))

    def task_end_report(self):
        totals = self.choice_log.sum(0)
        return CLSERReport(TeacherChoices(totals[0].tolist(), totals[1].tolist(), len(self.choice_log)))
