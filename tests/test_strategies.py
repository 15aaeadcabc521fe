"""Every strategy end to end, determinism, scenarios and benchmarks, failure on NaN, the Run stepping
API and the background-thread driver."""

import itertools
import json
import math

import pytest
import torch

import clcore
from clcore import Run, make_config
from clcore.data.benchmarks import build_benchmark
from clcore.runs.events import BatchEnd, EpochEnd, Evaluation, RunEnd, TaskEnd

HIDDEN = (32,)
SUBSET = 100  # training examples per task: 10 batches of 10


def tiny(strategy="finetune", **kw):
    cls = clcore.STRATEGIES[strategy]
    cfg = dict(
        strategy=strategy,
        buffer_size=50 if cls.uses_buffer else 0,
        train_subset=SUBSET,
        batch_size=10,
        hidden=HIDDEN,
        eval_every=3,
        eval_subset=50,
        seed=0,
    )
    cfg.update(kw)
    return Run(make_config(**cfg))


def assert_matrix(matrix, rows, cols):
    assert len(matrix) == rows
    for row in matrix:
        assert len(row) == cols
        assert all(isinstance(v, float) and 0.0 <= v <= 100.0 for v in row), row


# ---------------------------------------------------------------------------------------------------
# every registered strategy


@pytest.mark.parametrize("name", list(clcore.STRATEGIES))
def test_strategy_runs_end_to_end(name):
    cls = clcore.STRATEGIES[name]
    run = tiny(name)
    events = []
    run.subscribe(events.append)
    result = run.run_to_end()
    assert result["status"] == "finished", result["message"]
    assert run.done and run.status == "finished"
    n = 5
    # 10 batches per task a phase streams (cumulative: every task seen so far)
    boundaries = list(itertools.accumulate(len(tasks) * SUBSET // 10 for tasks in run.phases))
    assert result["offline"] is cls.trains_offline
    if cls.trains_offline:
        # one phase over all tasks mixed: one row, one task end after all 5 x 10 batches
        assert_matrix(result["acc_matrix"], 1, n)
        assert result["task_boundaries"] == [50]
        assert result["forgetting"] is None and result["bwt"] is None
    else:
        assert_matrix(result["acc_matrix"], n, n)
        assert result["task_boundaries"] == boundaries
        for key in ("forgetting", "bwt", "fwt"):
            assert math.isfinite(result[key])
    assert result["steps"] == boundaries[-1] and result["train_samples"] == boundaries[-1] * 10
    assert math.isfinite(result["avg_acc"])
    assert_matrix(result["acc_matrix_task_il"], len(result["acc_matrix"]), n)
    assert all(math.isfinite(v) for v in result["loss_curve"]["loss"])
    # live evaluations every 3 steps, plus the full ones (random init, task ends)
    live = [e for e in events if isinstance(e, Evaluation) and not e.full]
    assert [e.step for e in live] == list(range(3, boundaries[-1] + 1, 3))
    assert sum(isinstance(e, TaskEnd) for e in events) == len(result["acc_matrix"])
    assert isinstance(events[-1], RunEnd) and events[-1].status == "finished"
    if cls.uses_buffer:
        assert result["buffer"]["classes"][-1] and sum(result["buffer"]["classes"][-1]) == 50
    json.dumps(result, allow_nan=False)  # the result is plain JSON


def test_joint_trains_on_all_tasks_mixed():
    run = tiny("joint", eval_every=0)
    assert run.strategy.trains_offline
    seen_tasks = set()
    real = run.strategy.observe

    def observe(batch):
        seen_tasks.update(batch.task.tolist())
        # task ids travel with the samples they belong to
        for t, y in zip(batch.task.tolist(), batch.y.tolist()):
            assert y in run.benchmark.tasks[t].classes
        return real(batch)

    run.strategy.observe = observe
    run.advance(batches=1)
    assert len(seen_tasks) > 1  # the very first batch already mixes tasks
    run.run_to_end()
    assert seen_tasks == set(range(5))


# ---------------------------------------------------------------------------------------------------
# determinism


def _comparable(result):
    timing = {"wall_s", "train_s", "train_samples_per_s"}
    return {k: v for k, v in result.items() if k not in timing}


@pytest.mark.parametrize("name", ["clser", "derpp", "joint"])
def test_same_seed_same_results(name):
    a = tiny(name, buffer_policy="reservoir").run_to_end()
    b = tiny(name, buffer_policy="reservoir").run_to_end()
    assert a["acc_matrix"] == b["acc_matrix"]
    assert a["loss_curve"] == b["loss_curve"]
    assert _comparable(a) == _comparable(b)
    c = tiny(name, seed=1).run_to_end()
    assert c["loss_curve"]["loss"] != a["loss_curve"]["loss"]


# ---------------------------------------------------------------------------------------------------
# scenarios and benchmarks


def test_task_il_scenario():
    til = tiny("er", scenario="task-il", eval_every=0)
    s = til.strategy
    # a sample of task 1 (classes 2, 3) competes only among its own task's classes
    logits = torch.zeros(2, 10)
    masked = s.task_logits(logits, torch.tensor([1, 4]))
    assert torch.isfinite(masked[0]).tolist() == [c in (2, 3) for c in range(10)]
    assert torch.isfinite(masked[1]).tolist() == [c in (8, 9) for c in range(10)]
    result = til.run_to_end()
    assert result["status"] == "finished" and result["config"]["scenario"] == "task-il"
    assert_matrix(result["acc_matrix"], 5, 5)
    assert result["acc_matrix"] == result["acc_matrix_task_il"]

    cil = tiny("er", scenario="class-il", eval_every=0).run_to_end()
    assert cil["config"]["scenario"] == "class-il"
    assert cil["acc_matrix"] != cil["acc_matrix_task_il"]
    # two-way choices are much easier than ten-way ones
    assert result["avg_acc"] > cil["avg_acc"] + 20


def test_custom_class_grouping():
    run = tiny("er", classes="3,7|0,9|1,2", eval_every=0)
    bench = run.benchmark
    assert [t.classes for t in bench.tasks] == [(3, 7), (0, 9), (1, 2)]
    for task in bench.tasks:
        assert len(task.train_idx) == SUBSET
        assert set(bench.data.y_train[task.train_idx].tolist()) == set(task.classes)
        assert set(bench.data.y_test[task.test_idx].tolist()) == set(task.classes)
    result = run.run_to_end()
    assert result["status"] == "finished"
    assert result["config"]["classes"] == "3,7|0,9|1,2" and result["config"]["n_tasks"] == 3
    assert result["task_classes"] == [[3, 7], [0, 9], [1, 2]]
    assert_matrix(result["acc_matrix"], 3, 3)
    # buffer composition only ever holds the classes of the tasks seen
    classes = result["buffer"]["classes"][-1]
    assert [c for c in range(10) if classes[c]] == [0, 1, 2, 3, 7, 9]


@pytest.mark.parametrize("name", ["permuted-mnist", "rotated-mnist"])
def test_domain_il_benchmarks(name):
    result = tiny("er", benchmark=name, n_tasks=3, eval_every=0).run_to_end()
    assert result["status"] == "finished"
    assert result["config"]["scenario"] == "domain-il" and result["config"]["classes"] is None
    assert_matrix(result["acc_matrix"], 3, 3)
    assert "acc_matrix_task_il" not in result
    assert len(set(result["tasks"])) == 3


def test_task_id_given_on_a_domain_il_benchmark_scores_task_aware_models_by_task():
    """Permuted tasks share every class: Task-IL there means the task id is given at test time, which only a
    task-aware model (a head per task) uses. A plain model scores the same in both scenarios."""
    til = tiny("multihead", benchmark="permuted-mnist", n_tasks=3, scenario="task-il", eval_every=0)
    result = til.run_to_end()
    assert result["status"] == "finished" and result["config"]["scenario"] == "task-il"
    model, bench = til.strategy.model, til.benchmark
    x, y = bench.test_set(bench.tasks[0])
    with torch.no_grad():
        by_task = (model.forward_task(x, 0).argmax(1) == y).float().mean().item() * 100
    assert result["acc_matrix"][-1][0] == pytest.approx(by_task, abs=1e-3)
    plain_dil = tiny("er", benchmark="permuted-mnist", n_tasks=3, eval_every=0).run_to_end()
    plain_til = tiny("er", benchmark="permuted-mnist", n_tasks=3, scenario="task-il", eval_every=0).run_to_end()
    assert plain_til["acc_matrix"] == plain_dil["acc_matrix"]


@pytest.mark.parametrize("name", ["permuted-mnist", "rotated-mnist"])
def test_domain_il_transforms_fixed_per_seed_and_distinct_per_task(name):
    a = build_benchmark(name, n_tasks=3, seed=5, train_subset=20)
    b = build_benchmark(name, n_tasks=3, seed=5, train_subset=20)
    c = build_benchmark(name, n_tasks=3, seed=6, train_subset=20)
    x = a.data.x_test[:16]
    outs = [t.transform(x) for t in a.tasks]
    for ta, tb in zip(a.tasks, b.tasks):
        assert ta.name == tb.name
        assert torch.equal(ta.transform(x), tb.transform(x))
        assert torch.equal(ta.train_idx, tb.train_idx)
    for i in range(3):
        assert outs[i].shape == x.shape
        assert not torch.equal(outs[i], x)
        for j in range(i):
            assert not torch.allclose(outs[i], outs[j])
    assert any(not torch.allclose(ta.transform(x), tc.transform(x)) for ta, tc in zip(a.tasks, c.tasks))
    assert all(t.classes == tuple(range(10)) for t in a.tasks)
    if name == "permuted-mnist":
        # a pixel permutation: the same multiset of pixel values per image
        for out in outs:
            assert torch.equal(out.flatten(1).sort(1).values, x.flatten(1).sort(1).values)


# ---------------------------------------------------------------------------------------------------
# failure on a non-finite loss


def test_non_finite_weights_after_an_end_of_task_update_fail_the_run():
    run = tiny("finetune", lr=0.05, eval_every=0)
    real = run.strategy.end_task

    def end_task(task_index):
        real(task_index)
        if task_index == 1:
            with torch.no_grad():
                run.strategy.model.classifier.weight[0, 0] = float("inf")

    run.strategy.end_task = end_task
    result = run.run_to_end()
    assert result["status"] == "failed"
    assert "non-finite" in result["message"] and "task 2" in result["message"] and "0.05" in result["message"]
    assert len(result["acc_matrix"]) == 1  # the diverged task is not scored
    json.dumps(result, allow_nan=False)


def test_nan_loss_fails_the_run_and_keeps_results_so_far():
    run = tiny("finetune", lr=0.05, log_every=1, eval_every=0)
    real = run.strategy.observe
    calls = {"n": 0}

    def observe(batch):
        calls["n"] += 1
        loss = real(batch)
        return torch.tensor(float("nan")) if calls["n"] >= 25 else loss

    run.strategy.observe = observe
    events = []
    run.subscribe(events.append)
    result = run.run_to_end()
    assert result["status"] == "failed" and run.status == "failed"
    msg = result["message"]
    assert "nan" in msg and "step 25" in msg and "0.05" in msg and "learning rate" in msg
    assert "\n" not in msg
    assert run.step == 25
    assert_matrix(result["acc_matrix"], 2, 5)  # tasks 1 and 2 completed before the failure
    assert result["task_boundaries"] == [10, 20]
    assert len(result["loss_curve"]["loss"]) == 24  # the NaN window is not recorded
    assert isinstance(events[-1], RunEnd) and events[-1].status == "failed"
    json.dumps(result, allow_nan=False)
    assert run.advance(batches=1) == [] and run.step == 25  # a failed run does not continue


def test_keyboard_interrupt_stops_the_run_and_keeps_results():
    """Ctrl-C while training is a stop by the user (status 'stopped'), not a failure."""
    run = tiny("finetune", eval_every=0)
    real = run.strategy.observe
    calls = {"n": 0}

    def observe(batch):
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt
        return real(batch)

    run.strategy.observe = observe
    with pytest.raises(KeyboardInterrupt):
        run.run_to_end()
    assert run.status == "stopped" and run.done
    result = run.result()
    assert result["status"] == "stopped" and "interrupted" in result["message"]
    assert_matrix(result["acc_matrix"], 1, 5)
    assert run.advance(batches=1) == [] and run.step == 14


# ---------------------------------------------------------------------------------------------------
# the stepping API


def test_advance_one_batch_at_a_time_across_epoch_and_task_boundaries():
    run = tiny("er", eval_every=0, epochs=2)
    assert run.status == "ready"
    for expected in range(1, 46):  # crosses 2 epoch ends and 2 task ends (20 steps per task)
        events = run.advance(batches=1)
        assert run.step == expected
        assert sum(isinstance(e, BatchEnd) for e in events) <= 2
    assert run.status == "running"
    run.advance(batches=3)
    assert run.step == 48


def test_advance_until_epoch_and_task():
    run = tiny("finetune", eval_every=0, epochs=2)
    events = run.advance(until="epoch")
    assert run.step == 10
    assert isinstance(events[-1], EpochEnd) and events[-1].epoch == 0 and events[-1].task == 0
    assert not any(isinstance(e, TaskEnd) for e in events)
    events = run.advance(until="epoch")
    assert run.step == 20 and isinstance(events[-1], EpochEnd) and events[-1].epoch == 1
    events = run.advance(until="task")
    assert run.step == 20 and isinstance(events[-1], TaskEnd) and events[-1].task == 0
    events = run.advance(until="task")
    assert run.step == 40 and isinstance(events[-1], TaskEnd) and events[-1].task == 1
    events = run.advance(until="batch")
    assert run.step == 41
    with pytest.raises(ValueError):
        run.advance(until="forever")


def test_stop_keeps_results():
    run = tiny("er", eval_every=0)
    run.advance(until="task")
    run.advance(until="task")
    run.advance(batches=4)
    run.stop()
    assert run.status == "stopped" and run.done
    result = run.result()
    assert result["status"] == "stopped" and result["steps"] == 24
    assert_matrix(result["acc_matrix"], 2, 5)
    assert result["task_boundaries"] == [10, 20]
    assert run.advance(batches=1) == [] and run.step == 24
    run.stop("again")  # no effect on a finished run
    assert run.message == "stopped by the user"


def test_stop_before_start():
    run = tiny("finetune")
    run.stop()
    result = run.result()
    assert result["status"] == "stopped" and result["acc_matrix"] == [] and result["avg_acc"] is None
