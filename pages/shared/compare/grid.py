"""Compare's grid runner: strategies x buffers x seeds from a base run (or each strategy's recommended
settings), its cells going through the server's run queue one after another (GridJob), or sent to the sweep
executor on Ray (ExecutorGridJob, the cells of `python -m clcore sweep`), and its progress bar."""

from __future__ import annotations

import dataclasses
import re
import threading
import time

import streamlit as st

from clcore import STRATEGIES, RunConfig, RunState, make_config
from clcore.settings.config import FIELDS
from clcore.settings.recommended import with_recommended
from clcore.sweep.executor import CellStore, Sweeper, SweepError, SweepJob
from clcore.sweep.grid import GRID_FIELDS, cells_of
from pages.shared import i18n, session
from pages.shared.compare.runs import Entry
from pages.shared.i18n import t

MAX_GRID = 48  # runs per grid
GRID_BUFFERS = [20, 50, 100, 200, 500, 1000, 2000, 5120]
GRID_BENCHMARK = "split-mnist"  # a grid without a base run: each strategy at its recommended settings on it


@dataclasses.dataclass(eq=False)
class GridCell:
    label: str
    config: RunConfig
    live: session.LiveRun | None = None  # while it is in the run queue
    outcome: RunState | None = None  # its final state, once it is over
    store_id: int | None = None  # None: not started yet, or not kept
    message: str = ""

    @property
    def state(self) -> RunState:
        if self.outcome is not None:
            return self.outcome
        live = self.live
        return live.state if live is not None else RunState.QUEUED


class GridJob:
    """A grid's cells, trained one after another: a cell is submitted to the server's run queue when the
    one before it is over (from that run's thread), so a grid takes one training slot at a time and waits
    for it like any other run. Cells are saved like the Playground's runs (at every task end and at the
    end); one that fails keeps its message, one cancelled before it trained is not kept, and a closed
    tab (the session watcher stops the current cell, INTERRUPTED) drops the rest."""

    def __init__(self, launcher: session.Launcher, cells: list[tuple[str, RunConfig]]):
        self.launcher = launcher
        self.cells = [GridCell(label, config) for label, config in cells]
        self.cancelled = False
        self._lock = threading.Lock()  # a cell's start or end against cancel()
        self._next = 0
        self._over = threading.Event()
        self._start_next()

    @property
    def finished(self) -> bool:
        return self._over.is_set()

    @property
    def current(self) -> GridCell | None:
        return next((c for c in self.cells if c.live is not None), None)

    def live_runs(self) -> list[session.LiveRun]:
        return [c.live for c in self.cells if c.live is not None]

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            current = self.current
            if current is not None:
                self.launcher.queue.cancel(current.live.bg)

    def join(self, timeout: float | None = None) -> bool:
        return self._over.wait(timeout)

    def _start_next(self) -> None:
        """Submit the next cell; one that cannot start (e.g. data missing) fails, and the grid goes on."""
        with self._lock:
            while self._next < len(self.cells):
                cell = self.cells[self._next]
                self._next += 1
                if self.cancelled:
                    cell.outcome = RunState.CANCELLED
                    continue
                try:
                    cell.live = self.launcher.start(
                        cell.config, cell.label, play=True, on_end=lambda _bg, cell=cell: self._ended(cell)
                    )
                    cell.store_id = cell.live.store_id
                    return
                except Exception as error:  # noqa: BLE001
                    cell.outcome, cell.message = RunState.FAILED, f"{type(error).__name__}: {error}"
                    store, config = self.launcher.store, cell.config.to_dict()
                    cell.store_id = store.create(self.launcher.workspace, config, cell.label)
                    store.save(
                        cell.store_id, {"status": cell.outcome, "message": cell.message, "config": config}, cell.outcome
                    )
            self._over.set()

    def _ended(self, cell: GridCell) -> None:
        """In the cell's trainer thread, once its run is over and its training slot given back."""
        with self._lock:
            live = cell.live
            try:
                if live.run.step == 0 and live.run.status == RunState.STOPPED:  # never trained: not kept
                    live.store.delete(live.store_id, live.workspace)
                    cell.store_id = None
                    cell.outcome = RunState.INTERRUPTED if live.interrupted else RunState.CANCELLED
                else:
                    session.sync_store(live)  # saved at its end already, unless that save failed
                    state = session.store_state(live)
                    cancelled = self.cancelled and state == RunState.STOPPED
                    cell.outcome = RunState.CANCELLED if cancelled else state
                cell.message = live.run.message
            except Exception as error:  # noqa: BLE001 - the store failed: say so, and go on with the grid
                cell.outcome, cell.message = RunState.FAILED, f"{type(error).__name__}: {error}"
            cell.live = None  # its model and data go; the store keeps its result
            self.cancelled |= live.interrupted  # its browser tab was closed: the rest of the grid is dropped
        self._start_next()


class ExecutorGridJob(SweepJob):
    """A grid on the sweep executor: its cells run in Ray's worker processes, at most `workers` at a time, and
    each is saved in the session's workspace under the grid's label as it ends; cells finished already (by a
    sweep, this grid before, another session) are not run again. A closed tab cancels the rest."""

    def live_runs(self) -> list[session.LiveRun]:
        return []  # nothing of it trains in this process


@st.cache_resource(show_spinner=False)
def sweeper() -> Sweeper:
    """The server's one Sweeper (one Ray per process, whichever sessions use it): Ray is started, or joined,
    by the first grid sent to it, never when the app starts."""
    return Sweeper()


def cell_label(tag: str, config: RunConfig) -> str:
    if STRATEGIES[config.strategy].uses_buffer:
        return t(
            "compare.grid.label_buffer", tag=tag, strategy=config.strategy, buffer=config.buffer_size, seed=config.seed
        )
    return t("compare.grid.label", tag=tag, strategy=config.strategy, seed=config.seed)


def sweep_grid(base: dict | None, strategies: list[str], buffers: list[int], seeds: list[int]) -> dict:
    """The grid mapping (clcore/sweep/grid.py) of the cells `grid_cells` lists: the base run's settings (its
    parameters for its own strategy), or each strategy's recommended settings on GRID_BENCHMARK."""
    own = {name: {"buffer_size": buffers if STRATEGIES[name].uses_buffer else 0} for name in strategies}
    if base is None:
        return {"benchmark": GRID_BENCHMARK, "strategies": own, "seeds": seeds}
    if base.get("strategy") in own and base.get("params"):
        own[base["strategy"]]["params"] = base["params"]
    fixed = set(GRID_FIELDS) - {"buffer_size", "preset"}
    settings = {name: value for name, value in base.items() if name in fixed and value is not None}
    return {
        "benchmark": base["benchmark"],
        "strategies": own,
        "seeds": seeds,
        "recommended": False,
        "settings": settings,
    }


def start_on_executor(
    launcher: session.Launcher, grid: dict, tag: str, workers: int, address: str | None
) -> ExecutorGridJob:
    """The grid's cells on the sweep executor, Ray joined first where some cell is still to run (SweepError
    when it cannot be; GridError for a cell the sweep's grid refuses)."""
    cells = cells_of(grid)
    labels = [cell_label(tag, cell.config) for cell in cells]
    store = CellStore(launcher.store, launcher.workspace)
    if len(store.finished(cells)) < len(cells):
        sweeper().connect(address)
    job = ExecutorGridJob(
        cells,
        store,
        labels,
        workers,
        done=store.reuse(cells, labels),
        abandoned=lambda: launcher.watcher.gone(launcher.session_id, time.time()),
    )
    sweeper().start(job)
    return job


def sweep_error_text(error: SweepError) -> str:
    return t(f"compare.grid.ray_{error.code}", **error.values)


def grid_cells(base: dict | None, strategies: list[str], buffers: list[int], seeds: list[int], tag: str):
    """(label, validated config) per grid cell; strategies without a buffer ignore the buffer sizes. Without a
    base run (None) each strategy starts from its recommended settings on GRID_BENCHMARK."""
    cells, seen = [], set()
    for strategy in strategies:
        cls = STRATEGIES[strategy]
        for buffer in buffers if cls.uses_buffer else [0]:
            for seed in seeds:
                key = (strategy, buffer, seed)
                if key in seen:
                    continue
                seen.add(key)
                if base is None:
                    cfg = with_recommended(
                        {"benchmark": GRID_BENCHMARK, "strategy": strategy, "buffer_size": buffer, "seed": seed}
                    )
                else:
                    cfg = {k: v for k, v in base.items() if k in FIELDS}
                    same = cfg.get("strategy") == strategy
                    cfg.update(
                        strategy=strategy,
                        buffer_size=buffer,
                        seed=seed,
                        preset=None,
                        params=(cfg.get("params") or {}) if same else {},
                    )
                config = make_config(**cfg)
                cells.append((cell_label(tag, config), config))
    return cells


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            low, high = part.split("-", 1)
            if not (low.strip().isdigit() and high.strip().isdigit()) or int(low) > int(high):
                raise ValueError(t("compare.grid.seed_range", part=part))
            seeds.extend(range(int(low), int(high) + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise ValueError(t("compare.grid.seed_number", part=part))
    if not seeds:
        raise ValueError(t("compare.grid.seed_none"))
    return list(dict.fromkeys(seeds))


def next_grid_number(entries: list[Entry]) -> int:
    """1 + the highest grid number among the runs' labels, tagged in any language ("grid 2:", "网格 2：")."""
    numbers = []
    for code in i18n.LANGUAGES:
        tag = re.escape(i18n.catalog(code)["compare.grid.tag"]).replace(re.escape("{n}"), r"(\d+)")
        numbers += [int(m.group(1)) for e in entries if (m := re.match(tag, e.label))]
    return max(numbers, default=0) + 1


def show_grid_progress(job: GridJob | ExecutorGridJob) -> None:
    total = len(job.cells)
    done = sum(c.state.terminal for c in job.cells)
    if job.finished:
        failed = sum(c.state == RunState.FAILED for c in job.cells)
        cancelled = sum(c.state == RunState.CANCELLED for c in job.cells)
        text = (
            t("compare.grid.done", finished=done - failed - cancelled, total=total)
            + (t("compare.grid.done_failed", n=failed) if failed else "")
            + (t("compare.grid.done_cancelled", n=cancelled) if cancelled else "")
        )
        if isinstance(job, ExecutorGridJob) and job.to_run < total:
            text += t("compare.grid.done_reused", n=total - job.to_run)
        st.progress(1.0, text=text)
        for c in job.cells:
            if c.state == RunState.FAILED:
                st.error(t("compare.grid.failed", label=c.label, message=c.message))
        return
    if isinstance(job, ExecutorGridJob):
        eta = job.eta_s
        text = t(
            "compare.grid.ray_progress",
            done=job.count(RunState.FINISHED),
            total=total,
            running=job.count(RunState.RUNNING),
            failed=job.count(RunState.FAILED),
            eta=t("compare.grid.ray_eta", s=round(eta)) if eta is not None else t("compare.grid.ray_eta_unknown"),
        )
        st.progress(done / total, text=text)
        return
    fraction = 0.0
    now = ""
    cell = job.current
    live = cell.live if cell is not None else None
    if live is not None:
        snap = live.bg.snapshot(full=False)
        if snap.state == RunState.QUEUED:
            now = t("compare.grid.now_queued", label=cell.label)
        else:
            fraction = min(1.0, snap.step / max(1, snap.total_steps))
            now = t("compare.grid.now_training", label=cell.label, step=snap.step, total=snap.total_steps)
    st.progress(min(1.0, (done + fraction) / total), text=t("compare.grid.progress", done=done, total=total) + now)
