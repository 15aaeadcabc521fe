"""Run states, background runs (play / pause / step / stop, consistent snapshots) and the run queue."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from clcore import Run, RunQueue, RunState, make_config
from clcore.runs.background import BackgroundRun
from clcore.runs.events import RunEnd

HIDDEN = (32,)


def tiny(**kw):
    """Five tasks of 10 batches: done in well under a second."""
    cfg = dict(strategy="finetune", train_subset=100, batch_size=10, hidden=HIDDEN, eval_every=3, eval_subset=50)
    cfg.update(kw)
    return Run(make_config(**cfg))


def long_run(**kw):
    """Long enough (5 tasks x 12k samples x 20 epochs) that it never finishes during a test."""
    cfg = dict(strategy="finetune", hidden=HIDDEN, eval_every=0, epochs=20, seed=0)
    cfg.update(kw)
    return Run(make_config(**cfg))


def failing(**kw):
    run = tiny(**kw)

    def observe(batch):
        raise RuntimeError("boom")

    run.strategy.observe = observe
    return run


def wait_for(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def stop_all(*bgs):
    for bg in bgs:
        bg.stop()
    for bg in bgs:
        bg.join(5)


# ---------------------------------------------------------------------------------------------------
# states


def test_run_states_and_their_properties():
    assert {s for s in RunState if s.terminal} == {"finished", "stopped", "failed", "interrupted", "cancelled"}
    assert {s for s in RunState if s.active} == {"queued", "running"}
    run = tiny()
    ends = []
    run.subscribe(lambda e: isinstance(e, RunEnd) and ends.append(e.status))
    assert run.status is RunState.READY and not run.done
    run.advance(batches=1)
    assert run.status is RunState.RUNNING
    run.run_to_end()
    assert run.status is RunState.FINISHED and run.done and ends == [RunState.FINISHED]
    assert run.result()["status"] == "finished"

    stopped = tiny()
    stopped.advance(batches=2)
    stopped.stop()
    assert stopped.status is RunState.STOPPED

    broken = failing()
    with pytest.raises(RuntimeError):
        broken.advance(batches=1)
    assert broken.status is RunState.FAILED and "boom" in broken.message


def test_background_play_pause_step_stop():
    bg = BackgroundRun(long_run())
    try:
        time.sleep(0.2)
        assert bg.state is RunState.READY and bg.run.step == 0  # nothing happens before play

        bg.play()
        assert wait_for(lambda: bg.run.step > 20)
        assert bg.state is RunState.RUNNING

        bg.pause()
        time.sleep(0.5)  # pause takes effect well within half a second
        paused_at = bg.run.step
        time.sleep(0.3)
        assert bg.run.step == paused_at
        assert bg.state is RunState.PAUSED

        bg.step("batch")
        assert wait_for(lambda: bg.state == RunState.PAUSED and bg.run.step == paused_at + 1, 5)
        time.sleep(0.3)
        assert bg.run.step == paused_at + 1  # exactly one batch

        bg.play()
        assert wait_for(lambda: bg.run.step > paused_at + 10)
        bg.stop()
        assert bg.join(5)
        assert bg.state is RunState.STOPPED and bg.run.status is RunState.STOPPED
        assert bg.error is None
        with bg.lock:
            result = bg.run.result()
        assert result["status"] == "stopped" and result["steps"] == bg.run.step
    finally:
        stop_all(bg)


def test_background_step_epoch():
    bg = BackgroundRun(long_run(train_subset=200))
    try:
        bg.step("epoch")
        assert wait_for(lambda: bg.state == RunState.PAUSED, 10)
        assert bg.run.step == 20
        with pytest.raises(ValueError):
            bg.step("week")
    finally:
        stop_all(bg)


# ---------------------------------------------------------------------------------------------------
# snapshots


def test_snapshot_taken_while_training_is_consistent_and_a_copy():
    bg = BackgroundRun(tiny(train_subset=1000, epochs=20, eval_every=20))  # 5 tasks of 2,000 batches
    try:
        bg.play()
        assert wait_for(lambda: bg.run.record.task_boundaries, 30)
        seen = 0
        for _ in range(20):
            snap = bg.snapshot()
            assert snap.state is RunState.RUNNING
            assert len(snap.loss) == len(snap.loss_steps) and snap.loss_steps[-1] <= snap.step
            assert snap.evals[-1].step <= snap.step and snap.boundaries[-1] <= snap.step
            assert len(snap.matrix["student"]) == snap.tasks_done == len(snap.reports)
            assert snap.total_steps == 10_000 and snap.n_tasks == len(snap.task_names) == 5
            assert snap.step >= seen
            seen = snap.step
            time.sleep(0.02)
        losses = len(snap.loss)
        assert wait_for(lambda: len(bg.run.record.loss) > losses, 10)
        assert len(snap.loss) == losses  # the run went on; the snapshot did not
        status = bg.snapshot(full=False)
        assert status.loss == [] and status.matrix == {} and status.step >= snap.step
        with pytest.raises(AttributeError):
            status.step = 0  # frozen
    finally:
        stop_all(bg)
    assert bg.snapshot().state is RunState.STOPPED and bg.snapshot().done


def test_snapshot_of_a_paused_replay_run_has_buffer_samples():
    bg = BackgroundRun(tiny(strategy="er", buffer_size=50))
    try:
        bg.step("task")
        assert wait_for(lambda: bg.state == RunState.PAUSED, 10)
        snap = bg.snapshot()
        assert snap.state is RunState.PAUSED and snap.tasks_done == 1 and snap.buffer_history
        image, label, task = snap.buffer_samples[0]
        assert image.shape == (28, 28) and 0.0 <= image.min() <= image.max() <= 1.0 and task == 0
        assert label in (0, 1)
    finally:
        stop_all(bg)


# ---------------------------------------------------------------------------------------------------
# the run queue


def test_one_slot_runs_one_after_another_in_submission_order():
    queue = RunQueue(1)
    log = []
    runs = []
    for name in "abc":
        run = tiny(seed=len(runs))
        run.subscribe(lambda e, name=name: log.append((name, "end" if isinstance(e, RunEnd) else "train")))
        runs.append(run)
    bgs = [queue.submit(run) for run in runs]
    assert queue.wait(60)
    assert [name for name, _ in log] == sorted(name for name, _ in log)  # never interleaved
    assert [entry for entry in log if entry[1] == "end"] == [("a", "end"), ("b", "end"), ("c", "end")]
    assert queue.states() == {} and queue.running == 0  # the queue keeps only the runs not over
    assert all(bg.state is RunState.FINISHED for bg in bgs)


def test_two_slots_train_two_runs_and_queue_the_third():
    queue = RunQueue(2)
    first, second, third = (queue.submit(long_run(seed=s)) for s in range(3))
    try:
        assert wait_for(lambda: first.run.step > 0 and second.run.step > 0)
        assert wait_for(lambda: third.state == RunState.QUEUED, 2)
        assert queue.running == 2 and third.run.step == 0
        second.pause()  # a paused run gives its slot back
        assert wait_for(lambda: third.run.step > 0)
        assert second.state is RunState.PAUSED and third.state is RunState.RUNNING
        second.play()  # back at the end of the queue
        assert wait_for(lambda: second.state == RunState.QUEUED, 2)
        queue.cancel_all()
        assert queue.wait(10)
        assert {first.state, second.state, third.state} == {RunState.STOPPED} and queue.runs() == []
    finally:
        stop_all(first, second, third)


def test_cancel_a_queued_and_a_running_run():
    queue = RunQueue(1)
    first, second, third = (queue.submit(long_run(seed=s)) for s in range(3))
    try:
        assert wait_for(lambda: first.run.step > 0)
        assert wait_for(lambda: second.state == RunState.QUEUED and third.state == RunState.QUEUED, 2)
        progress = first.run.step
        time.sleep(0.3)
        assert second.run.step == 0 and third.run.step == 0
        assert first.run.step > progress  # the first keeps training meanwhile

        queue.cancel(third)  # a queued run stops without ever training
        assert third.join(5) and third.state is RunState.STOPPED and third.run.step == 0

        queue.cancel(first)
        assert first.join(5) and first.state is RunState.STOPPED
        assert wait_for(lambda: second.run.step > 0, 10)  # the freed slot goes to the queued run
        assert second.state is RunState.RUNNING
    finally:
        stop_all(first, second, third)


def test_a_failing_run_does_not_stop_the_others():
    queue = RunQueue(1)
    ended = []
    bad = queue.submit(failing(), on_end=ended.append)
    good = queue.submit(tiny(), on_end=ended.append)
    assert queue.wait(60)
    assert bad.state is RunState.FAILED and "boom" in bad.error and "boom" in bad.run.message
    assert good.state is RunState.FINISHED
    assert ended == [bad, good] and queue.running == 0


def test_the_queue_lets_go_of_a_run_once_it_is_over():
    """A server's queue outlives every page: a finished run it still held (model, buffer, curves) stayed in
    memory until the next Play anywhere, 30 runs' worth after a classroom (bench/LOAD.md)."""
    queue = RunQueue(1)
    bg = queue.submit(tiny())
    assert queue.runs() == [bg]
    assert queue.wait(60) and bg.state is RunState.FINISHED
    assert queue.runs() == []
    gone = weakref.ref(bg.run)
    del bg
    gc.collect()
    assert gone() is None


def test_a_queue_needs_a_slot():
    with pytest.raises(ValueError, match="at least one slot"):
        RunQueue(0)
