"""`python -m clcore list | run`: listings, the result JSON, presets, and one-line errors for bad input.

The commands run as real subprocesses, started together in a module fixture so that their start-up
costs (importing torch) overlap. The full matrix of bad inputs also runs in-process through
`clcore.cli.main` (the whole program: `__main__` only calls it), which is much faster; a few of them
run as subprocesses too, to check the real exit status and stderr of the process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import clcore
from clcore.cli import main
from clcore.data.benchmarks import BENCHMARKS
from clcore.settings.config import FIELDS
from clcore.settings.recommended import recommended_settings

ROOT = Path(__file__).resolve().parent.parent
# One torch thread per process: these processes run side by side on a small machine.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

ISSUE_EXAMPLE = [
    "run",
    "--benchmark",
    "split-mnist",
    "--strategy",
    "clser",
    "--buffer",
    "200",
    "--epochs",
    "1",
    "--batch-size",
    "10",
    "--replay-batch-size",
    "128",
    "--lr",
    "0.03",
    "--optimizer",
    "sgd",
    "--model",
    "mlp",
    "--hidden",
    "100,100",
    "--seed",
    "0",
    "--device",
    "auto",
    "--param",
    "reg_weight=2.0",
    "--param",
    "stable_freq=0.9",
    "--train-subset",
    "200",
    "--quiet",
]

# (id, arguments after `run`, words the one stderr line must contain)
BAD_INPUTS = [
    ("unknown-strategy", ["--strategy", "frob"], ["strategy", "frob", "clser"]),
    ("unknown-benchmark", ["--benchmark", "imagenet"], ["benchmark", "imagenet", "split-mnist"]),
    ("negative-buffer", ["--strategy", "er", "--buffer", "-5"], ["buffer", "-5"]),
    ("buffer-not-a-number", ["--strategy", "er", "--buffer", "many"], ["buffer", "many"]),
    (
        "unknown-param-key",
        ["--strategy", "clser", "--buffer", "10", "--param", "foo=1"],
        ["foo", "clser", "reg_weight"],
    ),
    ("param-without-value", ["--strategy", "ewc", "--param", "ewc_lambda"], ["ewc_lambda", "name=value"]),
    (
        "param-out-of-range",
        ["--strategy", "clser", "--buffer", "10", "--param", "stable_freq=1.5"],
        ["stable_freq", "1.5", "range"],
    ),
    ("param-not-a-number", ["--strategy", "ewc", "--param", "ewc_lambda=lots"], ["ewc_lambda", "lots"]),
    ("lr-zero", ["--lr", "0"], ["lr", "0"]),
    ("lr-negative", ["--lr", "-0.1"], ["lr", "-0.1"]),
    ("epochs-zero", ["--epochs", "0"], ["epochs"]),
    ("bad-hidden", ["--hidden", "100,abc"], ["hidden", "100,abc"]),
    ("repeated-classes", ["--classes", "0,1|1,2"], ["classes", "1", "more than one task"]),
    ("missing-classes", ["--classes", "0,11"], ["classes", "11", "0..9"]),
    ("buffer-strategy-without-buffer", ["--strategy", "der", "--no-recommended"], ["buffer", "der"]),
    ("buffer-strategy-buffer-zero", ["--strategy", "er", "--buffer", "0"], ["buffer", "er"]),
    ("forced-cuda", ["--device", "cuda"], ["cuda"]),
    ("unknown-preset", ["--preset", "nope"], ["preset", "nope"]),
    ("tasks-do-not-divide-classes", ["--tasks", "3"], ["tasks", "3", "10 classes"]),
    ("scenario-for-domain-il", ["--benchmark", "permuted-mnist", "--scenario", "class-il"], ["scenario", "class-il"]),
    ("unknown-option", ["--frobnicate", "1"], ["frobnicate"]),
]
SUBPROCESS_BAD = ["unknown-strategy", "forced-cuda"]  # a make_config error and a Run error


def _launch(args):
    return subprocess.Popen(
        [sys.executable, "-m", "clcore", *args],
        cwd=ROOT,
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    commands = {
        "list": ["list"],
        "list-json": ["list", "--json"],
        "issue": [*ISSUE_EXAMPLE, "--out", str(out / "issue.json")],
        "preset": [
            "run",
            "--preset",
            "clser-split-mnist-200",
            "--train-subset",
            "100",
            "--eval-every",
            "0",
            "--quiet",
            "--out",
            str(out / "preset.json"),
        ],
    }
    bad = {case: args for case, args, _ in BAD_INPUTS}
    commands.update({f"bad:{case}": ["run", *bad[case]] for case in SUBPROCESS_BAD})
    procs = {name: _launch(args) for name, args in commands.items()}
    done = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=280)
        done[name] = subprocess.CompletedProcess(commands[name], proc.returncode, stdout, stderr)
    done["out"] = out
    return done


def _json(cli, name):
    proc = cli[name]
    assert proc.returncode == 0, proc.stderr
    return json.loads((cli["out"] / f"{name}.json").read_text())


# ---------------------------------------------------------------------------------------------------
# list


def test_list_text(cli):
    proc = cli["list"]
    assert proc.returncode == 0 and proc.stderr == ""
    text = proc.stdout
    assert "Benchmarks:" in text and "Strategies" in text and "Presets" in text
    for name in BENCHMARKS:
        assert f"  {name} " in text
    for name, cls in clcore.STRATEGIES.items():
        assert f"  {name} " in text
        for p in cls.params:
            assert p.name in text
    for name in clcore.PRESETS:
        assert f"  {name} " in text
    # a strategy's parameters are listed under it, with default and range
    block = text.split("  clser ")[1].split("  ewc ")[0]
    assert "stable_freq" in block and "default 0.7" in block and "range 0.0..1.0" in block


def test_list_json(cli):
    proc = cli["list-json"]
    assert proc.returncode == 0
    info = json.loads(proc.stdout)
    assert [b["name"] for b in info["benchmarks"]] == list(BENCHMARKS)
    assert [s["name"] for s in info["strategies"]] == list(clcore.STRATEGIES)
    by_name = {s["name"]: s for s in info["strategies"]}
    assert by_name["er"]["uses_buffer"] is True and by_name["ewc"]["uses_buffer"] is False
    clser_params = {p["name"]: p for p in by_name["clser"]["params"]}
    assert clser_params["stable_freq"] == {
        "name": "stable_freq",
        "default": 0.7,
        "low": 0.0,
        "high": 1.0,
        "type": "float",
        "help": clser_params["stable_freq"]["help"],
    }
    assert set(info["presets"]) == set(clcore.PRESETS)
    preset = info["presets"]["clser-split-mnist-200"]
    assert preset["lr"] == 0.03 and preset["replay_batch_size"] == 128 and preset["params"]["reg_weight"] == 2.0


# ---------------------------------------------------------------------------------------------------
# run


def test_run_writes_result_json_with_resolved_config(cli):
    """The preset run doubles as the tiny run whose JSON is checked in full."""
    result = _json(cli, "preset")
    assert cli["preset"].stderr == ""  # --quiet: no progress bar
    assert "accuracy matrix" in cli["preset"].stdout and "status: finished" in cli["preset"].stdout
    config = result["config"]
    assert set(config) == FIELDS
    # fully resolved: every default made explicit
    assert config["n_tasks"] == 5 and config["scenario"] == "class-il"
    assert config["classes"] == "0,1|2,3|4,5|6,7|8,9"
    assert config["device"] == "cpu" and config["buffer_policy"] == "reservoir"
    assert config["eval_every"] == 0 and isinstance(config["eval_subset"], int)
    assert config["momentum"] == 0.0 and config["weight_decay"] == 0.0 and config["seed"] == 0
    assert all(config[k] is not None for k in FIELDS - {"preset"})
    # and it rebuilds the same configuration
    assert clcore.make_config(**config).to_dict() == config

    assert result["status"] == "finished"
    assert len(result["acc_matrix"]) == 5 and all(len(r) == 5 for r in result["acc_matrix"])
    assert len(result["acc_matrix_task_il"]) == 5 and all(len(r) == 5 for r in result["acc_matrix_task_il"])
    for key in ("avg_acc", "forgetting", "bwt", "fwt", "wall_s", "train_samples_per_s"):
        assert isinstance(result[key], float), key
    assert result["wall_s"] > 0 and result["train_samples_per_s"] > 0
    assert result["train_samples"] == 500 and result["steps"] == 50
    assert set(result["per_model"]) == {"stable", "plastic", "student"}
    assert result["acc_matrix"] == result["per_model"]["stable"]["acc_matrix"]
    for m in result["per_model"].values():
        assert len(m["acc_matrix"]) == 5 and isinstance(m["avg_acc"], float) and isinstance(m["bwt"], float)


def test_issue_example_command(cli):
    result = _json(cli, "issue")
    assert result["status"] == "finished"
    config = result["config"]
    recommended = recommended_settings("clser", "split-mnist")
    # the two --param values replace theirs; the other parameters are the recommended ones
    assert config["params"] == {**recommended["params"], "reg_weight": 2.0, "stable_freq": 0.9}
    assert config["replay_batch_size"] == 128 and config["buffer_size"] == 200 and config["hidden"] == [100, 100]
    assert config["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # 'auto' resolved
    assert result["reported_model"] == "stable"
    assert set(result["per_model"]) == {"stable", "plastic", "student"}
    for m in result["per_model"].values():
        assert len(m["acc_matrix"]) == recommended["n_tasks"] and isinstance(m["avg_acc"], float)
    assert "reported model: stable" in cli["issue"].stdout


def test_preset_values_resolved_into_config(cli):
    result = _json(cli, "preset")
    config = result["config"]
    assert config["preset"] == "clser-split-mnist-200"
    assert config["strategy"] == "clser" and config["benchmark"] == "split-mnist"
    assert config["buffer_size"] == 200 and config["lr"] == 0.03 and config["batch_size"] == 10
    assert config["replay_batch_size"] == 128 and config["optimizer"] == "sgd" and config["epochs"] == 1
    assert config["params"] == {
        "reg_weight": 2.0,
        "stable_freq": 0.9,
        "stable_alpha": 0.99,
        "plastic_freq": 1.0,
        "plastic_alpha": 0.99,
    }
    assert config["model"] == "mlp" and config["hidden"] == [100, 100]
    assert config["train_subset"] == 100


def test_explicit_options_refine_a_preset():
    cfg = clcore.make_config(preset="clser-split-mnist-200", lr=0.05, params={"reg_weight": 1.5})
    assert cfg.lr == 0.05 and cfg.buffer_size == 200
    assert cfg.params["reg_weight"] == 1.5 and cfg.params["stable_freq"] == 0.9  # the rest from the preset


def test_ctrl_c_stops_the_run_and_writes_results_so_far(tmp_path, monkeypatch, capfd):
    """In-process: the strategy raises KeyboardInterrupt mid-task, as Ctrl-C would."""
    from clcore.strategies.finetune import Finetune

    real = Finetune.observe
    calls = {"n": 0}

    def observe(self, batch):
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(Finetune, "observe", observe)
    out = tmp_path / "r.json"
    # 10 steps a task, whatever the recommended settings: the interrupt comes in task 2
    rc = main(
        [
            "run",
            "--train-subset",
            "100",
            "--batch-size",
            "10",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--eval-every",
            "0",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    stdout, stderr = capfd.readouterr()
    assert rc == 1
    result = json.loads(out.read_text())
    assert result["status"] == "stopped" and result["message"] == "interrupted (Ctrl-C)"
    assert len(result["acc_matrix"]) == 1 and result["steps"] == 14
    assert "status: stopped" in stdout
    assert stderr.splitlines() == [f"clcore: run stopped: interrupted (Ctrl-C); results so far written to {out}"]


@pytest.mark.parametrize("strategy", list(clcore.STRATEGIES))
def test_every_strategy_runs_through_the_cli(strategy, tmp_path, capfd):
    """In-process (the subprocess start-up is tested above): each strategy trains 2 tiny tasks from the
    command line, with its declared defaults, and writes a finished result."""
    out = tmp_path / "r.json"
    buffer = ["--buffer", "40"] if clcore.STRATEGIES[strategy].uses_buffer else []
    rc = main(
        [
            "run",
            "--strategy",
            strategy,
            "--no-recommended",
            *buffer,
            "--tasks",
            "2",
            "--train-subset",
            "60",
            "--hidden",
            "16",
            "--eval-every",
            "0",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    stdout, stderr = capfd.readouterr()
    assert rc == 0, stderr
    result = json.loads(out.read_text())
    assert result["status"] == "finished" and result["config"]["strategy"] == strategy
    assert len(result["acc_matrix"]) == (1 if result["offline"] else 2)
    assert all(0 <= v <= 100 for row in result["acc_matrix"] for v in row)


# ---------------------------------------------------------------------------------------------------
# bad input: one line on stderr, no traceback, non-zero exit


def _check_one_line_error(rc, stdout, stderr, words):
    assert rc not in (0, None)
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert stderr.endswith("\n")
    assert lines[0].startswith("clcore: ")
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("case, args, words", BAD_INPUTS, ids=[c for c, _, _ in BAD_INPUTS])
def test_bad_input_in_process(case, args, words, capfd):
    if case == "forced-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    try:
        rc = main(["run", *args])
    except SystemExit as exit_:  # argparse errors exit; anything else escaping would be a traceback
        rc = exit_.code
    out, err = capfd.readouterr()
    _check_one_line_error(rc, out, err, words)


@pytest.mark.parametrize("case", SUBPROCESS_BAD)
def test_bad_input_subprocess(case, cli):
    if case == "forced-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    words = {c: w for c, _, w in BAD_INPUTS}[case]
    proc = cli[f"bad:{case}"]
    _check_one_line_error(proc.returncode, proc.stdout, proc.stderr, words)
    assert proc.returncode == 2
