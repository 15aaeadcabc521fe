"""Loggers: a run's loss, accuracy matrix and strategy signals written to TensorBoard and to CSV as the run
emits its events. Each logger is an event listener (`Run.subscribe`): the run loop knows nothing of them.

    attach_loggers(run, "tensorboard,csv", "runs/er")   # before advancing the run

Both write the same scalars, each with the training step it belongs to:
- `loss`, `samples_per_s`: every logging window (BatchEnd, every `log_every` steps);
- `accuracy/<model>/T<j>`: accuracy (%) on task j at each live evaluation (a fixed test subset);
- `acc_matrix/<model>/T<j>` (and `acc_matrix_task_il/...` on split benchmarks): R[i][j], written at the
  step of task i's end, so that tag T<j> read in step order is column j of the accuracy matrix;
- `strategy/<name>`: the numeric fields of the strategy's step statistics (drain_step_stats, as the run
  recorded them for that window);
- `report/<field>`: the numeric fields of the strategy's typed task-end report, at the task end's step.
TensorBoard also gets the final accuracy matrix as a Markdown table (text `acc_matrix`).

A resumed run (clcore.runs.checkpoint) continues in the same folder: what the stopped run logged after its
checkpoint is dropped (TensorBoard's purge_step; the CSV's rows after the checkpoint's step).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import torch

from clcore.runs.events import BatchEnd, Evaluation, RunEnd, TaskEnd

LOGGERS = ("tensorboard", "csv")
CSV_NAME = "scalars.csv"
MAX_LIST_SCALARS = 32  # longer lists (per-class counts of large benchmarks, images) are not logged as scalars


class LoggerError(ValueError):
    """A logger cannot be set up; the message is one line for the person at the controls."""


def numeric_fields(value, prefix: str):
    """(tag, number) for every number in `value`: numbers, one-element tensors, and those inside dataclasses,
    dicts and short lists of numbers (tags joined with '/'); everything else (text, images) is left out."""
    if isinstance(value, (bool, int, float)):
        yield prefix, float(value)
    elif isinstance(value, torch.Tensor):
        if value.numel() == 1:
            yield prefix, float(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from numeric_fields(getattr(value, field.name), f"{prefix}/{field.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numeric_fields(item, f"{prefix}/{key}")
    elif (
        isinstance(value, (list, tuple))
        and len(value) <= MAX_LIST_SCALARS
        and all(isinstance(item, (bool, int, float)) for item in value)
    ):
        for index, item in enumerate(value):
            yield f"{prefix}/{index}", float(item)


class ScalarLogger:
    """Turns a run's events into (tag, value, step) scalars; subclasses write them somewhere."""

    def __init__(self, run):
        self.run = run
        self.closed = False
        run.subscribe(self)

    def write(self, tag: str, value: float, step: int) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def __call__(self, event) -> None:
        if self.closed:
            return
        for tag, value, step in self.scalars(event):
            self.write(tag.replace(" ", "_"), value, step)
        if isinstance(event, RunEnd):
            self.close()
        else:
            self.flush()

    def scalars(self, event):
        rec = self.run.record
        if isinstance(event, BatchEnd):
            yield "loss", event.loss, event.step
            yield "samples_per_s", event.samples_per_s, event.step
            if rec.step_stats and rec.step_stats[-1][0] == event.step:
                for tag, value in numeric_fields(rec.step_stats[-1][1], "strategy"):
                    yield tag, value, event.step
        elif isinstance(event, Evaluation) and not event.full:
            for model, accuracies in event.acc.items():
                for j, accuracy in enumerate(accuracies):
                    yield f"accuracy/{model}/T{j + 1}", accuracy, event.step
        elif isinstance(event, TaskEnd):
            for name, matrix in (("acc_matrix", rec.matrix), ("acc_matrix_task_il", rec.matrix_task_il)):
                for model, rows in matrix.items():
                    for j, accuracy in enumerate(rows[-1]):
                        yield f"{name}/{model}/T{j + 1}", accuracy, event.step
            for tag, value in numeric_fields(rec.strategy_reports[-1], "report"):
                yield tag, value, event.step


class CSVLogger(ScalarLogger):
    """`<log_dir>/scalars.csv`: one row per scalar (step, tag, value), flushed after every event so that a
    killed run keeps what it logged."""

    def __init__(self, run, log_dir):
        path = Path(log_dir) / CSV_NAME
        kept = []
        if run.step and path.exists():  # a resumed run: keep the rows logged up to its checkpoint
            with open(path, newline="") as file:
                kept = [row for row in list(csv.reader(file))[1:] if len(row) == 3 and int(row[0]) <= run.step]
        self.file = open(path, "w", newline="")  # noqa: SIM115 - open for the run's life, closed at its end
        self.writer = csv.writer(self.file)
        self.writer.writerows([["step", "tag", "value"], *kept])
        super().__init__(run)

    def write(self, tag, value, step):
        self.writer.writerow([step, tag, repr(float(value))])

    def flush(self):
        self.file.flush()

    def close(self):
        if not self.closed:
            self.file.close()
        super().close()


class TensorBoardLogger(ScalarLogger):
    """TensorBoard event files in `log_dir` (torch.utils.tensorboard.SummaryWriter, imported only here)."""

    def __init__(self, run, log_dir):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise LoggerError(
                "the TensorBoard logger needs the tensorboard package (pip install -r requirements.txt)"
            ) from None
        # a resumed run: TensorBoard hides what the stopped run logged after its checkpoint's step
        self.writer = SummaryWriter(str(log_dir), purge_step=run.step + 1 if run.step else None)
        super().__init__(run)

    def write(self, tag, value, step):
        self.writer.add_scalar(tag, value, step)

    def flush(self):
        self.writer.flush()

    def close(self):
        if not self.closed:
            self.writer.add_text("acc_matrix", matrix_markdown(self.run.record.matrix), self.run.step)
            self.writer.close()
        super().close()


def matrix_markdown(matrix: dict) -> str:
    """The accuracy matrices R[i][j] (%) as Markdown tables, one per model."""
    parts = []
    for model, rows in matrix.items():
        n = max((len(row) for row in rows), default=0)
        lines = [f"**{model}**", "", "| after | " + " | ".join(f"T{j + 1}" for j in range(n)) + " |"]
        lines.append("|---" * (n + 1) + "|")
        for i, row in enumerate(rows):
            cells = " | ".join("-" if not math.isfinite(v) else f"{v:.1f}" for v in row)
            lines.append(f"| T{i + 1} | {cells} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def attach_loggers(run, names: str, log_dir) -> list[ScalarLogger]:
    """Subscribe the loggers named in `names` (comma-separated, from LOGGERS) to `run`, writing in `log_dir`."""
    chosen = [name.strip() for name in str(names).split(",") if name.strip()]
    unknown = [name for name in chosen if name not in LOGGERS]
    if unknown or not chosen:
        raise LoggerError(f"--log '{names}': choose one or more of {', '.join(LOGGERS)} (comma-separated)")
    try:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LoggerError(f"cannot create the log folder {log_dir}: {error.strerror or error}") from None
    kinds = {"tensorboard": TensorBoardLogger, "csv": CSVLogger}
    return [kinds[name](run, log_dir) for name in dict.fromkeys(chosen)]
