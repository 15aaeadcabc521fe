import torch

from clcore.strategies.base import Strategy, register


@register
class ExperienceReplay(Strategy):
    name = "er"
    family = "replay"
    title = "Experience Replay"
    summary = "Each batch is trained together with a random batch from a reservoir buffer of past examples."
    uses_buffer = True

    def observe(self, batch):
        x, y, task = batch.x, batch.y, batch.task
        if len(self.buffer):
            replay = self.replay_batch()
            x, y, task = torch.cat([x, replay.x]), torch.cat([y, replay.y]), torch.cat([task, replay.task])
        loss = self.classification_loss(self.model(x), y, task)
        self.optimizer_step(loss)
        self.buffer.add(batch.raw, batch.y, batch.task)
        return loss.detach()
