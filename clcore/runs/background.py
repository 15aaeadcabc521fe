"""Drive a Run from a background thread: play, pause, step, stop from any other thread (a UI).

The trainer thread advances the run in short slices while holding a lock, so a reader that takes the
lock (`with bg.lock:` or `bg.snapshot()`) sees a consistent state and waits at most one slice. Pause
and stop take effect at the next batch boundary after the current slice (well under half a second).
An optional semaphore caps how many runs train at once in a process; a run waiting for it is "queued",
and a paused run gives its slot back (re-queueing when played again), so a paused run blocks no one.
"""

from __future__ import annotations

import threading
import time

from clcore.runs.events import EpochEnd, TaskEnd
from clcore.runs.run import Run

SLICE_S = 0.05


class BackgroundRun:
    def __init__(self, run: Run, slots: threading.Semaphore | None = None, slice_s: float = SLICE_S):
        self.run, self.slots, self.slice_s = run, slots, slice_s
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
        with self._wake:
            self._playing = True
            self._wake.notify()

    def pause(self) -> None:
        with self._wake:
            self._playing = False
            self._step_unit = None

    def step(self, unit: str = "batch") -> None:
        """Train one batch, epoch or task, then pause."""
        if unit not in ("batch", "epoch", "task"):
            raise ValueError("unit must be 'batch', 'epoch' or 'task'")
        with self._wake:
            self._playing = False
            self._step_unit = unit
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stop_requested = True
            self._wake.notify()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def state(self) -> str:
        if self.run.done:
            return self.run.status
        if self.queued:
            return "queued"
        return "playing" if self._playing or self._step_unit else ("paused" if self.run.step else "ready")

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
            while self._wants_to_train():
                if self.slots.acquire(timeout=0.1):
                    return True
            return False
        finally:
            self.queued = False

    def _loop(self) -> None:
        held = False  # a training slot; given back whenever the run pauses, so a paused run blocks no one
        try:
            while True:
                stop, unit = self._next_command()
                if not stop and self.slots is not None and not held:
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
                    self.slots.release()
                    held = False
                # CPython's locks are not fair: without yielding here this thread takes the lock back at
                # once, and a reader (the app's views) could wait several slices, at times over a second.
                time.sleep(0)
        finally:
            if held:
                self.slots.release()
