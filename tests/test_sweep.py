"""`python -m clcore sweep` and `tune` on a real local Ray (2 workers): resume after kill -9, the summary's numbers,
a failed cell, bad grid files, and tuning that only ever evaluates the validation hold-out.

One local Ray instance serves the whole module (starting Ray costs seconds); the kill -9 test starts the sweep as a
real subprocess that joins it with --address, and the other sweeps run in this process through `clcore.cli.main`.
Every run is tiny: 30 training examples a task, 2 tasks, one hidden layer of 20 units.
"""

import contextlib
import csv
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clcore.runs.run import Run
from clcore.runs.store import RunStore
from clcore.settings.config import config_from_dict
from clcore.sweep.executor import connect, disconnect
from clcore.sweep.grid import GridError, cells_of, config_hash
from clcore.sweep.tune import search_space
from tests.cli_support import run_cli

ROOT = Path(__file__).resolve().parent.parent
TINY = {"train_subset": 30, "n_tasks": 2, "hidden": "20", "eval_every": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray with 2 CPUs for the module; its address lets a subprocess sweep join it."""
    import ray

    started = connect(workers=2)
    yield ray.get_runtime_context().gcs_address
    if started:
        disconnect()


def write_grid(path: Path, **grid) -> Path:
    path.write_text(json.dumps(grid), encoding="utf-8")
    return path


def stored_runs(store: Path) -> list[tuple]:
    """(config_hash, status, owner_pid) of every run in the store."""
    with contextlib.closing(sqlite3.connect(store)) as db:
        return db.execute("SELECT config_hash, status, owner_pid FROM runs ORDER BY id").fetchall()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------
# grids
# ------------------------------------------------------------------------------------------------
def test_a_grid_is_every_combination_on_the_recommended_settings_with_one_thread():
    cells = cells_of(
        {
            "strategies": {"finetune": {}, "der": {"params": {"alpha": [0.3, 1.0]}}},
            "seeds": [0, 1],
            "settings": {**TINY, "lr": [0.03, 0.1]},
        }
    )
    assert len(cells) == 2 * 2 + 2 * 2 * 2  # (finetune: lr x seed) + (der: lr x alpha x seed)
    der = [c for c in cells if c.config.strategy == "der"]
    assert {c.config.params["alpha"] for c in der} == {0.3, 1.0}
    assert all(c.config.buffer_size == 200 and c.config.cpu_threads == 1 for c in der)  # recommended, one thread
    assert {c.config.train_subset for c in cells} == {30}  # the grid's settings win over the recommended ones
    assert len({c.key for c in cells}) == len(cells)
    assert der[0].row == ("split-mnist", "der", (("lr", 0.03), ("params.alpha", 0.3)))
    bare = cells_of({"strategies": ["der"], "recommended": False, "settings": {**TINY, "buffer_size": 50}})[0]
    assert bare.config.lr == 0.03 and bare.config.params["alpha"] == 0.3  # the declared defaults
    assert bare.key == config_hash(bare.config, False) != config_hash(bare.config, True)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"strategies": ["ders"]}', "grid.yaml: strategy: unknown 'ders'; did you mean der?"),
        ('{"strategies": ["zzzz"]}', "unknown 'zzzz'; choose one of cumulative, ensemble, finetune, joint"),
        ('{"strategies": ["er"], "settings": {"lr": "abc"}}', "lr: 'abc' is not a valid float"),
        ('{"strategies": ["er"], "seeds": [-1]}', "seed: -1 is out of range"),
        ('{"strategies": ["der"], "params": {"alpha": 1}}', "unknown key 'params'"),
        ('{"strategies": {"der": {"params": {"alphaa": 1}}}}', "'alphaa' is unknown for strategy der"),
        ('{"strategies": []}', "empty grid"),
        ('{"strategies": ["er"], "settings": {"lr": []}}', "an empty list gives no cells"),
        ("strategies: [er\nseeds: {", "not a YAML or JSON grid file (line"),
        ("just words", "not a grid: expected a mapping"),
    ],
)
def test_a_bad_grid_file_is_one_line_and_exit_2(tmp_path, text, expected):
    grid = tmp_path / "grid.yaml"
    grid.write_text(text, encoding="utf-8")
    code, stderr = run_cli(["sweep", str(grid), "--store", str(tmp_path / "s.sqlite")])
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("clcore: ") and expected in stderr, stderr
    assert not (tmp_path / "s.sqlite").exists() or not stored_runs(tmp_path / "s.sqlite")


def test_a_missing_grid_file_and_an_unreachable_address_are_one_line(tmp_path):
    code, stderr = run_cli(["sweep", str(tmp_path / "nope.yaml")])
    assert (code, stderr) == (2, f"clcore: {tmp_path / 'nope.yaml'}: no such file\n")
    grid = write_grid(tmp_path / "g.json", strategies=["finetune"], settings=TINY)
    started = time.perf_counter()
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    code, stderr = run_cli(["sweep", str(grid), "--address", address, "--store", str(tmp_path / "s.sqlite")])
    assert code == 2 and time.perf_counter() - started < 10
    lines = stderr.splitlines()
    assert lines[-1].startswith(f"clcore: no Ray cluster reachable at --address {address}"), stderr
    assert "Traceback" not in stderr and len([line for line in lines if line.startswith("clcore:")]) == 1


# ------------------------------------------------------------------------------------------------
# sweeps on Ray
# ------------------------------------------------------------------------------------------------
def test_a_killed_sweep_resumes_with_only_the_missing_cells_and_summarises_right(tmp_path, ray_address):
    store, out = tmp_path / "runs.sqlite", tmp_path / "out"
    # 10 cells of about a second each: the sweep is killed with some finished and some not
    grid = write_grid(
        tmp_path / "grid.json",
        strategies=["finetune", "er"],
        seeds=[0, 1, 2, 3, 4],
        settings={**TINY, "train_subset": 200, "epochs": 3},
    )
    cells = cells_of(json.loads(grid.read_text()))
    command = [sys.executable, "-m", "clcore", "sweep", str(grid), "--address", ray_address, "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as Ray left it: the cluster's authentication mode included
    proc = subprocess.Popen(
        [*command, "--store", str(store), "--out", str(out)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240  # a hang guard: fresh Ray workers on a loaded machine took over 60 s
    finished = []
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists():
            with contextlib.suppress(sqlite3.OperationalError):  # the schema not created yet
                finished = [r for r in stored_runs(store) if r[1] == "finished"]
        if len(finished) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the sweep ended before it was killed: {proc.stderr.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    before = {r[0] for r in stored_runs(store) if r[1] == "finished"}
    assert 2 <= len(before) < len(cells), proc.stderr.read()

    code, stderr = run_cli(["sweep", str(grid), "--workers", "2", "--store", str(store), "--out", str(out)])
    assert code == 0, stderr
    assert f"{len(cells)} cells, {len(before)} already finished, {len(cells) - len(before)} to run" in stderr
    rows = stored_runs(store)
    mine = [r for r in rows if r[2] == os.getpid()]  # what the resumed sweep ran
    assert {r[0] for r in mine} == {c.key for c in cells} - before and all(r[1] == "finished" for r in mine)
    assert sorted(r[0] for r in rows if r[1] == "finished") == sorted(c.key for c in cells)  # each cell once

    # the summary: mean and sample std over the 5 seeds of each strategy, from the stored results
    with contextlib.closing(RunStore(store)) as opened:
        results = {r.config["strategy"]: [] for r in opened.list("sweep")}
        for r in opened.list("sweep"):
            if r.status == "finished":
                results[r.config["strategy"]].append(r.result)
    table = {row["strategy"]: row for row in csv.DictReader((out / "summary.csv").open())}
    for strategy, per_seed in results.items():
        row = table[strategy]
        assert row["seeds"] == "0 1 2 3 4" and row["missing_seeds"] == ""
        for name, values in {
            "avg_acc": [r["avg_acc"] for r in per_seed],
            "task_il": [r["task_il"]["avg_acc"] for r in per_seed],
            "forgetting": [r["forgetting"] for r in per_seed],
        }.items():
            assert float(row[f"{name}_mean"]) == pytest.approx(statistics.fmean(values), abs=1e-4)
            assert float(row[f"{name}_std"]) == pytest.approx(statistics.stdev(values), abs=1e-4)
    mean, std = float(table["er"]["avg_acc_mean"]), float(table["er"]["avg_acc_std"])
    assert f"| split-mnist | er | - | 0,1,2,3,4 | {mean:.1f} ± {std:.1f} |" in (out / "summary.md").read_text()

    # everything finished: the same command runs nothing and says so
    code, stderr = run_cli(["sweep", str(grid), "--store", str(store), "--out", str(out)])
    assert code == 0 and f"{len(cells)} already finished, 0 to run" in stderr
    assert len(stored_runs(store)) == len(rows)


def test_a_failed_cell_is_reported_the_others_go_on_and_the_exit_status_says_so(tmp_path, ray_address):
    # EWC's penalty at lambda 1e6 overflows the loss within 20 steps: that run fails (TrainingDiverged)
    grid = write_grid(
        tmp_path / "grid.json",
        strategies={"ewc": {"params": {"ewc_lambda": [10, 1e6]}}},
        settings={**TINY, "train_subset": 100, "lr": 0.03},
    )
    code, stderr = run_cli(["sweep", str(grid), "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path)])
    assert code == 1
    assert "clcore: ewc on split-mnist, params.ewc_lambda 1e+06, seed 0: failed: the loss became" in stderr, stderr
    assert "clcore: 1 of 2 cells failed" in stderr
    summary = (tmp_path / "summary.md").read_text()
    assert "| split-mnist | ewc | params.ewc_lambda 10 | 0 |" in summary
    assert "| params.ewc_lambda 1e+06 | - (missing 0) | - |" in summary


# ------------------------------------------------------------------------------------------------
# tuning
# ------------------------------------------------------------------------------------------------
def test_the_search_space_comes_from_the_declared_ranges_on_a_log_scale_across_decades():
    space = {d.name: d for d in search_space("ewc", None)}
    assert space["params.ewc_lambda"].log and space["params.ewc_lambda"].low == pytest.approx(0.1)  # 0..1e6, default 10
    assert not space["params.gamma"].log and (space["params.gamma"].low, space["params.gamma"].high) == (0.0, 1.0)
    (lr,) = search_space("finetune", "lr=0.001:0.3")
    assert lr.log and (lr.low, lr.high) == (0.001, 0.3)
    for spec, expected in [
        ("nope", "'nope' is neither a parameter of ewc"),
        ("gamma=0.5:2", "params.gamma: 2 is out of range"),
        ("gamma=0.5", "write gamma=LOW:HIGH"),
    ]:
        with pytest.raises(GridError, match=expected):
            search_space("ewc", spec)
    with pytest.raises(GridError, match="finetune declares no parameters"):
        search_space("finetune", None)


def test_tuning_runs_its_trials_on_the_validation_hold_out_only(tmp_path, ray_address):
    store, out = tmp_path / "runs.sqlite", tmp_path / "best.json"
    sets = [f"--set={name}={value}" for name, value in TINY.items()]
    args = ["tune", "--strategy", "lwf", "--trials", "3", "--param-space", "alpha=0.1:10", *sets, "--workers", "2"]
    code, stderr = run_cli([*args, "--store", str(store), "--out", str(out)])
    assert code == 0, stderr
    report = json.loads(out.read_text())
    assert len(report["trials"]) == 3 and report["space"] == ["params.alpha 0.1..10 (log)"]
    best = report["best"]
    assert best["value"] == max(t["value"] for t in report["trials"])
    assert "--param alpha=" in report["command"] and "--train-subset 30" in report["command"]

    # every trial ran with validation=True: its stored accuracy is what the hold-out gives, not the test set
    with contextlib.closing(RunStore(store)) as opened:
        runs = opened.list("sweep")
    assert len(runs) == 3 and all(r.label.endswith("(validation)") for r in runs)
    trial = next(r for r in runs if r.result["avg_acc"] == best["value"])
    config = config_from_dict(trial.config)
    assert Run(config, validation=True).run_to_end()["acc_matrix"] == trial.result["acc_matrix"]
    assert Run(config, validation=False).run_to_end()["acc_matrix"] != trial.result["acc_matrix"]

    # the same command again reuses the finished trials: no new run
    code, _ = run_cli([*args, "--store", str(store), "--out", str(out)])
    assert code == 0 and all(t["reused"] for t in json.loads(out.read_text())["trials"])
    assert len(stored_runs(store)) == 3
