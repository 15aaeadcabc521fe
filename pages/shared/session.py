"""Per-browser-session state and the process-wide resources every page shares.

- `enter_app()`: what app.py does (workspace, language, layout, navigation); every page calls
  `run_through_app()` first.
- `workspace_id()`: each browser session owns a workspace (kept in the URL as `?ws=...`), so reopening
  the URL finds the same runs and a classroom on one server never sees each other's runs.
- `run_store()`: one SQLite run store per server process (clcore.runs.store.RunStore). Where its file cannot
  be opened or written (read-only folder, full disk) or is damaged, the server carries on with the store in
  memory and `store_warning()` says so on the page; the runs stay viewable.
- `training_queue()`: the process-wide RunQueue (clcore.runs.queue) whose slots cap concurrent trainings;
  a run waiting for a slot is QUEUED. Every run of the app trains through it.
- `start_run(config)`: a Run driven by a BackgroundRun thread, registered in the store and in this
  session's `live_runs()` (at most MAX_LIVE_RUNS are kept in memory; older finished ones stay in the store).
  `launcher()` starts runs outside that list (Compare's grid, from its own threads).
- `sync_store(live_run)`: saves the run's result whenever a task or the run ends. It is also called by
  the trainer thread itself at those events, so a run keeps being saved when its tab is closed.

A watcher thread stops the unfinished runs of browser sessions that went away (tab closed: no `heartbeat()`
for CLOSED_TAB_GRACE_S) and marks them "interrupted" in the store with their partial result.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
import uuid
import weakref

import streamlit as st

from clcore import Run, RunConfig, RunQueue, RunState
from clcore.runs.background import BackgroundRun
from clcore.runs.events import RunEnd, TaskEnd
from clcore.runs.store import RunStore, default_store_path
from pages.shared import i18n
from pages.shared.i18n import t

LOG = logging.getLogger(__name__)

MAX_LIVE_RUNS = 5  # LiveRun objects (model, buffer, curves) kept in memory per browser session
MAX_TRAININGS_ENV = "CLCORE_MAX_TRAININGS"
WS_PARAM = "ws"
WS_KEY = "_workspace_id"
LIVE_KEY = "_live_runs"
WS_PATTERN = re.compile(r"^[0-9a-fA-F]{8,32}$")
CLOSED_TAB_GRACE_S = 120.0  # a tab not heard from this long (closed, not a network blip) loses its runs
HEARTBEAT_S = 20.0  # a hidden tab's timers may be slowed to one a minute: still well within the grace
WATCH_EVERY_S = 15.0
BROWSER_SESSION_KEY = "_browser_session"
THROUGH_APP_KEY = "_through_app"


def enter_app() -> st.Page:
    """What app.py does on every run: this session's workspace and language, the page layout, the
    process-wide warm-ups, this tab's heartbeat and the app's pages (st.navigation, titles in the session's
    language). Returns the page the URL asks for, to run; notes that this run went through app.py."""
    st.session_state[THROUGH_APP_KEY] = True
    workspace_id()
    i18n.language()  # from ?lang= (kept in every page's URL); the titles below are in that language
    st.set_page_config(page_title=t("nav.page_title"), layout="wide", page_icon=":material/school:")
    prewarm_data()
    import_optimizer_machinery()
    # Beats on every page, as long as the tab is open. In a block of its own at the top of the sidebar: a fragment
    # that draws nothing has no block of its own, and its reruns were addressed to whatever element the page put
    # first, which made the browser's Streamlit fail ("'setIn' cannot be called on an ElementNode", bench/LOAD.md).
    with st.sidebar, st.container(key="app_heartbeat"):
        st.fragment(run_every=HEARTBEAT_S)(heartbeat)()
    return st.navigation(
        [
            st.Page("pages/playground.py", title=t("nav.playground"), icon=":material/play_circle:", default=True),
            st.Page("pages/learn.py", title=t("nav.learn"), icon=":material/menu_book:"),
            st.Page("pages/compare.py", title=t("nav.compare"), icon=":material/compare_arrows:"),
            st.Page("pages/about.py", title=t("nav.about"), icon=":material/info:"),
        ]
    )


def run_through_app() -> None:
    """Called first by every page. Until st.navigation is first called in a server process, Streamlit
    follows the old pages-folder convention (there is a pages/ beside app.py): a first visitor who comes
    straight to a page's URL gets that page file run on its own, without app.py. Such a run does what
    app.py does (its st.navigation ends the convention for the process) and runs the page from there, as
    app.py would (same widget identities as in the runs that follow), then stops before drawing it twice."""
    if not st.session_state.pop(THROUGH_APP_KEY, False):
        enter_app().run()
        st.stop()


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
    # opening marks "interrupted" the runs left "running" by processes that are gone (a killed server)
    return RunStore(path, memory_fallback=True)


def run_store() -> RunStore:
    """The server's run store (CLCORE_STORE overrides its path), created once per process and path."""
    return _store_at(str(default_store_path()))


def store_warning() -> str | None:
    """One line for the page when the run store's file could not be used (runs are kept in memory only)
    or some of its runs are damaged (skipped in the listings); None when all is well."""
    store = run_store()
    if store.problem is not None:
        key = "store.damaged" if store.problem.damaged else "store.unwritable"
        return t(key, path=str(store.path), reason=store.problem.reason)
    if store.damaged_rows:
        return t("store.damaged_runs", ids=", ".join(map(str, sorted(store.damaged_rows))), path=str(store.path))
    return None


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
def _queue(slots: int) -> RunQueue:
    return RunQueue(slots)


def training_queue() -> RunQueue:
    """The process-wide run queue with `max_trainings()` slots: every run of the app trains through it."""
    return _queue(max_trainings())


def trainings_running() -> int:
    """How many trainings hold a slot right now."""
    return training_queue().running


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
    saved_status: RunState = RunState.RUNNING  # the state last written to the store
    saved_tasks: int = -1  # finished tasks at the last save
    store: RunStore | None = dataclasses.field(default=None, repr=False)
    workspace: str = ""
    session_id: str | None = None
    created: float = dataclasses.field(default_factory=time.time)
    interrupted: bool = False  # stopped because its browser session went away
    final_result: dict | None = dataclasses.field(default=None, repr=False)  # run.result() once done
    store_error: str | None = None

    @property
    def state(self) -> RunState:
        return self.bg.state


def live_runs() -> list[LiveRun]:
    """This browser session's live runs, oldest first (the list lives in st.session_state)."""
    return st.session_state.setdefault(LIVE_KEY, [])


def describe(config: RunConfig) -> str:
    """A short label for listings, e.g. 'er (buffer 200) on split-mnist, seed 0'."""
    buffer = f" (buffer {config.buffer_size})" if config.buffer_size else ""
    return f"{config.strategy}{buffer} on {config.benchmark}, seed {config.seed}"


def browser_session_id() -> str:
    """This browser session's id (one per open tab; kept in its session state), for the closed-tab watcher."""
    return st.session_state.setdefault(BROWSER_SESSION_KEY, uuid.uuid4().hex)


def heartbeat() -> None:
    """This browser tab is still open: `enter_app()` calls it on every run and every HEARTBEAT_S (a fragment)."""
    _watcher().saw(browser_session_id())


@dataclasses.dataclass(frozen=True)
class Launcher:
    """What starting a run needs from a browser session, taken in its script thread, so that a thread of
    its own (Compare's grid starting its next cell) can start runs for the session too."""

    store: RunStore
    workspace: str
    session_id: str | None
    queue: RunQueue
    watcher: _Watcher

    def start(self, config: RunConfig, label: str, play: bool = False, on_end=None) -> LiveRun:
        """Build the run (raises ConfigError / DataUnavailable), register it in the store and with the
        closed-tab watcher, and submit it to the queue: ready (call `.bg.play()` or `.bg.step(...)`), or
        playing with `play`. `on_end(bg)`: see RunQueue.submit."""
        run = Run(config)
        store_id = self.store.create(self.workspace, config.to_dict(), label)
        bg = self.queue.submit(run, play=False, on_end=on_end)
        live = LiveRun(
            store_id, config, run, bg, label, store=self.store, workspace=self.workspace, session_id=self.session_id
        )
        # Before any training (the thread waits for play). Weakly: a run holding its LiveRun would make a
        # reference cycle, freed only by Python's rare full collections, so a long session piled up dropped runs
        # (bench/LOAD.md). While the run trains, the closed-tab watcher holds its LiveRun.
        live_run = weakref.ref(live)
        run.subscribe(lambda event: _on_event(live_run(), event))
        self.watcher.add(live)
        if play:
            bg.play()
        return live


def launcher() -> Launcher:
    return Launcher(run_store(), workspace_id(), browser_session_id(), training_queue(), _watcher())


def start_run(config: RunConfig, label: str | None = None) -> LiveRun:
    """A ready run of this session (see Launcher.start), kept in its `live_runs()`."""
    live = launcher().start(config, label or describe(config))
    runs = live_runs()
    runs.append(live)
    _trim(runs)
    return live


def _on_event(live: LiveRun | None, event) -> None:
    """In the trainer thread (holding bg.lock): save at every task end and at the end."""
    if live is not None and isinstance(event, (TaskEnd, RunEnd)):
        try:
            sync_store(live)
        except Exception as error:  # noqa: BLE001 - never let the store break a training
            live.store_error = f"{type(error).__name__}: {error}"
            LOG.exception("saving run %s failed", live.store_id)


def store_state(live: LiveRun) -> RunState:
    """The state the store keeps for a live run: RUNNING until it is over, INTERRUPTED if it was stopped
    because its browser session went away."""
    run = live.run
    if not run.done:
        return RunState.RUNNING
    if live.interrupted and run.status == RunState.STOPPED:
        return RunState.INTERRUPTED
    return run.status


def sync_store(live_run: LiveRun, force: bool = False) -> bool:
    """Save `run.result()` and its store_state() when a task or the run ended since the last save (or
    always with `force`). Returns whether it saved."""
    with live_run.bg.lock:
        run = live_run.run
        status = store_state(live_run)
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
    over = tuple(state for state in RunState if state.terminal)
    for wanted in (over, (RunState.READY, RunState.PAUSED)):
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
    """Unfinished runs of the whole process; stops those whose browser session has gone away. A session
    is there while its tab beats (`heartbeat()`); Streamlit has no public way to ask for its sessions."""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs: dict[int, LiveRun] = {}
        self._seen: dict[str, float] = {}  # browser session id -> time of its last heartbeat
        self._thread = threading.Thread(target=self._loop, name="clcore-session-watcher", daemon=True)
        self._thread.start()

    def add(self, live: LiveRun) -> None:
        with self._lock:
            self._runs[id(live)] = live

    def remove(self, live: LiveRun) -> None:
        with self._lock:
            self._runs.pop(id(live), None)

    def saw(self, session_id: str, now: float | None = None) -> None:
        with self._lock:
            self._seen[session_id] = time.time() if now is None else now

    def gone(self, session_id: str | None, now: float) -> bool:
        """Not heard from for CLOSED_TAB_GRACE_S; a session never heard from is counted from `now`."""
        if session_id is None:
            return False
        with self._lock:
            return now - self._seen.setdefault(session_id, now) >= CLOSED_TAB_GRACE_S

    def _loop(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            try:
                self.check()
            except Exception:  # noqa: BLE001
                LOG.exception("session watcher")

    def check(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            runs = list(self._runs.values())
            # sessions long gone (their runs were handled a grace period ago) are forgotten
            self._seen = {sid: seen for sid, seen in self._seen.items() if now - seen < 10 * CLOSED_TAB_GRACE_S}
        for live in runs:
            if live.run.done and live.saved_status == store_state(live):
                self.remove(live)  # finished and saved: nothing left to watch
                continue
            if not self.gone(live.session_id, now):
                continue
            if live.run.done:
                sync_store(live)
            elif live.run.step == 0:  # never trained: nothing worth keeping
                live.interrupted = True  # (a grid then drops its remaining cells)
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
