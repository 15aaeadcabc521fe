"""Events a run emits as it advances; plain data, so any front end can draw them."""

from __future__ import annotations

from dataclasses import dataclass

from clcore.runs.state import RunState


@dataclass
class BatchEnd:
    """Emitted every `log_every` steps (and at epoch / task ends): the mean loss over that window."""

    step: int
    task: int
    epoch: int
    loss: float
    samples_per_s: float
    elapsed_s: float


@dataclass
class Evaluation:
    """Accuracy (%) on every task's test set, per evaluated model. `full` evaluations (task ends, and
    the random-init one at step 0) use whole test sets; live ones use a fixed subset per task."""

    step: int
    task: int
    full: bool
    acc: dict  # model name -> [accuracy per task] in the run's scenario
    acc_task_il: dict | None  # model name -> [accuracy per task] with Task-IL masking (split benchmarks)


@dataclass
class EpochEnd:
    step: int
    task: int
    epoch: int


@dataclass
class TaskEnd:
    step: int
    task: int
    row: list  # R[task][*] of the reported model
    strategy_report: dict  # strategy-specific data (importance, teacher choices, ...)
    buffer: dict | None  # class / task composition of the replay buffer


@dataclass
class RunEnd:
    status: RunState  # FINISHED | STOPPED | FAILED
    message: str = ""
