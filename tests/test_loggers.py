"""Loggers (clcore.runs.loggers): a tiny run logged to TensorBoard and CSV, read back and checked against the
run's result; a resumed run continues the same CSV; the default command line imports neither TensorBoard nor
torchvision."""

import csv
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clcore import Run
from clcore.runs.checkpoint import resume, save_checkpoint
from clcore.runs.loggers import CSV_NAME, LoggerError, attach_loggers
from tests.cli_support import run_cli
from tests.test_checkpoint import tiny_config

ROOT = Path(__file__).resolve().parent.parent


def read_csv(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from a CSV logger's file."""
    scalars = defaultdict(list)
    with open(folder / CSV_NAME, newline="") as file:
        for row in csv.DictReader(file):
            scalars[row["tag"]].append((int(row["step"]), float(row["value"])))
    return scalars


def read_events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def expected_scalars(result: dict) -> dict[str, list[tuple[int, float]]]:
    """What both loggers must hold for the run's loss and accuracy matrices (per tag, in step order)."""
    boundaries = result["task_boundaries"]
    expected = {"loss": list(zip(result["loss_curve"]["steps"], result["loss_curve"]["loss"]))}
    for name, matrix in (("acc_matrix", result["acc_matrix"]), ("acc_matrix_task_il", result["acc_matrix_task_il"])):
        for j in range(len(result["tasks"])):
            expected[f"{name}/stable/T{j + 1}"] = [(step, row[j]) for step, row in zip(boundaries, matrix)]
    return expected


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A tiny CLS-ER run (step statistics: teacher choices; a typed report) logged to both."""
    folder = tmp_path_factory.mktemp("logs")
    run = Run(tiny_config("clser"))
    attach_loggers(run, "tensorboard,csv", folder)
    return folder, run.run_to_end()


def test_tensorboard_events_hold_the_runs_curves_and_matrix(logged):
    folder, result = logged
    scalars = read_events(folder)
    for tag, points in expected_scalars(result).items():
        assert [step for step, _ in scalars[tag]] == [step for step, _ in points], tag
        # event files hold float32
        assert [value for _, value in scalars[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag
    assert {"accuracy/stable/T1", "accuracy/plastic/T3", "samples_per_s"} <= set(scalars)
    # the strategy's signals: its step statistics and the numeric fields of its task-end report
    assert {"strategy/plastic/0", "strategy/stable/2", "strategy/steps"} <= set(scalars)
    assert [value for _, value in scalars["report/teacher_choices_total/steps"]] == [
        report["teacher_choices_total"]["steps"] for report in result["strategy_reports"]
    ]


def test_the_csv_holds_the_same_scalars(logged):
    folder, result = logged
    scalars = read_csv(folder)
    for tag, points in expected_scalars(result).items():
        assert scalars[tag] == points, tag  # written with repr(): exact
    assert set(scalars) == set(read_events(folder))


def test_a_resumed_run_continues_its_logs_as_if_never_stopped(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    reference = Run(tiny_config("er"))
    attach_loggers(reference, "tensorboard,csv", whole)
    reference.run_to_end()

    run = Run(tiny_config("er"))
    attach_loggers(run, "tensorboard,csv", parts)
    run.advance(batches=4)
    save_checkpoint(run, tmp_path / "run.ckpt")
    run.advance(batches=3)  # logged, then lost with the process: the resumed run does these steps again
    resumed = resume(tmp_path / "run.ckpt")
    attach_loggers(resumed, "tensorboard,csv", parts)
    resumed.run_to_end()

    def without_timing(scalars):
        return {tag: points for tag, points in scalars.items() if tag != "samples_per_s"}

    assert without_timing(read_csv(parts)) == without_timing(read_csv(whole))
    # TensorBoard reads both event files of `parts`, hiding what the first logged after the checkpoint
    assert without_timing(read_events(parts)) == without_timing(read_events(whole))


def test_unknown_loggers_are_refused(tmp_path):
    run = Run(tiny_config("finetune"))
    with pytest.raises(LoggerError, match="choose one or more of tensorboard, csv"):
        attach_loggers(run, "tensorboard,wandb", tmp_path)
    code, stderr = run_cli(["run", "--strategy", "finetune", "--log", "mlflow", "--quiet"])
    assert code == 2 and stderr.count("\n") == 1 and "--log 'mlflow'" in stderr


def test_cli_logs_and_the_default_path_imports_no_tensorboard(tmp_path):
    """One process: a run without --log, checked for what it imported, then one with --log csv."""
    tiny = ["run", "--strategy", "finetune", "--train-subset", "20", "--hidden", "8", "--quiet", "--no-recommended"]
    script = (
        "import sys\n"
        "from clcore.cli import main\n"
        f"assert main({tiny!r}) == 0\n"
        "print('imported:', [m for m in ('torchvision', 'tensorboard') if m in sys.modules])\n"
        f"assert main({[*tiny, '--log', 'csv', '--log-dir', str(tmp_path)]!r}) == 0\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "imported: []" in done.stdout.splitlines()
    assert len(read_csv(tmp_path)["acc_matrix/student/T5"]) == 5
