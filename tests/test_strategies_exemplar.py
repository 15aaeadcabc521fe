"""Baselines and exemplar methods (cumulative, ensemble, GDumb, iCaRL): each one's core mechanism on a
hand-made case, and a CLI run end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import clcore
from clcore import Run, make_config

ROOT = Path(__file__).resolve().parent.parent
SUBSET = 100  # training examples per task: 10 batches of 10
CLI_RUNS = {  # strategy -> extra CLI arguments; the runs start together (their torch imports overlap)
    "cumulative": [],
}


def tiny(strategy, **kw):
    cls = clcore.STRATEGIES[strategy]
    cfg = dict(strategy=strategy, buffer_size=50 if cls.uses_buffer else 0, train_subset=SUBSET, batch_size=10,
               hidden=(32,), eval_every=0, seed=0)
    cfg.update(kw)
    return Run(make_config(**cfg))


# ---------------------------------------------------------------------------------------------------
# command line, end to end

@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {}
    for name, extra in CLI_RUNS.items():
        args = ["run", "--strategy", name, "--train-subset", str(SUBSET), "--hidden", "32", "--tasks", "5",
                "--eval-every", "0", "--quiet", "--out", str(out / f"{name}.json"), *extra]
        procs[name] = subprocess.Popen([sys.executable, "-m", "clcore", *args], cwd=ROOT, env=env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    for name, proc in procs.items():
        _, stderr = proc.communicate(timeout=120)
        results[name] = (proc.returncode, stderr, out / f"{name}.json")
    return results


@pytest.mark.parametrize("name", list(CLI_RUNS))
def test_cli_run_end_to_end(cli_results, name):
    code, stderr, path = cli_results[name]
    assert code == 0, stderr
    result = json.loads(path.read_text())
    assert result["status"] == "finished" and result["config"]["strategy"] == name
    assert len(result["acc_matrix"]) == 5 and all(len(row) == 5 for row in result["acc_matrix"])
    assert len(result["strategy_reports"]) == 5


# ---------------------------------------------------------------------------------------------------
# cumulative

def test_cumulative_phase_i_streams_every_sample_of_tasks_up_to_i():
    run = tiny("cumulative")
    bench = run.benchmark
    streamed = []  # per phase: task id -> inputs streamed
    real_begin, real_observe = run.strategy.begin_task, run.strategy.observe

    def begin_task(i):
        streamed.append({})
        return real_begin(i)

    def observe(batch):
        for t in batch.task.unique().tolist():
            streamed[-1].setdefault(t, []).append(batch.x[batch.task == t])
        return real_observe(batch)

    run.strategy.begin_task, run.strategy.observe = begin_task, observe
    result = run.run_to_end()
    assert len(result["acc_matrix"]) == 5 and result["task_boundaries"] == [10, 30, 60, 100, 150]
    for phase, by_task in enumerate(streamed):
        assert sorted(by_task) == list(range(phase + 1))  # tasks 0..i only
        for t, parts in by_task.items():
            got = torch.cat(parts).flatten(1)
            expected, _ = bench.train_batch(bench.tasks[t], torch.arange(SUBSET))
            expected = expected.flatten(1)
            assert len(got) == SUBSET  # every sample exactly once per epoch ...
            match = (expected[:, None, :] == got[None, :, :]).all(-1)
            assert match.any(1).all() and match.any(0).all()  # ... and all of them
        counts = run.record.strategy_reports[phase]["samples_per_task"]
        assert counts == [SUBSET] * (phase + 1) + [0] * (4 - phase)
