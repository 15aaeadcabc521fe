"""AR1* with latent replay (Pellegrini, Graffieti, Lomonaco & Maltoni 2020, "Latent Replay for
Real-Time Continual Learning", Sec. IV; AR1 from Maltoni & Lomonaco 2019, Sec. 5).

- the classifier is CWR*'s consolidated head (clcore.mechanics.cwr): temporary weights of the classes of the step's
  examples, the current task's and those in the latent buffer (their counts include the stored ones, as
  the reference implementation does), consolidated at each task's end;
- the blocks between the latent layer and the classifier keep learning, anchored by Synaptic
  Intelligence (clcore.mechanics.path_integral; the classifier is excluded, CWR* handles it);
- the blocks below the latent layer are frozen after the first task, and the buffer replays their
  activations (latent replay, clcore.strategies.latent_replay)."""

from dataclasses import dataclass

import torch

from clcore.mechanics.importance import ImportanceSummary, importance_report
from clcore.mechanics.path_integral import PathIntegral
from clcore.strategies.base import Param, register
from clcore.strategies.cwr_star import CWRStar, CWRStarReport
from clcore.strategies.latent_replay import LatentReplay


@dataclass(frozen=True, kw_only=True)
class AR1Report(CWRStarReport):
    """CWR*'s report, with SI's importance (accumulated and the last task's) as EWC / SI report it."""

    importance: ImportanceSummary
    task_importance: ImportanceSummary


@register
class AR1(CWRStar):
    name = "ar1"
    family = "hybrid"
    # latent_layer 0 replays raw inputs and freezes nothing: above fine-tune on permuted and rotated digits
    # (bench/DEMO.md), unlike CWR* with its features frozen.
    weak_scenarios = {}
    title = "AR1* with latent replay"
    summary = "CWR* head + Synaptic Intelligence on the layers above a frozen latent layer + latent replay."
    uses_buffer = True
    report_type = AR1Report
    params = (
        LatentReplay.params[0],
        Param("c", 0.5, 0.0, 1e6, "c: strength of SI's penalty on the layers between the latent layer and the head"),
        Param("xi", 1.0, 1e-9, 1e3, "xi: SI's damping added to the squared total change of each weight"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.si = PathIntegral(self.model, self.hp.xi, exclude=("classifier.",))

    frozen_blocks = LatentReplay.frozen_blocks  # its own latent_layer, not CWR*'s switch

    def class_counts(self, task_index):
        counts = super().class_counts(task_index)
        if len(self.buffer):
            counts = counts + torch.tensor(
                self.buffer.composition(len(self.benchmark.tasks))["classes"], device=counts.device
            )
        return counts

    def loss(self, logits, y, task):
        loss = super().loss(logits, y, task)
        penalty = self.si.penalty()
        return loss if penalty is None else loss + self.hp.c * penalty

    def step(self, loss):
        self.si.track(lambda: super(AR1, self).step(loss))

    def end_task(self, task_index):
        self.si.end_task()
        super().end_task(task_index)  # consolidate the head, freeze (after the first task), store latents

    def task_end_report(self):
        importance = importance_report(
            self.model, self.si.importance, self.si.task_importance, self.benchmark.data.image_shape
        )
        return AR1Report(**vars(super().task_end_report()), **vars(importance))
