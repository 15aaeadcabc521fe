from clcore.strategies.base import Param, register
from clcore.strategies.der import DarkExperienceReplay


@register
class DarkExperienceReplayPlusPlus(DarkExperienceReplay):
    name = "derpp"
    family = "replay"
    title = "DER++"
    summary = "DER plus a cross-entropy term on the labels of a second, independent buffer batch."
    params = DarkExperienceReplay.params + (
        Param("beta", 0.5, 0.0, 100.0, "weight of the label (cross-entropy) term on buffer samples"),
    )

    def replay_samples(self):
        labelled = self.replay_batch()  # drawn first: the run's random stream as it always was
        return super().replay_samples() + [labelled]

    def replay_loss(self, samples, outputs):
        labelled = samples[1]
        return super().replay_loss(samples, outputs) + self.hp.beta * self.classification_loss(
            outputs[1], labelled.y, labelled.task
        )
