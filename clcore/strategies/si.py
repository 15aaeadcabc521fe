"""Synaptic Intelligence (Zenke, Poole & Ganguli 2017): each weight's importance is its contribution
to the loss decrease along the training path, sum_t -g_t * delta_theta_t, normalised at the task's end
by (total change)^2 + xi (clcore.mechanics.path_integral)."""

from clcore.mechanics.importance import ImportanceReport, importance_report
from clcore.mechanics.path_integral import PathIntegral
from clcore.strategies.base import Param, Strategy, register


@register
class SynapticIntelligence(Strategy):
    name = "si"
    needs_boundaries = "importance"
    family = "regularisation"
    title = "Synaptic Intelligence (SI)"
    summary = "Estimates each weight's importance online from its path integral and anchors important weights."
    weak_scenarios = {"class-il": "regularisation"}  # near fine-tune there (van de Ven & Tolias 2019)
    report_type = ImportanceReport
    params = (
        Param("c", 0.5, 0.0, 1e6, "c: strength of the surrogate-loss penalty"),
        Param("xi", 1.0, 1e-9, 1e3, "xi: damping added to the squared total change of each weight"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.si = PathIntegral(self.model, self.hp.xi)

    # the path-integral state, by the names the SI literature uses
    @property
    def path_integral(self):
        return self.si.path_integral

    @property
    def task_start(self):
        return self.si.task_start

    @property
    def importance(self):
        return self.si.importance

    @property
    def task_importance(self):
        return self.si.task_importance

    def observe(self, batch):
        loss = self.classification_loss(self.model(batch.x), batch.y, batch.task)
        penalty = self.si.penalty()
        if penalty is not None:
            loss = loss + self.hp.c * penalty
        self.si.track(lambda: self.optimizer_step(loss))
        return loss.detach()

    def end_task(self, task_index):
        self.si.end_task()

    def task_end_report(self):
        return importance_report(self.model, self.importance, self.task_importance, self.benchmark.data.image_shape)
