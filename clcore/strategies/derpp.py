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

    def replay_loss(self):
        labelled = self.replay_batch()
        return super().replay_loss() + self.hp.beta * self.classification_loss(
            self.model(labelled.x), labelled.y, labelled.task
        )
