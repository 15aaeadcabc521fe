"""Task sequences (benchmarks) built from whole-tensor data sets.

Split benchmarks give each task a group of classes (Class-IL / Task-IL); permuted and rotated ones
give every task all classes seen through a fixed per-task input transform (Domain-IL). Transforms are
applied per batch on the device, so twenty permuted tasks cost no more memory than one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from clcore.data.datasets import ImageDataset, load_dataset
from clcore.errors import ConfigError


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    dataset: str
    kind: str  # "split" | "permuted" | "rotated"
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
DATASET_CLASSES = {"mnist": 10, "fashion-mnist": 10, "cifar10": 10, "cifar100": 100}


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
    Domain-IL, or Task-IL meaning the task id is given at test time (which only task-aware models use)."""
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
    info: BenchmarkInfo, n_tasks: int | None = None, classes: str | None = None, scenario: str | None = None
) -> tuple[list[tuple[int, ...]], str]:
    """(the class groups of the tasks, the scenario): every task-sequence check, without loading any data."""
    scenario = check_scenario(info, scenario)
    n_classes = DATASET_CLASSES[info.dataset]
    if info.kind != "split":
        if classes:
            raise ConfigError("classes", "classes_not_split", benchmark=info.name)
        return [tuple(range(n_classes))] * (n_tasks or info.default_tasks), scenario
    if not classes:
        return even_class_groups(n_classes, n_tasks or info.default_tasks), scenario
    groups = parse_class_groups(classes, n_classes)
    if n_tasks is not None and n_tasks != len(groups):
        raise ConfigError("n_tasks", "tasks_mismatch", value=n_tasks, classes=classes, count=len(groups))
    return groups, scenario


@dataclass
class Task:
    index: int
    name: str
    classes: tuple[int, ...]
    train_idx: torch.Tensor  # indices into the data set's training tensors
    test_idx: torch.Tensor
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # per-batch input transform


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

    def inputs(self, task: Task, x: torch.Tensor) -> torch.Tensor:
        return task.transform(x) if task.transform else x

    def train_batch(self, task: Task, positions: torch.Tensor):
        idx = task.train_idx[positions]
        return self.inputs(task, self.data.x_train[idx]), self.data.y_train[idx]

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
) -> Benchmark:
    """The task sequence `name`; `validation=True` scores it on a hold-out of the training data instead of
    the test set (see validation_split)."""
    if name not in BENCHMARKS:
        raise ConfigError("benchmark", "unknown_choice", value=name, choices=list(BENCHMARKS))
    info = BENCHMARKS[name]
    groups, scenario = task_sequence(info, n_tasks, classes, scenario)
    data = load_dataset(info.dataset, device, data_dir)
    if validation:
        data = validation_split(data)
    gen = torch.Generator().manual_seed(seed)  # task construction draws from the seed alone
    device = data.x_train.device

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
        transform, label = None, "classes " + ", ".join(data.class_names[c] for c in group)
        if info.kind == "permuted":
            # Every task, the first included, draws its own permutation (as in mammoth's perm-mnist).
            perm = torch.randperm(n_pixels, generator=gen).to(device)
            transform, label = _permutation_transform(perm), f"permutation {t + 1}"
        elif info.kind == "rotated":
            degrees = float(torch.rand(1, generator=gen)) * 180.0
            transform, label = _rotation_transform(degrees), f"rotation {degrees:.0f}°"
        tasks.append(Task(t, label, group, train_idx, test_idx, transform))

    augment = random_crop_flip if info.augment else None
    return Benchmark(info, data, tasks, scenario, augment)
