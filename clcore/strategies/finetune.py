from clcore.strategies.base import Strategy, register


@register
class Finetune(Strategy):
    name = "finetune"
    family = "baseline"
    title = "Fine-tune (naive)"
    summary = "Plain SGD on each task in turn: the lower bound that shows catastrophic forgetting."

    def observe(self, batch):
        loss = self.classification_loss(self.model(batch.x), batch.y, batch.task)
        self.optimizer_step(loss)
        return loss.detach()
