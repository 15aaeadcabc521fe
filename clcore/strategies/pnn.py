"""Progressive Neural Networks (Rusu et al. 2016, arXiv:1606.04671): every task gets a new column (a
copy of the MLP with its own head); its layers also read the frozen earlier columns' activations through
non-linear lateral adapters (eq. 2). Earlier columns never change, so nothing is forgotten, at the cost
of a network that grows with every task. mammoth (Buzzega et al. 2020) runs it on Split MNIST."""

import torch.nn.functional as F

from clcore.strategies.base import Strategy, register
from clcore.task_models import (
    MOST_CONFIDENT_TASK,
    ProgressiveNet,
    capacity_report,
    parameter_count,
    rebuild_optimizer,
    require_mlp,
    task_classes,
)


@register
class Progressive(Strategy):
    name = "pnn"
    family = "architecture"
    title = "Progressive Neural Networks (PNN)"
    summary = (
        "A new column per task with lateral connections from the frozen earlier columns; the network "
        "grows with every task. Without the task id the most confident column answers."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        self.baseline_params = parameter_count(require_mlp(model, self.name))
        self.model = ProgressiveNet(model, task_classes(self.benchmark), self.benchmark.n_classes, self.generator)
        self.optimizer = optimizer

    def begin_task(self, task_index):
        super().begin_task(task_index)
        while len(self.model.columns) <= task_index:
            self.model.add_column(len(self.model.columns), self.generator)
        for k, column in enumerate(self.model.columns):
            column.requires_grad_(k == task_index)  # earlier columns are frozen: only the new one trains
        self.model.tasks_seen = task_index + 1
        self.optimizer = rebuild_optimizer(self.optimizer, self.model.columns[task_index].parameters())

    def observe(self, batch):
        loss = F.cross_entropy(self.model.forward_tasks(batch.x, batch.task), batch.y)
        self.optimizer_step(loss)
        return loss.detach()

    def task_end_report(self):
        columns = self.model.columns
        n_layers = len(columns[0].layers)
        per_layer = {}
        for i in range(n_layers):
            sizes = [
                parameter_count(c.layers[i]) + (parameter_count(c.adapters[i - 1]) if k > 0 and i > 0 else 0)
                for k, c in enumerate(columns)
            ]
            name = "output (heads)" if i == n_layers - 1 else f"layer {i + 1}"
            per_layer[name] = [s / sum(sizes) for s in sizes]
        return capacity_report(
            self.model, self.baseline_params, [f"T{k + 1}" for k in range(len(columns))], per_layer, unit="parameters"
        )
