"""A run queue: background runs sharing a fixed number of training slots, first come first served.

    queue = RunQueue(slots=2)                  # 1 slot: one run after another
    first = queue.submit(Run(config_a))        # plays at once
    second = queue.submit(Run(config_b), play=False)
    second.play()                              # QUEUED until a slot is free, then RUNNING
    queue.wait()

A run holds a slot only while it trains: a paused run gives its slot back and queues again (at the back)
when it plays again, so a paused run blocks no one. The app keeps one queue per server process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from clcore.runs.background import BackgroundRun
from clcore.runs.run import Run
from clcore.runs.state import RunState

POLL_S = 0.1  # how soon a waiting run notices that it was paused or stopped


class RunQueue:
    def __init__(self, slots: int = 1):
        if slots < 1:
            raise ValueError(f"a run queue needs at least one slot, not {slots}")
        self.slots = slots
        self._changed = threading.Condition()
        self._holders: set = set()
        self._waiting: list = []  # FIFO of those asking for a slot
        self._runs: list[BackgroundRun] = []

    # runs ----------------------------------------------------------------------------------------
    def submit(
        self, run: Run, *, play: bool = True, on_end: Callable[[BackgroundRun], None] | None = None
    ) -> BackgroundRun:
        """Drive `run` from a background thread that trains only while it holds one of this queue's slots.
        `play=False` leaves it ready (play or step it later); `on_end(bg)` is called from its thread once
        the run is over and its slot given back."""
        bg = BackgroundRun(run, queue=self, on_end=on_end)
        with self._changed:
            self._runs = [r for r in self._runs if r.alive] + [bg]  # forget runs whose thread has ended
        if play:
            bg.play()
        return bg

    def cancel(self, bg: BackgroundRun) -> None:
        """Stop a queued run before it trains, or a training one at its next batch boundary."""
        bg.stop()

    def cancel_all(self) -> None:
        for bg in self.runs():
            bg.stop()

    def runs(self) -> list[BackgroundRun]:
        with self._changed:
            return list(self._runs)

    def states(self) -> dict[BackgroundRun, RunState]:
        return {bg: bg.state for bg in self.runs()}

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every run of the queue is over (each one waits for play first); True if all are."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        return all(bg.join(left()) for bg in self.runs())

    @property
    def running(self) -> int:
        """How many slots are held right now."""
        with self._changed:
            return len(self._holders)

    # slots ---------------------------------------------------------------------------------------
    def acquire(self, holder, wanted: Callable[[], bool] = lambda: True) -> bool:
        """Wait for a slot, first come first served; give up (False) once `wanted()` turns false."""
        with self._changed:
            self._waiting.append(holder)
            try:
                while wanted():
                    if self._waiting[0] is holder and len(self._holders) < self.slots:
                        self._holders.add(holder)
                        return True
                    self._changed.wait(POLL_S)
                return False
            finally:
                self._waiting.remove(holder)
                self._changed.notify_all()

    def release(self, holder) -> None:
        with self._changed:
            self._holders.discard(holder)
            self._changed.notify_all()
