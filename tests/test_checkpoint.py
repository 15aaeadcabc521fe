"""Checkpoints (clcore.runs.checkpoint): every strategy resumes to exactly the result of a run that never stopped,
files that are not checkpoints are refused with one line, saving is atomic, and a CLI run killed with
SIGKILL after its first checkpoint resumes to the uninterrupted run's accuracy matrix."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import clcore
from clcore import Run, make_config
from clcore.runs import checkpoint
from clcore.runs.checkpoint import CheckpointError, read_checkpoint, resume, save_checkpoint
from tests.cli_support import run_cli

ROOT = Path(__file__).resolve().parent.parent
TIMING = ("wall_s", "train_s", "train_samples_per_s")  # the only fields a resumed run may change


def tiny_config(name: str, **settings):
    """3 tasks of 3 batches; a logging window (2 steps) and live evaluations straddle the checkpoints."""
    cls = clcore.STRATEGIES[name]
    return make_config(
        **{
            "strategy": name,
            "classes": "0,1|2,3|4,5",
            "buffer_size": 20 if cls.uses_buffer else 0,
            "train_subset": 30,
            "batch_size": 10,
            "hidden": (16,),
            "eval_every": 2,
            "eval_subset": 20,
            "log_every": 2,
            "seed": 0,
            **settings,
        }
    )


def seeded_run(config) -> Run:
    """Some strategies build layers with torch's global generator (DualNet's fast layers and projector, the
    VAE of DGR / GNR): seeded alike, the two runs compared start alike."""
    torch.manual_seed(0)
    return Run(config)


def comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in TIMING}


def saved_and_resumed(run: Run, path: Path) -> Run:
    save_checkpoint(run, path)
    return resume(path)


@pytest.mark.parametrize("name", list(clcore.STRATEGIES))
def test_every_strategy_resumes_to_the_uninterrupted_result(name, tmp_path):
    config = tiny_config(name)
    reference = seeded_run(config).run_to_end()
    assert reference["status"] == "finished", reference["message"]

    path = tmp_path / "run.ckpt"
    run = seeded_run(config)
    run.advance(batches=1)  # mid-epoch, its logging window open
    run = saved_and_resumed(run, path)
    run.advance(until="task")  # the first task's end: the next task not begun
    run = saved_and_resumed(run, path)
    run.advance(batches=2)  # mid-way through the second task, after a report and a live evaluation
    run = saved_and_resumed(run, path)
    # the loss curve, accuracy matrix and curves, step statistics, reports and buffer, bit for bit
    assert comparable(run.run_to_end()) == comparable(reference)


def test_a_checkpoint_is_plain_data_read_with_weights_only(tmp_path):
    run = Run(tiny_config("pnn"))
    run.advance(until="task")
    path = tmp_path / "pnn.ckpt"
    save_checkpoint(run, path)
    data = torch.load(path, weights_only=True)
    assert data["format"] == checkpoint.FORMAT and data["config"] == run.config.to_dict()
    assert data["progress"]["step"] == run.step == 3

    def kinds(node):
        if isinstance(node, dict):
            return {type(node)}.union(*(kinds(k) | kinds(v) for k, v in node.items()))
        if isinstance(node, list):
            return {list}.union(*map(kinds, node))
        return {type(node)}

    assert kinds(data) <= {dict, list, torch.Tensor, str, int, float, bool, type(None)}


def test_grown_structure_comes_back(tmp_path):
    """PNN adds a column per task: the resumed network has the saved columns, not a fresh single one."""
    run = Run(tiny_config("pnn"))
    run.advance(until="task")
    run.advance(batches=1)  # the second column exists now
    resumed = saved_and_resumed(run, tmp_path / "pnn.ckpt")
    assert len(resumed.strategy.model.columns) == len(run.strategy.model.columns) == 2
    fresh = Run(tiny_config("pnn"))
    assert len(fresh.strategy.model.columns) == 1
    for (name, saved), (_, restored) in zip(
        run.strategy.model.state_dict().items(), resumed.strategy.model.state_dict().items()
    ):
        assert torch.equal(saved, restored), name
    # shared references stay shared: the optimizer steps the very parameters of the model
    trained = {id(p) for group in resumed.strategy.optimizer.param_groups for p in group["params"]}
    assert trained <= {id(p) for p in resumed.strategy.model.parameters()}


def test_saving_a_finished_run_resumes_finished(tmp_path):
    run = Run(tiny_config("finetune"))
    result = run.run_to_end()
    resumed = saved_and_resumed(run, tmp_path / "done.ckpt")
    assert resumed.done and resumed.status == "finished"
    assert comparable(resumed.result()) == comparable(result)


# refusals ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    run = Run(tiny_config("er"))
    run.advance(until="task")
    path = tmp_path_factory.mktemp("ckpt") / "er.ckpt"
    save_checkpoint(run, path)
    return path


def refusal(path, **settings) -> str:
    with pytest.raises(CheckpointError) as caught:
        resume(path, **settings)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_files_that_are_not_checkpoints_are_refused(saved, tmp_path):
    missing = tmp_path / "missing.ckpt"
    assert "no checkpoint at" in refusal(missing)

    objects = tmp_path / "config.pt"  # another run's config, pickled as an object
    torch.save(make_config(strategy="er", buffer_size=10), objects)
    assert "holds Python objects" in refusal(objects)

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    assert "truncated or not a checkpoint" in refusal(truncated)

    result = tmp_path / "result.json"
    result.write_text(json.dumps({"config": {"strategy": "er"}}))
    assert "truncated or not a checkpoint" in refusal(result)

    state_dict = tmp_path / "weights.pt"  # plain data, but no run checkpoint
    torch.save(Run(tiny_config("finetune")).strategy.model.state_dict(), state_dict)
    assert "not a clcore run checkpoint" in refusal(state_dict)

    data = read_checkpoint(saved)
    future = tmp_path / "future.ckpt"
    torch.save({**data, "version": checkpoint.VERSION + 1}, future)
    assert "format version" in refusal(future)


def test_a_checkpoint_naming_a_foreign_class_is_refused(saved, tmp_path):
    data = read_checkpoint(saved)
    strategy = data["graph"]["values"][data["graph"]["keys"].index("strategy")]
    strategy["class"] = "subprocess:Popen"
    forged = tmp_path / "forged.ckpt"
    torch.save(data, forged)
    assert "no engine class" in refusal(forged)


def test_a_checkpoint_of_another_config_is_refused(saved):
    assert "a run of er on split-mnist: its strategy is er, not ewc" in refusal(saved, strategy="ewc")
    assert "its lr is" in refusal(saved, lr="0.5")
    assert "its buffer_size is 20, not 7" in refusal(saved, buffer_size=7)
    assert resume(saved, strategy="er", buffer_size="20", device="auto").step == 3  # agreeing options are fine


def test_what_a_checkpoint_cannot_hold_is_named_at_save_time(tmp_path):
    run = Run(tiny_config("finetune"))
    run.strategy.callback = lambda: None
    with pytest.raises(CheckpointError, match=r"run\.strategy\.callback holds .*function"):
        save_checkpoint(run, tmp_path / "x.ckpt")
    assert not list(tmp_path.iterdir())


def test_no_checkpoint_from_inside_advance(tmp_path):
    run = Run(tiny_config("finetune"))
    errors = []

    def save_now(event):
        try:
            save_checkpoint(run, tmp_path / "x.ckpt")
        except CheckpointError as error:
            errors.append(str(error))

    run.subscribe(save_now)
    run.advance(batches=1)
    assert errors and "between advance() calls" in errors[0]


def test_a_failed_write_leaves_the_previous_checkpoint(saved, tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    path.write_bytes(saved.read_bytes())
    run = Run(tiny_config("er"))

    def dies_mid_write(data, file):
        file.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", dies_mid_write)
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint(run, path)
    assert path.read_bytes() == saved.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temporary file left behind


# the command line ---------------------------------------------------------------------------------

CLI_RUN = [
    "run",
    "--strategy",
    "er",
    "--buffer-size",
    "50",
    "--classes",
    "0,1|2,3|4,5",
    "--train-subset",
    "600",
    "--batch-size",
    "10",
    "--hidden",
    "200,200",
    "--eval-every",
    "20",
    "--eval-subset",
    "200",
    "--seed",
    "3",
    "--no-recommended",
    "--quiet",
]


def test_a_killed_cli_run_resumes_to_the_uninterrupted_matrix(tmp_path):
    path = tmp_path / "run.ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "clcore", *CLI_RUN, "--checkpoint", str(path), "--out", str(tmp_path / "killed.json")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not path.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    assert read_checkpoint(path)["progress"]["step"] in (60, 120)  # a task's end (60 steps each), not the last
    assert not (tmp_path / "killed.json").exists()

    code, stderr = run_cli(["run", "--resume", str(path), "--quiet", "--out", str(tmp_path / "resumed.json")])
    assert code == 0, stderr
    code, stderr = run_cli([*CLI_RUN, "--out", str(tmp_path / "whole.json")])
    assert code == 0, stderr
    resumed, whole = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("resumed", "whole"))
    assert resumed["acc_matrix"] == whole["acc_matrix"]
    assert resumed["loss_curve"] == whole["loss_curve"]
    assert read_checkpoint(path)["progress"]["step"] == 180  # it went on saving to the same file


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--resume", "{missing}"], "no checkpoint at"),
        (["--resume", "{saved}", "--strategy", "ewc"], "its strategy is er, not ewc"),
        (["--resume", "{saved}", "--param", "alpha=1"], "params: 'alpha' is unknown for strategy er"),
        (["--strategy", "er", "--checkpoint-every", "often"], "--checkpoint-every 'often' must be"),
        (["--strategy", "er", "--checkpoint", "{missing_dir}/run.ckpt"], "does not exist"),
    ],
)
def test_cli_checkpoint_errors_are_one_line(extra, message, saved, tmp_path):
    paths = {"missing": tmp_path / "none.ckpt", "saved": saved, "missing_dir": tmp_path / "nowhere"}
    code, stderr = run_cli(["run", *(arg.format(**paths) for arg in extra), "--quiet"])
    assert code == 2
    assert stderr.count("\n") == 1 and message in stderr, stderr
