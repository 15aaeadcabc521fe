"""Deep Generative Replay (Shin, Lee, Kim & Kim, NeurIPS 2017): a generator and a solver learn together.

A VAE (clcore/vae.py) is the generator. While task t is learned, a frozen copy of the generator and of
the solver from the end of task t-1 provide the replay: the old generator draws inputs x' and the old
solver labels them, y' = argmax of its logits over the classes seen before task t (hard labels, as in
Shin et al.; the VAE itself is unconditional and never labels anything). Both current models then train
on the real batch mixed with the replay, with the paper's mixing ratio r of real data (Shin et al.,
Sec. 3, the solver loss):

    L_solver = r * CE(S(x), y) + (1 - r) * CE(S(x'), y')
    L_generator = r * negELBO(x) + (1 - r) * negELBO(x')

so the generator learns the current task and keeps its own past (its training data for old tasks are
its frozen copy's samples). By default r = 1 / (tasks seen so far), which weighs every task equally
(van de Ven & Tolias, "Three scenarios for continual learning", arXiv:1904.07734). In this engine the
generator takes one step per incoming batch, next to the solver's step.

The generated inputs live in the classifier's own input space (normalised, and permuted for
Permuted-MNIST), see clcore/vae.py. `generative_negative_replay` reuses all of this and changes only the
loss on the replayed samples.
"""
from __future__ import annotations

from copy import deepcopy

import torch

from ..vae import VAE
from .base import Param, Strategy, register

GALLERY_EVERY = 500  # optimizer steps between the snapshots of generated samples the view shows
GALLERY_DRAWS = 64  # samples drawn per snapshot; up to GALLERY_PER_CLASS of each seen class are kept
GALLERY_PER_CLASS = 2


@register
class GenerativeReplay(Strategy):
    name = "generative_replay"
    family = "replay"
    title = "Deep Generative Replay (DGR)"
    summary = "A VAE learns the inputs seen so far; its samples, labelled by the previous solver, are replayed."
    params = (
        Param("new_data_ratio", 0.0, 0.0, 1.0,
              "r: weight of the current data in both losses (replay gets 1 - r); 0 means 1 / (tasks seen so far)"),
        Param("latent_size", 32, 2, 512, "dimensions of the VAE's latent code z"),
        Param("vae_hidden", 256, 16, 2048, "units in each of the VAE's two hidden layers (encoder and decoder)"),
        Param("vae_lr", 0.001, 1e-6, 0.1, "learning rate of the VAE's Adam optimizer"),
    )

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        data = self.benchmark.data
        self.vae = VAE(data.image_shape, data.mean, data.std, self.hp.vae_hidden, self.hp.latent_size)
        self.vae.to(self.benchmark.device)
        self.vae_optimizer = torch.optim.Adam(self.vae.parameters(), lr=self.hp.vae_lr, foreach=True)
        self.previous_vae = self.previous_solver = None
        # The view's snapshots draw from their own seeded stream, so showing them never changes training.
        self.gallery_generator = torch.Generator().manual_seed(
            int(torch.randint(2 ** 62, (1,), generator=self.generator)))
        self._pending_gallery = None
        # Each class's task, to label replayed samples for Task-IL masking (Domain-IL: every class is task 0's).
        self.class_task = self.benchmark.class_masks.int().argmax(0)

    def begin_task(self, task_index):
        super().begin_task(task_index)
        masks = self.benchmark.class_masks
        self.old_classes = masks[:task_index].any(0)
        self.seen_classes = masks[: task_index + 1].any(0)
        self.current_classes = masks[task_index]
        if task_index > 0:
            self.previous_vae = deepcopy(self.vae).requires_grad_(False).eval()
            self.previous_solver = deepcopy(self.model).requires_grad_(False).eval()

    def new_data_ratio(self) -> float:
        return self.hp.new_data_ratio or 1.0 / (self.current_task + 1)

    @torch.no_grad()
    def generate_replay(self, n: int):
        """(inputs, labels, tasks) of `n` samples from the frozen generator, labelled by the frozen solver
        with its most likely class among those seen before the current task."""
        x = self.previous_vae.sample(n, self.generator)
        logits = self.previous_solver(x).masked_fill(~self.old_classes, float("-inf"))
        labels = logits.argmax(1)
        return x, labels, self.class_task[labels]

    def current_loss(self, logits, labels, tasks):
        """The solver's loss on the current batch: plain cross-entropy."""
        return self.classification_loss(logits, labels, tasks)

    def replay_loss(self, logits, labels, tasks):
        """The solver's loss on replayed samples: plain cross-entropy towards the old solver's labels."""
        return self.classification_loss(logits, labels, tasks)

    def observe(self, batch):
        ratio = self.new_data_ratio()
        replay = self.generate_replay(self.replay_batch_size) if self.previous_vae is not None else None

        n_current = len(batch.y)
        x = batch.x if replay is None else torch.cat([batch.x, replay[0]])
        reconstruction, kl = self.vae.negative_elbo(x, self.generator)
        per_image = reconstruction + kl
        vae_loss = per_image[:n_current].mean()
        if replay is not None:
            vae_loss = ratio * vae_loss + (1.0 - ratio) * per_image[n_current:].mean()
        self.vae_optimizer.zero_grad(set_to_none=True)
        vae_loss.backward()
        self.vae_optimizer.step()

        logits = self.model(x)
        current_loss = self.current_loss(logits[:n_current], batch.y, batch.task)
        loss = current_loss
        if replay is not None:
            replay_loss = self.replay_loss(logits[n_current:], replay[1], replay[2])
            loss = ratio * current_loss + (1.0 - ratio) * replay_loss
            self.stats.add("replay_loss", replay_loss)
        self.optimizer_step(loss)

        self.stats.add("current_loss", current_loss)
        self.stats.add("vae_reconstruction", reconstruction[:n_current].mean())
        self.stats.add("vae_kl", kl[:n_current].mean())
        if self.global_step % GALLERY_EVERY == 0:
            self._pending_gallery = {"step": self.global_step, **self.gallery()}
        return loss.detach()

    @torch.no_grad()
    def gallery(self) -> dict:
        """A few samples of the current generator per class seen so far (the class the current solver
        gives them), as [0, 255] integer images: rows x columns (x channels for colour)."""
        x = self.vae.sample(GALLERY_DRAWS, self.gallery_generator)
        classes = self.model(x).masked_fill(~self.seen_classes, float("-inf")).argmax(1)
        kept, per_class = [], {}
        for i, c in sorted(enumerate(classes.tolist()), key=lambda item: item[1]):
            if per_class.get(c, 0) < GALLERY_PER_CLASS:
                kept.append(i)
                per_class[c] = per_class.get(c, 0) + 1
        pixels = (self.vae.to_pixels(x[kept]) * 255).round().to(torch.uint8).cpu()
        images = pixels[:, 0] if pixels.shape[1] == 1 else pixels.permute(0, 2, 3, 1)
        return {"classes": classes[kept].tolist(), "images": images.tolist()}

    def drain_step_stats(self):
        stats = self.stats.drain()
        if self._pending_gallery is not None:
            stats = {**(stats or {}), "gallery": self._pending_gallery}
            self._pending_gallery = None
        return stats

    def task_end_report(self):
        return {"gallery": {"step": self.global_step, **self.gallery()}}
