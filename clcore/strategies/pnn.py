"""Progressive Neural Networks (Rusu et al. 2016, arXiv:1606.04671): every task gets a new column (a
copy of the MLP with its own head); its layers also read the frozen earlier columns' activations through
non-linear lateral adapters (eq. 2). Earlier columns never change, so nothing is forgotten, at the cost
of a network that grows with every task. mammoth (Buzzega et al. 2020) runs it on Split MNIST."""

import torch
import torch.nn.functional as F
from torch import nn

from clcore.mechanics.task_aware import (
    MOST_CONFIDENT_TASK,
    CapacityReport,
    TaskAwareNet,
    parameter_count,
    rebuild_optimizer,
    require_mlp,
    seeded_linear,
    task_classes,
)
from clcore.models import MLP
from clcore.strategies.base import Strategy, register


class LateralAdapter(nn.Module):
    """PNN's non-linear lateral connection into layer i of column k (Rusu et al. 2016, eq. 2):
    U relu(V (alpha * h_{i-1}^{(<k)})), with one learned scalar alpha per earlier column (initialised
    to a small random value) and V projecting the earlier columns' activations to n_{i-1} dimensions."""

    def __init__(self, n_earlier: int, in_width: int, out_width: int, generator: torch.Generator, device):
        super().__init__()
        self.alpha = nn.Parameter((0.1 * torch.rand(n_earlier, generator=generator)).to(device))
        self.V = seeded_linear(n_earlier * in_width, in_width, generator, device)
        self.U = seeded_linear(in_width, out_width, generator, device)

    def forward(self, earlier: list[torch.Tensor]) -> torch.Tensor:
        scaled = torch.cat([a * h for a, h in zip(self.alpha, earlier)], 1)
        return self.U(F.relu(self.V(scaled)))


class Column(nn.Module):
    """One PNN column: the backbone's hidden layers plus a head for its task, and for columns after the
    first an adapter into every layer above the input."""

    def __init__(self, layers: list[nn.Linear], adapters: list[LateralAdapter]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.adapters = nn.ModuleList(adapters)


class ProgressiveNet(TaskAwareNet):
    """Progressive neural network (Rusu et al. 2016): column k is task k's network, and its layer i reads
    h_i^{(k)} = relu(W_i^{(k)} h_{i-1}^{(k)} + adapter(h_{i-1}^{(<k)})) from its own layer below and the
    frozen earlier columns' (eq. 2); the last layer is the task's head (no relu)."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator):
        super().__init__(classes_per_task, n_classes)
        self.widths = [backbone.hidden[0].in_features] + [layer.out_features for layer in backbone.hidden]
        first = list(backbone.hidden) + [
            seeded_linear(self.widths[-1], len(classes_per_task[0]), generator, backbone.classifier.weight.device)
        ]
        self.columns = nn.ModuleList([Column(first, [])])

    def add_column(self, task: int, generator: torch.Generator) -> Column:
        g, dev = generator, self.columns[0].layers[0].weight.device
        widths = self.widths + [len(self.classes_per_task[task])]
        k = len(self.columns)
        layers = [seeded_linear(a, b, g, dev) for a, b in zip(widths, widths[1:])]
        adapters = [LateralAdapter(k, widths[i], widths[i + 1], g, dev) for i in range(1, len(widths) - 1)]
        self.columns.append(Column(layers, adapters))
        return self.columns[-1]

    def column_outputs(self, x: torch.Tensor, n_columns: int) -> list[torch.Tensor]:
        """The first n_columns columns' outputs, each column computed once."""
        x = x.flatten(1)
        inputs_per_column, outputs = [], []  # inputs_per_column[j][i]: what layer i of column j reads
        for k, column in enumerate(self.columns[:n_columns]):
            h, inputs = x, []
            for i, layer in enumerate(column.layers):
                inputs.append(h)
                z = layer(h)
                if k > 0 and i > 0:
                    z = z + column.adapters[i - 1]([inputs_per_column[j][i] for j in range(k)])
                h = F.relu(z) if i < len(column.layers) - 1 else z
            inputs_per_column.append(inputs)
            outputs.append(h)
        return outputs

    def head_output(self, x, task):
        if task >= len(self.columns):  # no column yet: the task is unknown to the network (chance level)
            return x.new_zeros(x.shape[0], len(self.classes_per_task[task]))
        return self.column_outputs(x, task + 1)[task]

    def task_outputs(self, x, tasks):
        tasks = list(tasks)
        outputs = self.column_outputs(x, max(tasks) + 1)
        return [outputs[t] for t in tasks]


@register
class Progressive(Strategy):
    name = "pnn"
    needs_boundaries = "per_task_parts"
    family = "architecture"
    title = "Progressive Neural Networks (PNN)"
    summary = (
        "A new column per task with lateral connections from the frozen earlier columns; the network "
        "grows with every task. Without the task id the most confident column answers."
    )
    needs_task_id = True
    task_inference = MOST_CONFIDENT_TASK
    report_type = CapacityReport

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
        return CapacityReport.measure(
            self.model, self.baseline_params, [f"T{k + 1}" for k in range(len(columns))], per_layer, unit="parameters"
        )
