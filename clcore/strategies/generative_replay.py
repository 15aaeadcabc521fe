"""Deep Generative Replay (Shin, Lee, Kim & Kim, NeurIPS 2017): a generator and a solver learn together.

A VAE (clcore/mechanics/vae.py) is the generator. While task t is learned, a frozen copy of the generator and of
the solver from the end of task t-1 provide the replay: the old generator draws inputs x' and the old
solver labels them, y' = argmax of its logits over the classes seen before task t (hard labels, as in
Shin et al.; the VAE itself is unconditional and never labels anything). Both current models then train
on the real batch mixed with the replay, with the paper's mixing ratio r of real data (Shin et al.,
Sec. 3, the solver loss):

    L_solver = r * CE(S(x), y) + (1 - r) * CE(S(x'), y')
    L_generator = r * negELBO(x) + (1 - r) * negELBO(x')

so the generator learns the current task and keeps its own past (its training data for old tasks are
its frozen copy's samples). By default r = 1 / (tasks seen so far), which weighs every task equally
(van de Ven & Tolias, "Three scenarios for continual learning", arXiv:1904.07734). With `distill` the
replayed samples' target is the old solver's softmax at T = 2 over the same classes instead of its argmax
(DGR+distill, van de Ven & Tolias 2018, arXiv:1809.10635): a generator trained for a demo's few steps draws
ambiguous inputs, and a hard label teaches the solver a wrong class for them (Permuted-MNIST validation, seed 0:
best 42.3 % with hard labels, 79.6 % with soft targets, fine-tune 68.6 %). In this engine the
generator takes one step per incoming batch, next to the solver's step.

The generated inputs live in the classifier's own input space (normalised, and permuted for
Permuted-MNIST), see clcore/mechanics/vae.py. The generator side (GenerativeMemory) is shared with
`generative_negative_replay`, which replays the same kind of samples into AR1* as negatives only.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

import torch

from clcore.mechanics.losses import distillation_loss
from clcore.mechanics.vae import VAE
from clcore.strategies.base import Param, Strategy, register

GALLERY_EVERY = 500  # optimizer steps between the snapshots of generated samples the view shows
GALLERY_DRAWS = 64  # samples drawn per snapshot; up to GALLERY_PER_CLASS of each seen class are kept
GALLERY_PER_CLASS = 2
DISTILL_TEMPERATURE = 2.0  # DGR+distill's T (van de Ven & Tolias 2018, arXiv:1809.10635)
NOT_COMPETING = -1e4  # the logit of a class left out of the soft targets: softmax 0, and the KL stays finite


@dataclass(frozen=True)
class Gallery:
    """A few of the generator's samples at optimizer step `step`, as [0, 255] integer images (rows x columns,
    x channels for colour), and the class the solver sees in each."""

    step: int
    classes: list[int]
    images: list


@dataclass(frozen=True)
class GenerativeReplayReport:
    """At a task end: what the generator produces."""

    gallery: Gallery


GENERATOR_PARAMS = (
    Param(
        "new_data_ratio",
        0.0,
        0.0,
        1.0,
        "r: weight of the current data in both losses (replay gets 1 - r); 0 means 1 / (tasks seen so far)",
    ),
    Param("latent_size", 32, 2, 512, "dimensions of the VAE's latent code z"),
    Param("vae_hidden", 256, 16, 2048, "units in each of the VAE's two hidden layers (encoder and decoder)"),
    Param("vae_lr", 0.001, 1e-6, 0.1, "learning rate of the VAE's Adam optimizer"),
)


class GenerativeMemory:
    """The generator side of generative replay, shared by DGR and GNR: the VAE that learns the inputs
    seen so far, its frozen copy from the last task's end (the source of replayed inputs), and the
    snapshots of its samples the view shows. `hp` holds GENERATOR_PARAMS."""

    def __init__(self, benchmark, hp, generator: torch.Generator):
        data = benchmark.data
        self.vae = VAE(data.image_shape, data.mean, data.std, hp.vae_hidden, hp.latent_size).to(benchmark.device)
        self.optimizer = torch.optim.Adam(self.vae.parameters(), lr=hp.vae_lr, foreach=True)
        self.previous_vae = None
        self.ratio_setting = hp.new_data_ratio
        # The view's snapshots draw from their own seeded stream, so showing them never changes training.
        self.gallery_generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=generator)))

    def begin_task(self, task_index: int) -> None:
        if task_index > 0:
            self.previous_vae = deepcopy(self.vae).requires_grad_(False).eval()

    def new_data_ratio(self, task_index: int) -> float:
        return self.ratio_setting or 1.0 / (task_index + 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor | None:
        """`n` inputs from the frozen generator (None during the first task: nothing to replay yet)."""
        return None if self.previous_vae is None else self.previous_vae.sample(n, generator)

    def learn(self, x: torch.Tensor, replay: torch.Tensor | None, ratio: float, generator: torch.Generator):
        """One Adam step of the VAE on the current inputs `x` and the replayed ones, weighted r and
        1 - r. Returns the (reconstruction, KL) means on the current inputs."""
        inputs = x if replay is None else torch.cat([x, replay])
        reconstruction, kl = self.vae.negative_elbo(inputs, generator)
        per_image = reconstruction + kl
        loss = per_image[: len(x)].mean()
        if replay is not None:
            loss = ratio * loss + (1.0 - ratio) * per_image[len(x) :].mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return reconstruction[: len(x)].mean().detach(), kl[: len(x)].mean().detach()

    @torch.no_grad()
    def gallery(self, classify, step: int) -> Gallery:
        """A few samples of the current generator per class `classify` (inputs -> class indices) sees
        in them, taken at optimizer step `step`."""
        x = self.vae.sample(GALLERY_DRAWS, self.gallery_generator)
        classes = classify(x)
        kept, per_class = [], {}
        for i, c in sorted(enumerate(classes.tolist()), key=lambda item: item[1]):
            if per_class.get(c, 0) < GALLERY_PER_CLASS:
                kept.append(i)
                per_class[c] = per_class.get(c, 0) + 1
        pixels = (self.vae.to_pixels(x[kept]) * 255).round().to(torch.uint8).cpu()
        images = pixels[:, 0] if pixels.shape[1] == 1 else pixels.permute(0, 2, 3, 1)
        return Gallery(step, classes[kept].tolist(), images.tolist())


class GenerativeMemoryHooks:
    """Mixin of the strategies replaying a GenerativeMemory (DGR, GNR): builds `self.memory`, keeps the
    old / seen classes of the current task and each class's task, starts the memory's tasks, and reports
    a gallery snapshot every GALLERY_EVERY steps in the step stats and one at each task's end. The
    strategy's `classify_seen(x)` names the class its own classifier sees in an input."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memory = GenerativeMemory(self.benchmark, self.hp, self.generator)
        # Each class's task, to label replayed samples for Task-IL masking (Domain-IL: every class is task 0's).
        self.class_task = self.benchmark.class_masks.int().argmax(0)

    def begin_task(self, task_index):
        super().begin_task(task_index)
        masks = self.benchmark.class_masks
        self.old_classes = masks[:task_index].any(0)
        self.seen_classes = masks[: task_index + 1].any(0)
        self.memory.begin_task(task_index)

    _pending_gallery = None

    def record_gallery(self) -> None:
        if self.global_step % GALLERY_EVERY == 0:
            self._pending_gallery = self.memory.gallery(self.classify_seen, self.global_step)

    def drain_step_stats(self):
        stats = super().drain_step_stats()
        if self._pending_gallery is not None:
            stats = {**(stats or {}), "gallery": self._pending_gallery}
            self._pending_gallery = None
        return stats

    def task_end_report(self):
        """The strategy's `report_type`: the report of the strategy this mixes into (GNR: AR1*'s), with a
        gallery."""
        earlier = super().task_end_report()
        return self.report_type(
            **(vars(earlier) if earlier is not None else {}),
            gallery=self.memory.gallery(self.classify_seen, self.global_step),
        )


@register
class GenerativeReplay(GenerativeMemoryHooks, Strategy):
    name = "generative_replay"
    needs_boundaries = "teacher"
    family = "replay"
    replays_generated = True
    report_type = GenerativeReplayReport
    title = "Deep Generative Replay (DGR)"
    summary = "A VAE learns the inputs seen so far; its samples, labelled by the previous solver, are replayed."
    params = (
        *GENERATOR_PARAMS,
        Param(
            "distill",
            False,
            help="replay the previous solver's softened outputs (T = 2) instead of its most likely class "
            "(DGR+distill, van de Ven & Tolias 2018)",
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.previous_solver = None

    def begin_task(self, task_index):
        super().begin_task(task_index)
        if task_index > 0:
            self.previous_solver = deepcopy(self.model).requires_grad_(False).eval()

    def new_data_ratio(self) -> float:
        return self.memory.new_data_ratio(self.current_task)

    @torch.no_grad()
    def generate_replay(self, n: int):
        """(inputs, labels, tasks, logits) of `n` samples from the frozen generator, labelled by the frozen
        solver with its most likely class among those seen before the current task (its logits kept for
        distillation)."""
        x = self.memory.sample(n, self.generator)
        logits = self.previous_solver(x)
        labels = logits.masked_fill(~self.old_classes, float("-inf")).argmax(1)
        return x, labels, self.class_task[labels], logits

    def replay_loss(self, logits, replay) -> torch.Tensor:
        """Cross-entropy towards the old solver's labels, or with `distill` the KL towards its softened
        outputs over the same classes (the old ones; with the task id, those of the label's task)."""
        _, labels, tasks, teacher_logits = replay
        if not self.hp.distill:
            return self.classification_loss(logits, labels, tasks)
        competing = self.old_classes[None, :]
        if self.benchmark.scenario == "task-il":
            competing = competing & self.benchmark.class_masks[tasks]
        return distillation_loss(
            logits.masked_fill(~competing, NOT_COMPETING),
            teacher_logits.masked_fill(~competing, NOT_COMPETING),
            DISTILL_TEMPERATURE,
        )

    @torch.no_grad()
    def classify_seen(self, x):
        return self.model(x).masked_fill(~self.seen_classes, float("-inf")).argmax(1)

    def observe(self, batch):
        ratio = self.new_data_ratio()
        replay = self.generate_replay(self.replay_batch_size) if self.previous_solver is not None else None
        reconstruction, kl = self.memory.learn(batch.x, None if replay is None else replay[0], ratio, self.generator)

        n_current = len(batch.y)
        logits = self.model(batch.x if replay is None else torch.cat([batch.x, replay[0]]))
        current_loss = self.classification_loss(logits[:n_current], batch.y, batch.task)
        loss = current_loss
        if replay is not None:
            replay_loss = self.replay_loss(logits[n_current:], replay)
            loss = ratio * current_loss + (1.0 - ratio) * replay_loss
            self.stats.add("replay_loss", replay_loss)
        self.optimizer_step(loss)

        self.stats.add("current_loss", current_loss)
        self.stats.add("vae_reconstruction", reconstruction)
        self.stats.add("vae_kl", kl)
        self.record_gallery()
        return loss.detach()
