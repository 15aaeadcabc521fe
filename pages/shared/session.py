"""Per-browser-session state and the process-wide resources every page shares.

- `workspace_id()`: each browser session owns a workspace (kept in the URL as `?ws=...`), so reopening
  the URL finds the same runs and a classroom on one server never sees each other's runs.
- `run_store()`: one SQLite run store per server process (clcore.runs.store.RunStore).
- `training_slots()`: a process-wide cap on concurrent trainings; a run waiting for a slot is "queued".
- `start_run(config)`: a Run driven by a BackgroundRun thread, registered in the store and in this
  session's `live_runs()` (at most MAX_LIVE_RUNS are kept in memory; older finished ones stay in the store).
- `sync_store(live_run)`: saves the run's result whenever a task or the run ends. It is also called by
  the trainer thread itself at those events, so a run keeps being saved when its tab is closed.

A watcher thread stops the unfinished runs of browser sessions that went away (tab closed) and marks
them "interrupted" in the store with their partial result.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
import uuid

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from clcore import Run, RunConfig
from clcore.runs.background import BackgroundRun
from clcore.runs.events import RunEnd, TaskEnd
from clcore.runs.store import RunStore, default_store_path

LOG = logging.getLogger(__name__)

MAX_LIVE_RUNS = 5  # LiveRun objects (model, buffer, curves) kept in memory per browser session
MAX_TRAININGS_ENV = "CLCORE_MAX_TRAININGS"
WS_PARAM = "ws"
WS_KEY = "_workspace_id"
LIVE_KEY = "_live_runs"
WS_PATTERN = re.compile(r"^[0-9a-fA-F]{8,32}$")
CLOSED_TAB_GRACE_S = 120.0  # a session gone this long (tab closed, not a network blip) loses its runs
WATCH_EVERY_S = 15.0


def run_through_app() -> None:
    """Called first by every page. A server's first visitor who comes straight to a page's URL makes
    Streamlit treat pages/ as a v1 "pages directory", and app.py (st.navigation, layout, workspace) never
    runs. Switch to v2 and rerun: the rerun runs app.py, whose st.navigation opens this same page."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# ------------------------------------------------------------------------------------------------
# Workspace
# ------------------------------------------------------------------------------------------------
def valid_workspace(value) -> bool:
    return isinstance(value, str) and bool(WS_PATTERN.match(value))


def workspace_id() -> str:
    """This browser session's workspace: `?ws=` from the URL when valid (hex, 8-32 characters), else the
    one this session already has, else a new one; always written back to the URL."""
    given = st.query_params.get(WS_PARAM)
    ws = st.session_state.get(WS_KEY)
    if given is not None and valid_workspace(given):
        ws = given.lower()
    else:
        if given is not None:
            st.session_state["_workspace_rejected"] = given  # pages may report it
        if ws is None:
            ws = uuid.uuid4().hex[:16]
    st.session_state[WS_KEY] = ws
    if st.query_params.get(WS_PARAM) != ws:
        st.query_params[WS_PARAM] = ws
    return ws


# ------------------------------------------------------------------------------------------------
# Process-wide resources
# ------------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> RunStore:
    store = RunStore(path)
    store.mark_interrupted()  # runs left "running" by a previous server process
    return store


def run_store() -> RunStore:
    """The server's run store (CLCORE_STORE overrides its path), created once per process and path."""
    return _store_at(str(default_store_path()))


def default_max_trainings() -> int:
    """Half the CPU cores, at least one: a training keeps one core busy (its Python thread) and torch
    uses a second for its kernels; the rest keeps the server responsive. 2 cores -> 1, 16 cores -> 8."""
    return max(1, (os.cpu_count() or 1) // 2)


def max_trainings() -> int:
    """The cap on concurrent trainings in this server: env CLCORE_MAX_TRAININGS, else the default."""
    raw = os.environ.get(MAX_TRAININGS_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            LOG.warning("%s=%r is not an integer; using %d", MAX_TRAININGS_ENV, raw, default_max_trainings())
    return default_max_trainings()


@st.cache_resource(show_spinner=False)
def _slots(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


def training_slots() -> threading.BoundedSemaphore:
    """Process-wide semaphore with `max_trainings()` slots; BackgroundRun waits on it ("queued")."""
    return _slots(max_trainings())


def trainings_running() -> int:
    """How many trainings hold a slot right now (reads the semaphore's counter; informational)."""
    slots = training_slots()
    free = getattr(slots, "_value", None)
    return max(0, max_trainings() - free) if isinstance(free, int) else 0


@st.cache_resource(show_spinner=False)
def prewarm_data() -> threading.Thread:
    """Load the bundled MNIST onto the default device in the background, once per process, so the first
    Play does not wait for it (data sets are cached per process by clcore.data.datasets)."""

    def load():
        try:
            from clcore.data.datasets import load_dataset
            from clcore.settings.config import resolve_device

            load_dataset("mnist", resolve_device("auto"))
        except Exception:  # noqa: BLE001 - Play reports any real problem
            LOG.exception("preloading MNIST failed")

    thread = threading.Thread(target=load, name="clcore-prewarm", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def import_optimizer_machinery() -> bool:
    """Build one torch optimizer, once per process, in the calling script thread. The first optimizer
    imports torch's compiler stack (1-3 s here), and that import parses Python source: in a background
    thread it raced with Streamlit compiling a page (CPython 3.11: "AST constructor recursion depth
    mismatch"); left to the first Play, it would delay the first step instead."""
    import torch

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return True


# ------------------------------------------------------------------------------------------------
# Live runs
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class LiveRun:
    store_id: int
    config: RunConfig  # as given (the run's own `run.config` is the fully resolved one)
    run: Run
    bg: BackgroundRun
    label: str
    saved_status: str = "running"  # the status last written to the store
    saved_tasks: int = -1  # finished tasks at the last save
    store: RunStore | None = dataclasses.field(default=None, repr=False)
    workspace: str = ""
    session_id: str | None = None
    created: float = dataclasses.field(default_factory=time.time)
    interrupted: bool = False  # stopped because its browser session went away
    final_result: dict | None = dataclasses.field(default=None, repr=False)  # run.result() once done
    store_error: str | None = None

    @property
    def state(self) -> str:
        """ready | queued | playing | paused | finished | stopped | failed"""
        return self.bg.state


def live_runs() -> list[LiveRun]:
    """This browser session's live runs, oldest first (the list lives in st.session_state)."""
    return st.session_state.setdefault(LIVE_KEY, [])


def describe(config: RunConfig) -> str:
    """A short label for listings, e.g. 'er (buffer 200) on split-mnist, seed 0'."""
    buffer = f" (buffer {config.buffer_size})" if config.buffer_size else ""
    return f"{config.strategy}{buffer} on {config.benchmark}, seed {config.seed}"


def browser_session_id() -> str | None:
    """Streamlit's id of the current browser session (None outside a script run)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx else None
    except Exception:  # noqa: BLE001
        return None


def start_run(config: RunConfig, label: str | None = None) -> LiveRun:
    """Build the run (raises ConfigError / DataUnavailable), register it in the store and in this
    session, and start its (paused) trainer thread: call `.bg.play()` or `.bg.step(...)` to train."""
    run = Run(config)
    store = run_store()
    ws = workspace_id()
    label = label or describe(config)
    store_id = store.create(ws, config.to_dict(), label)
    bg = BackgroundRun(run, training_slots())
    live = LiveRun(
        store_id, config, run, bg, label, "running", store=store, workspace=ws, session_id=browser_session_id()
    )
    run.subscribe(lambda event: _on_event(live, event))  # before any training: the thread waits for play
    runs = live_runs()
    runs.append(live)
    _trim(runs)
    _watcher().add(live)
    return live


def _on_event(live: LiveRun, event) -> None:
    """In the trainer thread (holding bg.lock): save at every task end and at the end."""
    if isinstance(event, (TaskEnd, RunEnd)):
        try:
            sync_store(live)
        except Exception as error:  # noqa: BLE001 - never let the store break a training
            live.store_error = f"{type(error).__name__}: {error}"
            LOG.exception("saving run %s failed", live.store_id)


def _store_status(live: LiveRun) -> str:
    run = live.run
    if not run.done:
        return "running"
    if live.interrupted and run.status == "stopped":
        return "interrupted"
    return run.status


def sync_store(live_run: LiveRun, force: bool = False) -> bool:
    """Save `run.result()` and its status (running / finished / stopped / failed / interrupted) when a
    task or the run ended since the last save (or always with `force`). Returns whether it saved."""
    with live_run.bg.lock:
        run = live_run.run
        status = _store_status(live_run)
        tasks = len(run.record.task_boundaries)
        if not force and status == live_run.saved_status and tasks == live_run.saved_tasks:
            return False
        result = run.result()
        (live_run.store or run_store()).save(live_run.store_id, result, status)
        live_run.saved_status, live_run.saved_tasks = status, tasks
        if run.done:
            live_run.final_result = result
    return True


def result_of(live_run: LiveRun) -> dict:
    """The run's JSON result (cached once the run is over)."""
    if live_run.final_result is not None:
        return live_run.final_result
    with live_run.bg.lock:
        result = live_run.run.result()
        if live_run.run.done:
            live_run.final_result = result
        return result


def discard(live_run: LiveRun) -> None:
    """Stop a live run and forget it in this session. A run that never trained a step is removed from
    the store too; any other keeps its stored (partial) result."""
    never_trained = live_run.run.step == 0
    live_run.bg.stop()
    live_run.bg.join(timeout=2.0)
    if never_trained:
        (live_run.store or run_store()).delete(live_run.store_id, live_run.workspace)
    else:
        try:
            sync_store(live_run)
        except Exception:  # noqa: BLE001
            LOG.exception("saving run %s failed", live_run.store_id)
    runs = live_runs()
    if live_run in runs:
        runs.remove(live_run)
    _watcher().remove(live_run)


def _trim(runs: list[LiveRun]) -> None:
    """Keep at most MAX_LIVE_RUNS in memory: drop the oldest finished ones (they stay in the store),
    then, if still too many, stop and drop the oldest paused / never-started ones. Training ones stay."""
    for wanted in (("finished", "stopped", "failed"), ("ready", "paused")):
        for live in list(runs[:-1]):
            if len(runs) <= MAX_LIVE_RUNS:
                return
            if live.state in wanted:
                if live.run.done:
                    try:
                        sync_store(live)
                    except Exception:  # noqa: BLE001
                        LOG.exception("saving run %s failed", live.store_id)
                    runs.remove(live)
                    _watcher().remove(live)
                else:
                    discard(live)


# ------------------------------------------------------------------------------------------------
# Closed tabs
# ------------------------------------------------------------------------------------------------
class _Watcher:
    """Unfinished runs of the whole process; stops those whose browser session has gone away."""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs: dict[int, LiveRun] = {}
        self._gone_since: dict[int, float] = {}
        self._thread = threading.Thread(target=self._loop, name="clcore-session-watcher", daemon=True)
        self._thread.start()

    def add(self, live: LiveRun) -> None:
        with self._lock:
            self._runs[id(live)] = live

    def remove(self, live: LiveRun) -> None:
        with self._lock:
            self._runs.pop(id(live), None)
            self._gone_since.pop(id(live), None)

    def _loop(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            try:
                self.check()
            except Exception:  # noqa: BLE001
                LOG.exception("session watcher")

    def check(self, now: float | None = None) -> None:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return
        runtime = Runtime.instance()
        now = time.time() if now is None else now
        with self._lock:
            runs = list(self._runs.items())
        for key, live in runs:
            if live.run.done and live.saved_status == _store_status(live):
                self.remove(live)  # finished and saved: nothing left to watch
                continue
            if live.session_id is None or runtime.is_active_session(live.session_id):
                self._gone_since.pop(key, None)
                continue
            gone = self._gone_since.setdefault(key, now)
            if now - gone < CLOSED_TAB_GRACE_S:
                continue
            if live.run.done:
                sync_store(live)
            elif live.run.step == 0:  # never trained: nothing worth keeping
                live.bg.stop()
                (live.store or run_store()).delete(live.store_id, live.workspace)
            else:
                live.interrupted = True
                live.bg.stop()  # the trainer thread saves it as "interrupted" at its RunEnd
                if live.bg.join(timeout=5.0):
                    live.run.message = "interrupted: its browser tab was closed"
                    sync_store(live, force=True)
            self.remove(live)


@st.cache_resource(show_spinner=False)
def _watcher() -> _Watcher:
    return _Watcher()
