"""Task-aware models for the architectural strategies: one output head (or column, or mask) per task.

Every model here is a `TaskAwareNet`:
- `forward_task(x, t)`: task t's prediction when the task is known (Task-IL): its head's logits at the
  task's classes and -inf at every other class;
- `forward(x)`: task-agnostic inference by one documented rule, never the true task id: every task
  trained so far (`tasks_seen`) predicts with its own head / column / mask, and each sample takes the
  prediction of the task that is most confident on it (highest softmax probability of its top class).
  This is how the engine scores these models in Class-IL and Domain-IL.

The models reuse the engine's backbones (clcore.models) by composition. Weights created after the
run's seeded model initialisation (new heads, PNN columns, HAT embeddings) draw from the run's
generator, so runs stay deterministic without touching the global RNG.

`capacity_report` is the task-end report format the whole family shares (the Playground's capacity
views read it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from clcore.errors import ConfigError
from clcore.models import MLP

# How TaskAwareNet.forward answers without the task id (the strategies' `task_inference`, shown by the app).
MOST_CONFIDENT_TASK = (
    "every task trained so far predicts with its own head, column or mask, and each input takes "
    "the answer of the task most confident on it (highest softmax probability)"
)


def task_classes(benchmark) -> list[list[int]]:
    """The classes each task's head predicts: its own classes (every class in Domain-IL benchmarks)."""
    return [list(task.classes) for task in benchmark.tasks]


def seeded_linear(in_features: int, out_features: int, generator: torch.Generator, device) -> nn.Linear:
    """A linear layer with the backbones' Xavier-uniform weights and zero biases, drawn from `generator`."""
    layer = skip_init(nn.Linear, in_features, out_features, device=device)
    bound = math.sqrt(6.0 / (in_features + out_features))
    with torch.no_grad():
        layer.weight.copy_(torch.empty(out_features, in_features).uniform_(-bound, bound, generator=generator))
        layer.bias.zero_()
    return layer


def require_mlp(model: nn.Module, strategy: str) -> MLP:
    if not isinstance(model, MLP):
        raise ConfigError(
            f"model: {strategy} works on the MLP (it masks or grows its fully connected layers); choose --model mlp"
        )
    return model


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def rebuild_optimizer(optimizer: torch.optim.Optimizer, params) -> torch.optim.Optimizer:
    """A fresh optimizer of the run's kind and settings (lr, momentum, weight decay) over `params`: the
    architectural strategies change which parameters train at each task (and start each with no stale
    momentum that could move frozen weights)."""
    return type(optimizer)([p for p in params if p.requires_grad], **optimizer.defaults)


class TaskAwareNet(nn.Module):
    """Base of the task-aware models: subclasses give `head_output(x, t)` (task t's logits over its own
    classes) and may compute several tasks at once in `task_outputs`."""

    def __init__(self, classes_per_task: list[list[int]], n_classes: int):
        super().__init__()
        self.classes_per_task = classes_per_task
        self.n_classes = n_classes
        self.tasks_seen = 1  # tasks trained or in training: the candidates of task inference

    def head_output(self, x: torch.Tensor, task: int) -> torch.Tensor:
        raise NotImplementedError

    def task_outputs(self, x: torch.Tensor, tasks) -> list[torch.Tensor]:
        return [self.head_output(x, t) for t in tasks]

    def _scatter(self, local: torch.Tensor, task: int) -> torch.Tensor:
        full = local.new_full((local.shape[0], self.n_classes), float("-inf"))
        full[:, self.classes_per_task[task]] = local
        return full

    def forward_task(self, x: torch.Tensor, task: int) -> torch.Tensor:
        return self._scatter(self.head_output(x, task), task)

    def forward_tasks(self, x: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """Training: each sample through its own task's head (batches may mix tasks)."""
        logits = x.new_full((x.shape[0], self.n_classes), float("-inf"))
        for t in task_ids.unique().tolist():
            rows = task_ids == t
            logits[rows] = self.forward_task(x[rows], t)
        return logits

    def infer_tasks(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The task-inference rule: per sample, the seen task whose head is most confident."""
        tasks = range(self.tasks_seen)
        outputs = self.task_outputs(x, tasks)
        confidence = torch.stack([out.softmax(1).amax(1) for out in outputs], 1)
        return confidence.argmax(1), outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chosen, outputs = self.infer_tasks(x)
        per_task = torch.stack([self._scatter(out, t) for t, out in enumerate(outputs)], 1)
        return per_task[torch.arange(x.shape[0], device=x.device), chosen]


class TaskHeads(nn.Module):
    """One linear output head per task over a shared representation; head t predicts task t's classes."""

    def __init__(self, in_features: int, classes_per_task, generator: torch.Generator, device):
        super().__init__()
        self.heads = nn.ModuleList(seeded_linear(in_features, len(c), generator, device) for c in classes_per_task)

    def forward(self, features: torch.Tensor, task: int) -> torch.Tensor:
        return self.heads[task](features)


class MultiHeadNet(TaskAwareNet):
    """A shared backbone (any of clcore.models) whose single classifier gives way to one head per task."""

    def __init__(self, backbone: nn.Module, classes_per_task, n_classes: int, generator: torch.Generator):
        super().__init__(classes_per_task, n_classes)
        in_features = backbone.classifier.in_features
        backbone.classifier = nn.Identity()
        self.backbone = backbone
        self.heads = TaskHeads(in_features, classes_per_task, generator, next(backbone.parameters()).device)

    def head_output(self, x, task):
        return self.heads(self.backbone(x), task)

    def task_outputs(self, x, tasks):
        features = self.backbone(x)  # shared: computed once for every head
        return [self.heads(features, t) for t in tasks]


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


def unit_grid(values: torch.Tensor) -> list[list[float]]:
    """A vector of per-unit values as a 2-D grid (row-major), as square as the count allows without
    padding (100 units: 10 x 10; 32 units: 4 x 8), for drawing a layer's units as an image."""
    values = values.detach().float().cpu().tolist()
    n = len(values)
    cols = next(c for c in range(math.ceil(math.sqrt(n)), n + 1) if n % c == 0)
    return [values[r * cols : (r + 1) * cols] for r in range(n // cols)]


def owner_fractions(owner: torch.Tensor, n_tasks: int) -> list[float]:
    """Fractions of `owner` entries per task (1..n_tasks) and free (0), as [T1, ..., Tn, free]."""
    counts = torch.bincount(owner.flatten().long(), minlength=n_tasks + 1).float() / owner.numel()
    return counts[1:].tolist() + [float(counts[0])]


def capacity_report(
    model: nn.Module,
    baseline_params: int,
    owners: list[str],
    layers: dict[str, list[float]],
    unit: str,
    first_layer_masks: list | None = None,
    masks_caption: str = "",
    masks_titles: list[str] | None = None,
) -> dict:
    """The architectural family's task-end report (one format, read by the Playground's capacity views):
    - capacity: per layer, the fraction of its `unit`s (weights, units or parameters) that each of
      `owners` holds (tasks, and 'free' or 'shared'); each layer's fractions sum to 1;
    - param_count: the model's parameters now, and baseline_params: those of the plain fixed-size
      backbone that fine-tune, the regularisers and replay train;
    - first_layer_masks: one 2-D map per task (PackNet: the share of each pixel's first-layer weights
      the task owns; HAT: the first layer's unit attention), with a caption saying what they show, and
      masks_titles naming each map's task where they are not T1, T2, ... in order."""
    report = {
        "capacity": {"owners": list(owners), "unit": unit, "layers": layers},
        "param_count": parameter_count(model),
        "baseline_params": baseline_params,
    }
    if first_layer_masks is not None:
        report["first_layer_masks"] = first_layer_masks
        report["masks_caption"] = masks_caption
        if masks_titles is not None:
            report["masks_titles"] = list(masks_titles)
    return report


class PackedLinear(nn.Module):
    """A linear layer whose weights PackNet hands out to tasks. `owner` holds 0 for a free weight and
    t + 1 for one task t kept; `packed` holds the kept weights' final values, so a finished task reads
    exactly those whatever the optimizer does to the parameter; `trainable` marks the weights the
    current training stage may change."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear
        self.register_buffer("owner", torch.zeros_like(linear.weight, dtype=torch.int16))
        self.register_buffer("packed", torch.zeros_like(linear.weight))
        self.register_buffer("trainable", torch.ones_like(linear.weight, dtype=torch.bool))

    def usable(self, task: int, tasks_packed: int) -> torch.Tensor:
        """Task t's binary mask: the weights of tasks <= t, plus the free ones while t is unfinished."""
        owned = (self.owner > 0) & (self.owner <= task + 1)
        return owned | (self.owner == 0) if task >= tasks_packed else owned

    def forward(self, x, task: int, tasks_packed: int):
        weight = torch.where(self.trainable, self.linear.weight, self.packed)
        return F.linear(x, torch.where(self.usable(task, tasks_packed), weight, 0.0), self.linear.bias)


class PackNetMLP(TaskAwareNet):
    """The MLP's hidden layers as PackedLinear layers, and one head per task (Mallya & Lazebnik 2018)."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator):
        super().__init__(classes_per_task, n_classes)
        self.layers = nn.ModuleList(PackedLinear(layer) for layer in backbone.hidden)
        self.heads = TaskHeads(
            backbone.classifier.in_features, classes_per_task, generator, backbone.classifier.weight.device
        )
        self.tasks_packed = 0  # finished tasks, whose masks are final

    def head_output(self, x, task):
        h = x.flatten(1)
        for layer in self.layers:
            h = F.relu(layer(h, task, self.tasks_packed))
        return self.heads(h, task)


class HatMLP(TaskAwareNet):
    """The MLP with hard attention to the task (Serra et al. 2018): after layer l's ReLU, task t's units
    are gated by a_l^t = sigmoid(s * e_l^t), one learned embedding e_l^t per task and layer (initialised
    N(0, 1) as in the authors' code); one head per task. Training anneals s (the strategy sets `s`);
    evaluation uses s = s_max, where the gates are practically binary."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator, s_max: float):
        super().__init__(classes_per_task, n_classes)
        device = backbone.classifier.weight.device
        self.layers = backbone.hidden
        self.embeddings = nn.ModuleList(
            nn.ParameterList(
                nn.Parameter(torch.randn(layer.out_features, generator=generator).to(device))
                for layer in backbone.hidden
            )
            for _ in classes_per_task
        )
        self.heads = TaskHeads(backbone.classifier.in_features, classes_per_task, generator, device)
        self.s_max = s_max
        self.s = s_max

    def attention(self, task: int, s: float) -> list[torch.Tensor]:
        return [torch.sigmoid(s * e) for e in self.embeddings[task]]

    def head_output(self, x, task):
        h = x.flatten(1)
        for layer, gate in zip(self.layers, self.attention(task, self.s if self.training else self.s_max)):
            h = F.relu(layer(h)) * gate
        return self.heads(h, task)


# ---------------------------------------------------------------------------------------------------
# Learned binary weight masks over fixed weights (Piggyback, SupSup)


def straight_through(hard: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """`hard` in the forward pass, while the gradient reaches `scores` unchanged (the straight-through
    estimator of Bengio et al. 2013, as Piggyback and edge-popup train their masks)."""
    return hard + (scores - scores.detach())  # (s - s) first: exactly 0, so the forward is exactly `hard`


def threshold_mask(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Piggyback's binariser (Mallya et al. 2018, eq. 1): 1 where the real-valued mask exceeds the threshold."""
    return straight_through((scores > threshold).to(scores.dtype), scores)


def top_k_mask(scores: torch.Tensor, keep: float) -> torch.Tensor:
    """Edge-popup's supermask (Ramanujan et al. 2020), as SupSup uses it: 1 on the round(keep * n) weights
    with the largest |score|, 0 elsewhere. The gradient passes straight through to |score| (edge-popup ranks
    and trains the scores' magnitudes), so a score moves by sign(score) times the mask's gradient."""
    magnitude = scores.abs()
    flat = magnitude.detach().flatten()
    hard = torch.zeros_like(flat)
    hard[torch.topk(flat, round(keep * flat.numel()), sorted=False).indices] = 1.0
    return straight_through(hard.view_as(scores), magnitude)


def first_owners(masks: list[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    """Per entry of `weight`, 1 + the index of the first of `masks` that keeps it (0: no mask keeps it)."""
    owner = torch.zeros_like(weight, dtype=torch.int16)
    for k, mask in enumerate(masks):
        owner = torch.where((owner == 0) & (mask > 0), torch.full_like(owner, k + 1), owner)
    return owner


class MaskedMLP(TaskAwareNet):
    """Fully connected layers whose weights every task shares, each task seeing them through its own binary
    masks (one per masked layer) binarised from learned real-valued scores by `binarise`. A task without
    scores (Piggyback's first task) uses the weights unmasked."""

    def __init__(self, layers: list[nn.Linear], classes_per_task, n_classes: int):
        super().__init__(classes_per_task, n_classes)
        self.layers = nn.ModuleList(layers)
        self.scores = nn.ModuleList()  # per task: one score tensor per layer (empty: the task is unmasked)
        self.output_masked = False  # whether the last masked layer is the output layer

    def binarise(self, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def add_scores(self, scores: list[torch.Tensor]) -> nn.ParameterList:
        """The next task's scores (an empty list: no mask)."""
        self.scores.append(nn.ParameterList(nn.Parameter(s) for s in scores))
        return self.scores[-1]

    def masks(self, task: int) -> list[torch.Tensor] | None:
        """Task's binary masks per layer; None for a task with no scores (unmasked, or not begun)."""
        if task >= len(self.scores) or not len(self.scores[task]):
            return None
        return [self.binarise(s) for s in self.scores[task]]

    def masked_tasks(self) -> list[int]:
        return [t for t, scores in enumerate(self.scores) if len(scores)]

    def features(self, x: torch.Tensor, masks: list[torch.Tensor] | None, n_layers: int) -> torch.Tensor:
        """The first n_layers layers (each followed by a ReLU) under a task's `masks` (None: unmasked)."""
        h = x.flatten(1)
        for i, layer in enumerate(self.layers[:n_layers]):
            weight = layer.weight if masks is None else layer.weight * masks[i]
            h = F.relu(F.linear(h, weight, layer.bias))
        return h

    def capacity(self, baseline_params: int, image_shape, owners_note: str) -> dict:
        """The family's capacity report for masks: per layer, the share of weights first kept by each
        masked task (and by none), each task's kept fraction per layer (`mask_density`), and each masked
        task's first-layer mask as an image: the fraction of each input pixel's weights it keeps."""
        tasks = self.masked_tasks()
        with torch.no_grad():
            masks = {t: [m.detach() for m in self.masks(t)] for t in tasks}
        names = [f"layer {i + 1}" for i in range(len(self.layers))]
        if self.output_masked:
            names[-1] = "output layer"
        layers = {
            name: owner_fractions(first_owners([masks[t][i] for t in tasks], layer.weight), len(tasks))
            for (i, name), layer in zip(enumerate(names), self.layers)
        }
        density = {name: [float(masks[t][i].mean()) for t in tasks] for i, name in enumerate(names)}
        c, h, w = image_shape
        images = [masks[t][0].mean(0).view(c, h, w).mean(0).cpu().tolist() for t in tasks]
        report = capacity_report(
            self,
            baseline_params,
            [f"T{t + 1}" for t in tasks] + ["no mask"],
            layers,
            unit=f"weights ({owners_note})",
            first_layer_masks=images,
            masks_caption="Fraction of each input pixel's first-layer weights that each task's mask keeps",
            masks_titles=[f"T{t + 1}" for t in tasks],
        )
        report["mask_density"] = {"tasks": [f"T{t + 1}" for t in tasks], "layers": density}
        return report


class PiggybackMLP(MaskedMLP):
    """Piggyback (Mallya, Davis & Lazebnik 2018): the MLP's hidden layers are the backbone (trained by the
    first task, then frozen); every later task masks their weights with m > threshold of its real-valued
    mask m; biases are never masked. One head per task."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, generator: torch.Generator, threshold: float):
        super().__init__(list(backbone.hidden), classes_per_task, n_classes)
        self.threshold = threshold
        self.heads = TaskHeads(
            backbone.classifier.in_features, classes_per_task, generator, backbone.classifier.weight.device
        )

    def binarise(self, scores):
        return threshold_mask(scores, self.threshold)

    def head_output(self, x, task):
        return self.heads(self.features(x, self.masks(task), len(self.layers)), task)


def signed_kaiming_constant(weight: torch.Tensor) -> torch.Tensor:
    """SupSup's fixed weights (Wortsman et al. 2020, Sec. 3, after Ramanujan et al. 2020): +-sqrt(2 / fan_in),
    the sign taken from `weight` (the backbone's seeded initialisation)."""
    return weight.sign() * math.sqrt(2.0 / weight.shape[1])


class SupermaskMLP(MaskedMLP):
    """Supermasks in Superposition (Wortsman et al. 2020): fixed signed-constant weights and no biases in
    every layer, the output layer included; each task's supermask picks a subnetwork. The output layer has
    as many units as the largest task has classes: task t's class k is output unit k (local labels)."""

    def __init__(self, backbone: MLP, classes_per_task, n_classes: int, keep: float):
        width = max(len(c) for c in classes_per_task)
        layers = []
        for layer in [*backbone.hidden, backbone.classifier]:
            fixed = skip_init(
                nn.Linear,
                layer.in_features,
                width if layer is backbone.classifier else layer.out_features,
                bias=False,
                device=layer.weight.device,
            )
            with torch.no_grad():
                fixed.weight.copy_(signed_kaiming_constant(layer.weight[: fixed.out_features]))
            layers.append(fixed.requires_grad_(False))
        super().__init__(layers, classes_per_task, n_classes)
        self.keep = keep
        self.output_masked = True

    def binarise(self, scores):
        return top_k_mask(scores, self.keep)

    def head_output(self, x, task):
        masks = self.masks(task)
        if masks is None:  # no supermask yet: the task is unknown to the network (chance level)
            return x.new_zeros(x.shape[0], len(self.classes_per_task[task]))
        logits = F.linear(self.features(x, masks, len(self.layers) - 1), self.layers[-1].weight * masks[-1])
        return logits[:, : len(self.classes_per_task[task])]

    def superposed_output(self, x: torch.Tensor, alphas: torch.Tensor, masks: list[list[torch.Tensor]]):
        """The network under the superposed mask sum_i alpha_i M^i, with one row of mixing weights
        `alphas` (batch x masks) per sample (each sample's output depends on its own row only)."""
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            per_mask = torch.einsum("bj,kij->bki", h, torch.stack([layer.weight * m[i] for m in masks]))
            h = (alphas[:, :, None] * per_mask).sum(1)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return h

    def infer_tasks(self, x):
        """SupSup's one-shot task inference (Sec. 3.3, eq. 4): with alpha_i = 1/k on the k masks trained so
        far, the task is argmin_i dH/dalpha_i, H the entropy of the superposed network's output - the mask
        whose weight most lowers the entropy. Inferred per sample (the paper infers once per batch of one
        task; here an evaluation batch may mix tasks)."""
        tasks = range(self.tasks_seen)
        with torch.no_grad():
            outputs = self.task_outputs(x, tasks)
            if self.tasks_seen == 1:
                return torch.zeros(x.shape[0], dtype=torch.long, device=x.device), outputs
            masks = [[m.detach() for m in self.masks(t)] for t in tasks]
        with torch.enable_grad():
            alphas = torch.full((x.shape[0], len(masks)), 1.0 / len(masks), device=x.device, requires_grad=True)
            log_p = self.superposed_output(x.detach(), alphas, masks).log_softmax(1)
            entropy = -(log_p.exp() * log_p).sum()
            (gradient,) = torch.autograd.grad(entropy, alphas)
        return gradient.argmin(1), outputs


# ---------------------------------------------------------------------------------------------------
# Task-conditioned hypernetwork (von Oswald et al. 2020)


def _uniform(shape, bound: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.empty(shape).uniform_(-bound, bound, generator=generator).to(device)


class ChunkedHypernetwork(nn.Module):
    """A chunked hypernetwork (von Oswald et al. 2020, Sec. 3 and Fig. 1b): the input [e, c_j] (task
    embedding e, learned chunk embedding c_j) goes through one hidden ReLU layer to chunk j of the target
    weights; the chunks, concatenated and cut to `n_target`, times a fixed per-weight scale (the target
    layer's Xavier standard deviation, so generated weights start at the target's usual scale), are the
    target network's weights. The chunk embeddings have the task embeddings' size."""

    def __init__(
        self, scale: torch.Tensor, embedding_dim: int, hidden: int, chunk_size: int, generator: torch.Generator
    ):
        super().__init__()
        device = scale.device
        n_chunks = math.ceil(scale.numel() / chunk_size)
        self.register_buffer("scale", scale)
        self.chunk_embeddings = nn.Parameter(torch.randn(n_chunks, embedding_dim, generator=generator).to(device))
        # Kaiming-uniform hidden layer, then unit-variance outputs: raw chunks start with variance ~1
        self.hidden = nn.Linear(2 * embedding_dim, hidden, device=device)
        self.out = nn.Linear(hidden, chunk_size, device=device)
        with torch.no_grad():
            self.hidden.weight.copy_(
                _uniform(self.hidden.weight.shape, math.sqrt(6 / (2 * embedding_dim)), generator, device)
            )
            self.out.weight.copy_(_uniform(self.out.weight.shape, math.sqrt(3 / hidden), generator, device))
            self.hidden.bias.zero_()
            self.out.bias.zero_()

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Target weights (flat) for each row of `embeddings`: (n, embedding_dim) -> (n, n_target)."""
        n, n_chunks = embeddings.shape[0], self.chunk_embeddings.shape[0]
        inputs = torch.cat(
            [embeddings[:, None].expand(-1, n_chunks, -1), self.chunk_embeddings[None].expand(n, -1, -1)], 2
        )
        chunks = self.out(F.relu(self.hidden(inputs)))
        return chunks.flatten(1)[:, : self.scale.numel()] * self.scale


class HypernetMLP(TaskAwareNet):
    """The target network is an MLP shaped like the backbone (its hidden widths; an output layer with as
    many units as the largest task has classes, task t's class k being unit k) whose weights and biases all
    come from the hypernetwork given task t's embedding e_t (one learned vector per task, added as tasks
    arrive, drawn N(0, 1))."""

    def __init__(
        self,
        backbone: MLP,
        classes_per_task,
        n_classes: int,
        generator: torch.Generator,
        embedding_dim: int,
        hidden: int,
        chunk_size: int,
    ):
        super().__init__(classes_per_task, n_classes)
        widths = [backbone.hidden[0].in_features if len(backbone.hidden) else backbone.classifier.in_features]
        widths += [layer.out_features for layer in backbone.hidden] + [max(len(c) for c in classes_per_task)]
        self.shapes = list(zip(widths[1:], widths[:-1]))  # (out, in) per target layer
        scale = torch.cat([torch.full((o * i + o,), math.sqrt(2.0 / (i + o))) for o, i in self.shapes])
        self.weights_device = backbone.classifier.weight.device
        self.hnet = ChunkedHypernetwork(scale.to(self.weights_device), embedding_dim, hidden, chunk_size, generator)
        self.embeddings = nn.ParameterList()
        self.embedding_dim = embedding_dim

    def add_embedding(self, generator: torch.Generator) -> nn.Parameter:
        self.embeddings.append(
            nn.Parameter(torch.randn(self.embedding_dim, generator=generator).to(self.weights_device))
        )
        return self.embeddings[-1]

    @property
    def target_params(self) -> int:
        return self.hnet.scale.numel()

    def generate(self, tasks) -> torch.Tensor:
        """The target weights of each of `tasks` (rows)."""
        return self.hnet(torch.stack([self.embeddings[t] for t in tasks]))

    def target_forward(self, x: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        h, start = x.flatten(1), 0
        for i, (o, n_in) in enumerate(self.shapes):
            weight = flat[start : start + o * n_in].view(o, n_in)
            bias = flat[start + o * n_in : start + o * n_in + o]
            start += o * n_in + o
            h = F.linear(h, weight, bias)
            if i < len(self.shapes) - 1:
                h = F.relu(h)
        return h

    def head_output(self, x, task):
        return self.task_outputs(x, [task])[0]

    def task_outputs(self, x, tasks):
        tasks = list(tasks)
        known = [t for t in tasks if t < len(self.embeddings)]
        weights = dict(zip(known, self.generate(known))) if known else {}  # one hypernetwork pass for all
        # a task with no embedding yet is unknown to the network (chance level)
        return [
            self.target_forward(x, weights[t])[:, : len(self.classes_per_task[t])]
            if t in weights
            else x.new_zeros(x.shape[0], len(self.classes_per_task[t]))
            for t in tasks
        ]
