"""The one vocabulary for where a run stands, shared by the engine (Run, BackgroundRun, RunQueue), the run
store and the pages (which translate a state once, through the catalogs' `[state]` table)."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    """A str subclass: a state compares equal to, and is stored and written to JSON as, its value."""

    READY = "ready"  # built, never trained
    QUEUED = "queued"  # asked to train, waiting for a training slot
    RUNNING = "running"  # training (playing, or stepping a batch / epoch / task)
    PAUSED = "paused"  # trained some, waiting for play or step
    FINISHED = "finished"
    STOPPED = "stopped"  # ended early by the user; everything measured so far is kept
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped because its browser session went away (or its server process did)
    CANCELLED = "cancelled"  # a grid cell dropped before it trained (never kept in the store)

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def active(self) -> bool:
        """Training or waiting to: what keeps a page redrawing itself."""
        return self in (RunState.QUEUED, RunState.RUNNING)


_TERMINAL = frozenset({RunState.FINISHED, RunState.STOPPED, RunState.FAILED, RunState.INTERRUPTED, RunState.CANCELLED})
