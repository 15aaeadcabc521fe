"""Latent Replay (Pellegrini, Graffieti, Lomonaco & Maltoni 2020, "Latent Replay for Real-Time Continual
Learning", IROS; Sec. III): replay stored activations of an intermediate layer instead of raw inputs.

The network is cut at block `latent_layer` (clcore.models.BlockChain). The first task trains the whole
network; from then on the blocks below the cut are frozen (no gradients, out of the optimizer, batch-norm
statistics fixed), so the activations they produce never age. At each task's end the task's training
inputs go through the frozen blocks and their activations (with labels and task ids) enter the buffer by
its insertion policy (reservoir: every task keeps about capacity / tasks-so-far slots, as the paper's
h = memory / (batch index + 1) replacement). Each step the current batch's activations and a random
batch of stored ones are concatenated and train the blocks above the cut and the classifier."""

from dataclasses import dataclass

import torch

from clcore.mechanics.latent import (
    LatentMemory,
    LayerRow,
    check_cut,
    freeze_lower,
    keep_frozen_in_eval,
    layer_table,
    memory_report,
)
from clcore.strategies.base import Param, Strategy, register

STORE_CHUNK = 1024  # inputs pushed through the frozen blocks at once when filling the buffer


@dataclass(frozen=True)
class LatentReport:
    """Where the network is cut (`cut` blocks frozen below the replay layer), which layers still learn, and
    what the latent buffer costs (None without a buffer: CWR*)."""

    cut: int
    layers: list[LayerRow]
    memory: LatentMemory | None = None


@register
class LatentReplay(Strategy):
    name = "latent_replay"
    needs_boundaries = "task_end_update"
    family = "replay"
    title = "Latent Replay"
    summary = (
        "Replays stored activations of an intermediate layer; the layers below it are frozen after the first task."
    )
    uses_buffer = True
    report_type = LatentReport
    params = (
        Param(
            "latent_layer",
            1,
            0,
            10,
            "blocks below the replay layer, frozen after the first task "
            "(MLP: 1 = replay the first hidden layer's activations; 0 = raw inputs)",
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cut = self.frozen_blocks()
        check_cut(self.model, self.name, self.cut)
        self.frozen = False

    def frozen_blocks(self) -> int:
        """Blocks below the cut: frozen after the first task, the rest (and the replay) trains on."""
        return self.hp.latent_layer

    def forward_batch(self, batch):
        """Logits, labels and task ids of the step's examples: the current batch (through the frozen
        blocks once they are frozen) and, if the buffer has any, replayed latent activations."""
        if not self.frozen:
            return self.model(batch.x), batch.y, batch.task
        keep_frozen_in_eval(self.model, self.cut)
        with torch.no_grad():
            h = self.model.latent(batch.x, self.cut)
        y, task = batch.y, batch.task
        if self.buffer is not None and len(self.buffer):
            replay = self.buffer.sample(self.replay_batch_size)
            h, y, task = torch.cat([h, replay.x]), torch.cat([y, replay.y]), torch.cat([task, replay.task])
        return self.model.head(h, self.cut), y, task

    def loss(self, logits, y, task):
        return self.classification_loss(logits, y, task)

    def step(self, loss):
        self.optimizer_step(loss)

    def observe(self, batch):
        loss = self.loss(*self.forward_batch(batch))
        self.step(loss)
        return loss.detach()

    def end_task(self, task_index):
        if not self.frozen:
            self.optimizer = freeze_lower(self.model, self.cut, self.optimizer)
            self.frozen = True
        if self.buffer is not None:
            self.store_latents(task_index)

    @torch.no_grad()
    def store_latents(self, task_index):
        """The task's training inputs, in a random order, through the frozen blocks into the buffer."""
        keep_frozen_in_eval(self.model, self.cut)
        task = self.benchmark.tasks[task_index]
        order = torch.randperm(len(task.train_idx), generator=self.generator).to(self.benchmark.device)
        for start in range(0, len(order), STORE_CHUNK):
            x, y = self.benchmark.train_batch(task, order[start : start + STORE_CHUNK])
            self.buffer.add(self.model.latent(x, self.cut), y, task_index)

    def task_end_report(self):
        memory = memory_report(self.buffer, self.benchmark.data.x_train[0]) if self.buffer is not None else None
        return LatentReport(self.cut, layer_table(self.model), memory)
