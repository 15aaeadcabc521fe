"""Drive a Run from a background thread: play, pause, step, stop from any other thread (a UI).

The trainer thread advances the run in short slices while holding a lock, so a reader that takes the
lock (`with bg.lock:` or `bg.snapshot()`) sees a consistent state and waits at most one slice. Pause
and stop take effect at the next batch boundary after the current slice (well under half a second).
A run of a RunQueue (clcore.runs.queue) trains only while it holds one of the queue's slots; waiting
for one it is QUEUED, and a paused run gives its slot back (re-queueing when played again).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from clcore.runs.events import EpochEnd, TaskEnd
from clcore.runs.run import Run, RunSnapshot
from clcore.runs.state import RunState

if TYPE_CHECKING:
    from clcore.runs.queue import RunQueue

SLICE_S = 0.05


class BackgroundRun:
    def __init__(
        self,
        run: Run,
        queue: RunQueue | None = None,
        slice_s: float = SLICE_S,
        on_end: Callable[[BackgroundRun], None] | None = None,
    ):
        """Without a queue the run trains whenever played. `on_end(self)` is called from the trainer thread
        when it is done (run over, slot given back, lock released); RunQueue.submit is the usual way in."""
        self.run, self.queue, self.slice_s, self.on_end = run, queue, slice_s, on_end
        self.lock = threading.RLock()
        self._wake = threading.Condition(threading.Lock())
        self._playing = False
        self._step_unit: str | None = None
        self._stop_requested = False
        self.queued = False
        self.error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="clcore-run", daemon=True)
        self._thread.start()

    # commands (any thread) -----------------------------------------------------------------------
    def play(self) -> None:
        self._line_up()
        with self._wake:
            self._playing = True
            self._wake.notify()

    def pause(self) -> None:
        with self._wake:
            self._playing = False
            self._step_unit = None
        self._leave_line()

    def step(self, unit: str = "batch") -> None:
        """Train one batch, epoch or task, then pause."""
        if unit not in ("batch", "epoch", "task"):
            raise ValueError("unit must be 'batch', 'epoch' or 'task'")
        self._line_up()
        with self._wake:
            self._playing = False
            self._step_unit = unit
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stop_requested = True
            self._wake.notify()
        self._leave_line()

    # The place in the queue's line is taken in the caller's thread, when it asks to train: the trainer threads
    # start in any order, and first come first served means in the order play() or step() was called.
    def _line_up(self) -> None:
        if self.queue is not None:
            self.queue.line_up(self)

    def _leave_line(self) -> None:
        if self.queue is not None:
            self.queue.leave_line(self)

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def state(self) -> RunState:
        if self.run.done:
            return self.run.status
        if self.queued:
            return RunState.QUEUED
        if self._playing or self._step_unit:
            return RunState.RUNNING
        return RunState.PAUSED if self.run.step else RunState.READY

    def snapshot(self, full: bool = True) -> RunSnapshot:
        """Run.snapshot() taken under the trainer's lock (consistent; waits at most one slice), with this
        driver's state (QUEUED, PAUSED, ...) in place of the run's own."""
        with self.lock:
            return dataclasses.replace(self.run.snapshot(full), state=self.state)

    # trainer thread ------------------------------------------------------------------------------
    def _next_command(self):
        with self._wake:
            while not (self._playing or self._step_unit or self._stop_requested):
                self._wake.wait()
            return self._stop_requested, self._step_unit

    def _wants_to_train(self) -> bool:
        with self._wake:
            return (self._playing or self._step_unit is not None) and not self._stop_requested

    def _wait_for_slot(self) -> bool:
        """Queue for a training slot; give up (False) if paused or stopped meanwhile."""
        self.queued = True
        try:
            return self.queue.acquire(self, self._wants_to_train)
        finally:
            self.queued = False

    def _loop(self) -> None:
        held = False  # a training slot; given back whenever the run pauses, so a paused run blocks no one
        try:
            while True:
                stop, unit = self._next_command()
                if not stop and self.queue is not None and not held:
                    held = self._wait_for_slot()
                    continue  # read the command again: it may have changed while queued
                with self.lock:
                    if stop:
                        self.run.stop()
                        return
                    try:
                        if unit == "batch":
                            self.run.advance(batches=1)
                            reached = True
                        else:
                            events = self.run.advance(seconds=self.slice_s, until=unit)
                            wanted = (EpochEnd, TaskEnd) if unit == "epoch" else (TaskEnd,)
                            reached = unit is not None and any(isinstance(e, wanted) for e in events)
                    except Exception as error:  # the run is already marked failed; keep the thread tidy
                        self.error = f"{type(error).__name__}: {error}"
                        return
                    if reached:
                        with self._wake:
                            self._step_unit = None
                    if self.run.done:
                        return
                if held and not self._wants_to_train():
                    self.queue.release(self)
                    held = False
                # CPython's locks are not fair: without yielding here this thread takes the lock back at
                # once, and a reader (the app's views) could wait several slices, at times over a second.
                time.sleep(0)
        finally:
            if held:
                self.queue.release(self)
            if self.queue is not None:
                self.queue.forget(self)
            if self.on_end is not None:
                self.on_end(self)
