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
            self._runs.append(bg)  # until its thread ends (`forget`), which needs a command given after this
        if play:
            bg.play()
        return bg

    def cancel(self, bg: BackgroundRun) -> None:
        """Stop a queued run before it trains, or a training one at its next batch boundary."""
        bg.stop()

    def cancel_all(self) -> None:
        for bg in self.runs():
            bg.stop()

    def forget(self, bg: BackgroundRun) -> None:
        """Called by a run's thread as it ends: the queue lets go of the run (its model, buffer and curves
        then live only as long as their page keeps them; a server's queue outlives every page)."""
        with self._changed:
            if bg in self._runs:
                self._runs.remove(bg)
            if bg in self._waiting:  # lined up by a play() that came after its end
                self._waiting.remove(bg)
                self._changed.notify_all()

    def runs(self) -> list[BackgroundRun]:
        """The runs not over yet (each one's thread is alive)."""
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
    def line_up(self, holder) -> None:
        """Take a place at the back of the line for a slot (nothing if `holder` holds one or is in line)."""
        with self._changed:
            if holder not in self._holders and holder not in self._waiting:
                self._waiting.append(holder)

    def leave_line(self, holder) -> None:
        with self._changed:
            if holder in self._waiting:
                self._waiting.remove(holder)
                self._changed.notify_all()

    def acquire(self, holder, wanted: Callable[[], bool] = lambda: True) -> bool:
        """Wait for a slot, first come first served (from `line_up`, else from now); give up (False) once
        `wanted()` turns false."""
        with self._changed:
            try:
                while wanted():
                    if holder not in self._waiting:  # left the line (a pause) and asked again (a play)
                        self._waiting.append(holder)
                    if self._waiting[0] is holder and len(self._holders) < self.slots:
                        self._holders.add(holder)
                        return True
                    self._changed.wait(POLL_S)
                return False
            finally:
                if holder in self._waiting:  # a pause or stop may have taken it out of the line already
                    self._waiting.remove(holder)
                self._changed.notify_all()

    def release(self, holder) -> None:
        with self._changed:
            self._holders.discard(holder)
            self._changed.notify_all()
