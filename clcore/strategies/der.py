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

    def replay_samples(self) -> list:
        """The buffer batches a step replays once the buffer holds something: one, matched on its stored logits."""
        return [self.replay_batch()]

    def replay_loss(self, samples: list, outputs: list):
        """Terms added to the current batch's loss, given the model's outputs on each of `replay_samples()`."""
        return self.hp.alpha * F.mse_loss(outputs[0], samples[0].logits)

    def observe(self, batch):
        samples = self.replay_samples() if len(self.buffer) else []
        logits, outputs = self.forward_with_replay(batch.x, samples)
        loss = self.classification_loss(logits, batch.y, batch.task)
        if samples:
            loss = loss + self.replay_loss(samples, outputs)
        self.optimizer_step(loss)
        self.buffer.add(batch.raw, batch.y, batch.task, logits=logits.detach())
        return loss.detach()
