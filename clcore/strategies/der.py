import torch.nn.functional as F

from clcore.strategies.base import Param, Strategy, register


@register
class DarkExperienceReplay(Strategy):
    name = "der"
    family = "replay"
    title = "Dark Experience Replay (DER)"
    summary = "Replays past examples with the logits the model gave them, matched by an MSE penalty."
    uses_buffer = True
    stores_logits = True
    params = (Param("alpha", 0.3, 0.0, 100.0, "weight of the logit-matching (MSE) term on buffer samples"),)

    def replay_loss(self):
        """Terms added to the current batch's loss once the buffer holds something."""
        replay = self.replay_batch()
        return self.hp.alpha * F.mse_loss(self.model(replay.x), replay.logits)

    def observe(self, batch):
        logits = self.model(batch.x)
        loss = self.classification_loss(logits, batch.y, batch.task)
        if len(self.buffer):
            loss = loss + self.replay_loss()
        self.optimizer_step(loss)
        self.buffer.add(batch.raw, batch.y, batch.task, logits=logits.detach())
        return loss.detach()
