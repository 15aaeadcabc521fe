"""Task sequences (benchmarks) built from whole-tensor data sets.

Split benchmarks give each task a group of classes (Class-IL / Task-IL); permuted and rotated ones
give every task all classes seen through a fixed per-task input transform (Domain-IL). Transforms are
applied per batch on the device, so twenty permuted tasks cost no more memory than one. A stream (MNIST-360,
clcore.data.stream) is one task-free phase whose order is the stream's, each image rotated by its own angle;
blurry boundaries move a share of each split task's data into its neighbours.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from clcore.data.datasets import ImageDataset, load_dataset
from clcore.data.stream import MNIST360_CLASSES, blur_tasks, mnist360_stream, mnist360_test, rotate_each
from clcore.errors import ConfigError


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    dataset: str
    kind: str  # "split" | "permuted" | "rotated" | "stream" (one task-free phase in a fixed order)
    default_tasks: int
    bundled: bool  # works offline from assets/
    augment: bool  # batched random crop + flip during training (CIFAR)
    help: str


BENCHMARKS = {
    b.name: b
    for b in (
        BenchmarkInfo(
            "split-mnist",
            "mnist",
            "split",
            5,
            True,
            False,
            "MNIST digits in groups of classes, e.g. 0,1|2,3|4,5|6,7|8,9",
        ),
        BenchmarkInfo(
            "permuted-mnist",
            "mnist",
            "permuted",
            20,
            True,
            False,
            "MNIST with one fixed random pixel permutation per task",
        ),
        BenchmarkInfo(
            "rotated-mnist",
            "mnist",
            "rotated",
            20,
            True,
            False,
            "MNIST rotated by one fixed random angle in [0, 180) per task",
        ),
        BenchmarkInfo(
            "mnist-360",
            "mnist-360",
            "stream",
            1,
            True,
            False,
            "MNIST digits 0-8 in one stream without task boundaries: pairs of classes, each class rotating "
            "continuously and coming back three times (DER paper)",
        ),
        BenchmarkInfo(
            "split-fashion-mnist",
            "fashion-mnist",
            "split",
            5,
            False,
            False,
            "Fashion-MNIST clothing classes in groups (downloaded once)",
        ),
        BenchmarkInfo(
            "split-cifar10", "cifar10", "split", 5, False, True, "CIFAR-10 in 5 tasks of 2 classes (downloaded once)"
        ),
        BenchmarkInfo(
            "split-cifar100",
            "cifar100",
            "split",
            10,
            False,
            True,
            "CIFAR-100 in 10 tasks of 10 classes (downloaded once)",
        ),
    )
}
SCENARIOS = ("class-il", "task-il", "domain-il")


# Classes of each data set, known before any data loads (the task-sequence checks need them).
DATASET_CLASSES = {"mnist": 10, "mnist-360": MNIST360_CLASSES, "fashion-mnist": 10, "cifar10": 10, "cifar100": 100}


# Why a method that works at task boundaries (its `needs_boundaries` reason id) cannot do that work on a task-free
# sequence: English for the command line; the app's texts are `expect.boundary.<id>` in its catalogs.
BOUNDARY_NOTES = {
    "importance": "{strategy} measures at each task end which weights mattered and protects them from then on; "
    "{benchmark} has no task end before the stream is over, so nothing is protected while it learns: it behaves "
    "like fine-tune",
    "teacher": "{strategy} keeps the model (or generator) of each finished task to learn from afterwards; {benchmark} "
    "has no task end before the stream is over, so there is never an old model: it behaves like fine-tune",
    "earlier_tasks": "{strategy} constrains each step by the memory of every earlier task, kept task by task; on "
    "{benchmark} every stored example belongs to the one task being learnt, so no constraint ever applies",
    "earlier_task_replay": "{strategy} replays only examples of earlier tasks; on {benchmark} every stored example "
    "belongs to the one task being learnt, so it never replays: it behaves like fine-tune",
    "task_end_update": "{strategy} does part of its work at each task end (choosing exemplars, training on its "
    "memory, freezing or consolidating layers); on {benchmark} that happens once, after the last example",
    "cumulative": "{strategy} retrains on all the data seen so far when a new task starts; {benchmark} is a single "
    "task, so it trains once, in stream order, like fine-tune",
    "per_task_parts": "{strategy} gives each task its own part (a head, a column, a mask, a model or generated "
    "weights); {benchmark} is a single task for it, so it trains one part, like fine-tune",
    "blurry": "{strategy} does its work at task boundaries, and with blurry boundaries each task also holds about "
    "{percent} % of its neighbours' data: what it keeps or constrains per task mixes neighbouring tasks",
}


def boundary_caveat(strategy, benchmark: str, blurry: float = 0.0) -> str | None:
    """The reason id (BOUNDARY_NOTES) why `strategy` (a Strategy class) cannot do its work on this sequence: it acts
    at task boundaries and the sequence has none (a stream) or blurs them ("blurry"); None otherwise."""
    info = BENCHMARKS[benchmark]
    if not strategy.needs_boundaries:
        return None
    if info.kind == "stream":
        return strategy.needs_boundaries
    return "blurry" if blurry > 0 and info.kind == "split" else None


def boundary_note(strategy, benchmark: str, blurry: float = 0.0) -> str | None:
    """The English line for the command line (stderr) before such a run, or None."""
    reason = boundary_caveat(strategy, benchmark, blurry)
    if reason is None:
        return None
    return BOUNDARY_NOTES[reason].format(strategy=strategy.name, benchmark=benchmark, percent=f"{blurry * 100:g}")


def parse_class_groups(text: str, n_classes: int) -> list[tuple[int, ...]]:
    """'0,1|2,3' -> [(0, 1), (2, 3)], with messages that say what is wrong."""
    groups = []
    for part in text.split("|"):
        try:
            group = tuple(int(c) for c in part.split(",") if c.strip())
        except ValueError:
            raise ConfigError("classes", "classes_not_list", value=part) from None
        if not group:
            raise ConfigError("classes", "classes_empty_task", value=text)
        groups.append(group)
    flat = [c for g in groups for c in g]
    bad = sorted({c for c in flat if not 0 <= c < n_classes})
    if bad:
        raise ConfigError("classes", "classes_unknown", value=bad, high=n_classes - 1)
    repeated = sorted({c for c in flat if flat.count(c) > 1})
    if repeated:
        raise ConfigError("classes", "classes_repeated", value=repeated)
    return groups


def even_class_groups(n_classes: int, n_tasks: int) -> list[tuple[int, ...]]:
    if n_tasks < 1 or n_classes % n_tasks:
        divisors = [d for d in range(1, n_classes + 1) if n_classes % d == 0]
        raise ConfigError("n_tasks", "tasks_uneven", classes=n_classes, value=n_tasks, choices=divisors)
    size = n_classes // n_tasks
    return [tuple(range(t * size, (t + 1) * size)) for t in range(n_tasks)]


def scenarios(info: BenchmarkInfo) -> tuple[str, ...]:
    """The scenarios a benchmark offers, its default first. Permuted / rotated tasks share every class:
    Domain-IL, or Task-IL meaning the task id is given at test time (which only task-aware models use). A stream
    has no tasks: Class-IL over its classes."""
    if info.kind == "stream":
        return ("class-il",)
    return ("class-il", "task-il") if info.kind == "split" else ("domain-il", "task-il")


def check_scenario(info: BenchmarkInfo, scenario: str | None) -> str:
    """The run's scenario on `info` (its default where None); raises ConfigError where it does not apply."""
    allowed = scenarios(info)
    if scenario is None:
        return allowed[0]
    if scenario not in allowed:
        raise ConfigError("scenario", "scenario_unsupported", benchmark=info.name, choices=allowed, value=scenario)
    return scenario


def task_sequence(
    info: BenchmarkInfo,
    n_tasks: int | None = None,
    classes: str | None = None,
    scenario: str | None = None,
    blurry: float = 0.0,
) -> tuple[list[tuple[int, ...]], str]:
    """(the class groups of the tasks, the scenario): every task-sequence check, blurry boundaries included,
    without loading any data."""
    scenario = check_scenario(info, scenario)
    n_classes = DATASET_CLASSES[info.dataset]
    if info.kind == "stream" and n_tasks not in (None, 1):
        raise ConfigError("n_tasks", "stream_has_no_tasks", benchmark=info.name, value=n_tasks)
    if info.kind != "split":
        if classes:
            raise ConfigError("classes", "classes_not_split", benchmark=info.name)
        groups = [tuple(range(n_classes))] * (n_tasks or info.default_tasks)
    elif not classes:
        groups = even_class_groups(n_classes, n_tasks or info.default_tasks)
    else:
        groups = parse_class_groups(classes, n_classes)
        if n_tasks is not None and n_tasks != len(groups):
            raise ConfigError("n_tasks", "tasks_mismatch", value=n_tasks, classes=classes, count=len(groups))
    check_blurry(info, scenario, len(groups), blurry)
    return groups, scenario


# A task's name is English (the CLI, the run store, logs); the app shows it in its own language from the parts
# `task_name_parts` reads back, so the two can never disagree.
TASK_NAMES = {
    "classes": "classes {classes}",
    "permutation": "permutation {n}",
    "rotation": "rotation {degrees}°",
    "stream": "stream",
}
_TASK_NAME_PATTERNS = {
    kind: re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+)", re.escape(template)))
    for kind, template in TASK_NAMES.items()
}


def task_name(kind: str, **parts) -> str:
    return TASK_NAMES[kind].format(**parts)


def task_name_parts(name: str) -> tuple[str, dict[str, str]] | None:
    """(kind, parts) of a name `task_name` built, e.g. ("rotation", {"degrees": "45"}); None for any other name."""
    for kind, pattern in _TASK_NAME_PATTERNS.items():
        if match := pattern.fullmatch(name):
            return kind, match.groupdict()
    return None


@dataclass
class Task:
    index: int
    name: str
    classes: tuple[int, ...]
    train_idx: torch.Tensor  # indices into the data set's training tensors
    test_idx: torch.Tensor
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # per-batch input transform
    train_angles: torch.Tensor | None = None  # a stream's rotation of each training position (degrees)


def _permutation_transform(perm: torch.Tensor):
    def permute(x: torch.Tensor) -> torch.Tensor:
        # index_select, not x[:, perm]: the same result ~5x faster on CPU (evaluation permutes 10k images a task)
        return x.flatten(1).index_select(1, perm).view_as(x)

    return permute


def _rotation_transform(degrees: float):
    theta_cache = {}

    def rotate(x: torch.Tensor) -> torch.Tensor:
        key = (x.device, x.dtype)
        if key not in theta_cache:
            a = math.radians(degrees)
            theta_cache[key] = torch.tensor(
                [[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], device=x.device, dtype=x.dtype
            )
        theta = theta_cache[key].expand(x.shape[0], 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False)

    return rotate


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Batched random crop (zero padding) and horizontal flip, all on x's device."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    gen_device = generator.device
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=gen_device).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=gen_device).to(x.device)
    flip = (torch.rand(n, generator=generator, device=gen_device) < 0.5).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = torch.arange(w, device=x.device).expand(n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols) + ox[:, None]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols[:, None, None, :]]


@dataclass
class Benchmark:
    info: BenchmarkInfo
    data: ImageDataset
    tasks: list[Task]
    scenario: str
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    blurry: float = 0.0  # the share of each task's training data moved into its neighbours
    class_masks: torch.Tensor = field(init=False)  # (n_tasks, n_classes) bool: the task's own classes

    def __post_init__(self):
        masks = torch.zeros(len(self.tasks), self.n_classes, dtype=torch.bool, device=self.device)
        for task in self.tasks:
            masks[task.index, list(task.classes)] = True
        self.class_masks = masks

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def n_classes(self) -> int:
        return self.data.n_classes

    @property
    def device(self) -> torch.device:
        return self.data.x_train.device

    @property
    def has_task_il(self) -> bool:
        """Task-IL (masking to the task's classes) is meaningful when tasks own different classes."""
        return self.info.kind == "split"

    @property
    def task_free(self) -> bool:
        """No clean task boundaries: a stream, or split tasks whose data is blurred into their neighbours."""
        return self.info.kind == "stream" or self.blurry > 0

    def inputs(self, task: Task, x: torch.Tensor) -> torch.Tensor:
        return task.transform(x) if task.transform else x

    def train_batch(self, task: Task, positions: torch.Tensor):
        idx = task.train_idx[positions]
        x = self.data.x_train[idx]
        if task.train_angles is not None:
            x = rotate_each(x, task.train_angles[positions])
        return self.inputs(task, x), self.data.y_train[idx]

    def epoch_order(self, n: int, generator: torch.Generator, shuffle_stream: bool = False) -> torch.Tensor:
        """The order an epoch visits a phase's n training positions: shuffled, except a stream's, which is the
        stream itself (`shuffle_stream`: shuffled all the same, for an offline learner such as joint)."""
        if self.info.kind == "stream" and not shuffle_stream:
            return torch.arange(n, device=self.device)
        return torch.randperm(n, generator=generator).to(self.device)

    def test_set(self, task: Task, limit: int | None = None):
        """The task's test inputs and labels (the first `limit`, a fixed random subset)."""
        idx = task.test_idx if limit is None else task.test_idx[:limit]
        return self.inputs(task, self.data.x_test[idx]), self.data.y_test[idx]


VALIDATION_SIZE = 10_000  # training examples set aside by `validation=True` (MNIST's test set has 10,000)
_VALIDATION_SEED = 20_261_206  # fixed: the hold-out is the same for every run seed


def validation_split(data: ImageDataset, size: int = VALIDATION_SIZE) -> ImageDataset:
    """The data set with a fixed random part of its training set standing in for the test set, for tuning
    settings without ever looking at the test set (bench/demo.py). The rest stays the training set."""
    order = torch.randperm(len(data.y_train), generator=torch.Generator().manual_seed(_VALIDATION_SEED))
    held, kept = order[:size].to(data.x_train.device), order[size:].to(data.x_train.device)
    return dataclasses.replace(
        data,
        x_train=data.x_train[kept],
        y_train=data.y_train[kept],
        x_test=data.x_train[held],
        y_test=data.y_train[held],
    )


def build_benchmark(
    name: str,
    *,
    n_tasks: int | None = None,
    classes: str | None = None,
    scenario: str | None = None,
    train_subset: int | None = None,
    seed: int = 0,
    device="cpu",
    data_dir=None,
    validation: bool = False,
    blurry: float = 0.0,
) -> Benchmark:
    """The task sequence `name`; `validation=True` scores it on a hold-out of the training data instead of
    the test set (see validation_split); `blurry`: the share of each split task's training data moved into its
    neighbouring tasks (clcore.data.stream.blur_tasks)."""
    if name not in BENCHMARKS:
        raise ConfigError("benchmark", "unknown_choice", value=name, choices=list(BENCHMARKS))
    info = BENCHMARKS[name]
    groups, scenario = task_sequence(info, n_tasks, classes, scenario, blurry)
    data = load_dataset(info.dataset, device, data_dir)
    if validation:
        data = validation_split(data)
        if info.kind == "stream":  # held-out training images stand in for the test set as the stream's test set is
            data = dataclasses.replace(data, **dict(zip(("x_test", "y_test"), mnist360_test(data.x_test, data.y_test))))
    gen = torch.Generator().manual_seed(seed)  # task construction draws from the seed alone
    device = data.x_train.device
    if info.kind == "stream":
        return _stream_benchmark(info, data, scenario, gen, train_subset)

    tasks = []
    n_pixels = data.x_train[0].numel()
    for t, group in enumerate(groups):
        wanted = torch.tensor(group, device=device)
        train_idx = torch.nonzero(torch.isin(data.y_train, wanted)).flatten()
        test_idx = torch.nonzero(torch.isin(data.y_test, wanted)).flatten()
        # Shuffle once so that a prefix is a fair random subset (subsampling, live evaluation).
        train_idx = train_idx[torch.randperm(len(train_idx), generator=gen).to(device)]
        test_idx = test_idx[torch.randperm(len(test_idx), generator=gen).to(device)]
        if train_subset:
            train_idx = train_idx[:train_subset]
        transform, label = None, task_name("classes", classes=", ".join(data.class_names[c] for c in group))
        if info.kind == "permuted":
            # Every task, the first included, draws its own permutation (as in mammoth's perm-mnist).
            perm = torch.randperm(n_pixels, generator=gen).to(device)
            transform, label = _permutation_transform(perm), task_name("permutation", n=t + 1)
        elif info.kind == "rotated":
            degrees = float(torch.rand(1, generator=gen)) * 180.0
            transform, label = _rotation_transform(degrees), task_name("rotation", degrees=f"{degrees:.0f}")
        tasks.append(Task(t, label, group, train_idx, test_idx, transform))
    if blurry:
        for task, mixed in zip(tasks, blur_tasks([task.train_idx for task in tasks], blurry, gen)):
            task.train_idx = mixed

    augment = random_crop_flip if info.augment else None
    return Benchmark(info, data, tasks, scenario, augment, blurry)


def check_blurry(info: BenchmarkInfo, scenario: str, n_tasks: int, blurry: float) -> None:
    """Blurry boundaries mix split tasks' classes in Class-IL (in Task-IL a sample's task would no longer say
    which classes compete); a single task has no neighbour to mix with."""
    if not blurry:
        return
    if info.kind != "split" or scenario != "class-il":
        raise ConfigError("blurry", "blurry_needs_class_il", benchmark=info.name, scenario=scenario)
    if n_tasks < 2:
        raise ConfigError("blurry", "blurry_needs_two_tasks", value=blurry)


def _stream_benchmark(info, data, scenario, gen, train_subset) -> Benchmark:
    """MNIST-360: one task holding the whole stream in its order (clcore.data.stream); `train_subset` is the
    stream's length, spread evenly over the classes."""
    per_class = math.ceil(train_subset / MNIST360_CLASSES) if train_subset else None
    train_idx, angles = mnist360_stream(data.y_train, gen, per_class)
    test_idx = torch.randperm(len(data.y_test), generator=gen).to(data.y_test.device)  # a prefix: a fair subset
    task = Task(0, task_name("stream"), tuple(range(MNIST360_CLASSES)), train_idx, test_idx, train_angles=angles)
    return Benchmark(info, data, [task], scenario)
