"""Cells on Ray, each a whole run in a worker process, recorded in the run store as they finish.

`connect` starts a local Ray instance (one CPU per cell, all cores by default) or joins an existing cluster
(`address`); `Executor` keeps at most `workers` cells in flight, each on one CPU and, where the cluster has
GPUs, a fraction of one. The driver (this process) writes every finished cell to the run store keyed by its
config hash (clcore.sweep.grid.config_hash), so a sweep started again, after a crash, Ctrl-C or kill -9,
runs only the cells the store has no finished run for. A `SweepJob` is a batch of cells on an executor: the
CLI's sweep drives one until it is over (`run_cells`); a long-lived process (the app's server) hands its jobs to
a `Sweeper`, whose thread drives them all on one shared executor while their submitters poll and cancel them.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from clcore.runs.state import RunState
from clcore.runs.store import RunStore, StoredRun
from clcore.settings.recommended import expected
from clcore.sweep.grid import Cell

LOG = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
SWEEP_WORKSPACE = "sweep"  # the workspace of sweep and tuning runs in a run store
CONNECT_TIMEOUT_S = 5.0
OBJECT_STORE_BYTES = 200 * 1024**2  # results are small JSON; Ray's default takes 30 % of the memory
# What a cluster elsewhere receives of this repository (runtime_env working_dir): the code and bundled data.
# Patterns as in .gitignore: anchored with "/" at the repository root (clcore/data is code).
SHIPPED_EXCLUDES = ["/.venv", "/.git", "/data", "/artifacts", "/bench/results", "__pycache__"]


class SweepError(RuntimeError):
    """The sweep cannot start (no cluster to reach, a store it cannot use); its text is one line. `code` and
    `values` say the same for a caller that words it itself (the app, in its languages): "bad_address",
    "unreachable", "no_ray", "start_failed" or "other_cluster"."""

    def __init__(self, message: str, code: str = "", **values):
        super().__init__(message)
        self.code, self.values = code, values


# ------------------------------------------------------------------------------------------------
# The cluster
# ------------------------------------------------------------------------------------------------
def host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of `host:port` or `ray://host:port`; None for `auto` (Ray finds the local cluster)."""
    if address == "auto":
        return None
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise SweepError(
            f"--address {address}: give host:port (e.g. 127.0.0.1:6379), ray://host:port or auto",
            "bad_address",
            address=address,
        )
    return parts.hostname, port


def _is_local(host: str) -> bool:
    """Whether `host` is this machine: one of its addresses can be bound to."""
    try:
        with socket.socket() as probe:
            probe.bind((socket.gethostbyname(host), 0))
    except OSError:
        return False
    return True


def connect(address: str | None = None, workers: int | None = None) -> bool:
    """Join the Ray cluster at `address`, or start a local one with `workers` CPUs (default: all cores).
    Returns whether this call started the connection (a caller that did disconnects). An unreachable
    `address` raises SweepError after at most CONNECT_TIMEOUT_S, without Ray's traceback."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report sent from a sweep
    try:
        import ray
        from ray.job_config import JobConfig
    except ImportError as error:
        raise SweepError(
            f"Ray cannot be imported ({error}); install it: pip install -r requirements.txt", "no_ray", reason=error
        ) from None

    target = host_port(address) if address else None
    if target is not None:  # checked first, even by a process already connected: a wrong address is said so
        try:
            socket.create_connection(target, timeout=CONNECT_TIMEOUT_S).close()
        except OSError as error:
            reason = error.strerror or str(error)
            raise SweepError(
                f"no Ray cluster reachable at --address {address} ({reason}); start one with "
                "`ray start --head` there, or leave --address out to run on this machine",
                "unreachable",
                address=address,
                reason=reason,
            ) from None
    if ray.is_initialized():
        return False
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
    local_code = JobConfig(code_search_path=[str(REPO_ROOT)])  # workers on this machine import this checkout
    try:
        if address is None:
            ray.init(
                num_cpus=workers or os.cpu_count(),
                include_dashboard=False,
                object_store_memory=OBJECT_STORE_BYTES,
                job_config=local_code,
                **quiet,
            )
        elif target is None or _is_local(target[0]):
            ray.init(address=address, job_config=local_code, **quiet)
        else:  # another machine: ship this checkout (code and bundled data) with the job
            ray.init(
                address=address,
                runtime_env={"working_dir": str(REPO_ROOT), "excludes": SHIPPED_EXCLUDES},
                **quiet,
            )
    except Exception as error:  # Ray's own exceptions vary by version and address form
        first = str(error).strip().splitlines()
        reason = first[0] if first else type(error).__name__
        raise SweepError(
            f"could not {'join the Ray cluster at ' + address if address else 'start Ray'}: {reason}",
            "start_failed",
            address=address or "",
            reason=reason,
        ) from None
    return True


def disconnect() -> None:
    import ray

    ray.shutdown()  # a local instance stops with it; a cluster joined by address goes on


# ------------------------------------------------------------------------------------------------
# One cell (in a Ray worker)
# ------------------------------------------------------------------------------------------------
def run_cell(config: dict, validation: bool) -> dict:
    """A cell's whole run; its JSON result (status "failed" with the message when it could not run)."""
    from clcore.runs.run import Run

    try:
        return Run(config, validation=validation).run_to_end()
    except Exception as error:  # data missing, a device gone: reported for this cell, the others go on
        return {"status": RunState.FAILED.value, "message": f"{type(error).__name__}: {error}", "config": config}


@dataclass
class Outcome:
    cell: Cell
    result: dict
    seconds: float  # submission to completion, as the driver saw it
    tag: object = None  # what the submitter attached (a tuning trial)

    @property
    def status(self) -> str:
        return self.result["status"]


class Executor:
    """At most `workers` cells in flight on the connected cluster; `submit` while `free`, `wait` for outcomes."""

    def __init__(self, workers: int | None = None):
        import ray

        resources = ray.cluster_resources()
        self.workers = max(1, workers or int(resources.get("CPU", 1)))
        gpus = resources.get("GPU", 0.0)
        # GPU cells share the cards: the fraction Ray reserves per cell (it sets CUDA_VISIBLE_DEVICES for it).
        self.gpu_fraction = math.floor(min(1.0, gpus / self.workers) * 10_000) / 10_000 if gpus else 0.0
        self._remote = ray.remote(run_cell).options(num_cpus=1, num_gpus=self.gpu_fraction, max_retries=0)
        self._pending: dict = {}  # ObjectRef -> (cell, tag, submitted at)

    @property
    def free(self) -> int:
        return self.workers - len(self._pending)

    @property
    def running(self) -> int:
        return len(self._pending)

    def submit(self, cell: Cell, tag=None) -> None:
        ref = self._remote.remote(cell.config.to_dict(), cell.validation)
        self._pending[ref] = (cell, tag, time.perf_counter())

    def wait(self, timeout: float) -> list[Outcome]:
        """The cells that ended within `timeout` seconds (a cell whose worker died: failed, with Ray's reason)."""
        import ray

        if not self._pending:
            return []
        refs = list(self._pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)  # back as soon as one ends: its worker is free
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        outcomes = []
        for ref in ready:
            cell, tag, submitted = self._pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as error:
                lines = str(error).strip().splitlines()
                result = {"status": RunState.FAILED.value, "message": f"{type(error).__name__}: {lines[-1]}"}
            outcomes.append(Outcome(cell, result, time.perf_counter() - submitted, tag))
        return outcomes

    def cancel(self, only: Callable[[object], bool] | None = None) -> None:
        """Stop the cells in flight: all of them, or those whose tag `only` accepts (one job's, on a shared
        executor)."""
        import ray

        for ref, (_, tag, _) in list(self._pending.items()):
            if only is None or only(tag):
                ray.cancel(ref, force=True)
                del self._pending[ref]


# ------------------------------------------------------------------------------------------------
# The run store, by config hash
# ------------------------------------------------------------------------------------------------
class CellStore:
    """Finished cells by config hash, and every ended cell recorded in `workspace` (failed ones too: they run
    again). Opens the store at `path`, or wraps a store already open (the app's)."""

    def __init__(self, path: str | RunStore | None, workspace: str = SWEEP_WORKSPACE):
        self.store = path if isinstance(path, RunStore) else RunStore(path or None, memory_fallback=True)
        self.workspace = workspace

    @property
    def problem(self):
        return self.store.problem

    def finished(self, cells: list[Cell]) -> dict[str, StoredRun]:
        return self.store.finished_by_hash([cell.key for cell in cells])

    def record(self, outcome: Outcome, label: str | None = None) -> int:
        """The ended cell as a run of this workspace (labelled `label`, else the cell's own label); its id."""
        cell, result = outcome.cell, outcome.result
        run_id = self.store.create(
            self.workspace, result.get("config") or cell.config.to_dict(), label or cell.label, config_hash=cell.key
        )
        self.store.save(run_id, result, RunState(result["status"]))
        return run_id

    def reuse(self, cells: list[Cell], labels: list[str]) -> dict[str, int]:
        """{key: run id in this workspace} of the cells finished already: a finished run of this workspace, else
        a copy (labelled as `labels` say) of one another workspace finished (a sweep's, another session's)."""
        keys = {cell.key for cell in cells}
        here = [run for run in self.store.list_summaries(self.workspace) if run.status == RunState.FINISHED]
        reused = {run.config_hash: run.id for run in here if run.config_hash in keys}
        elsewhere = self.finished([cell for cell in cells if cell.key not in reused])
        for cell, label in zip(cells, labels):
            if cell.key in elsewhere and cell.key not in reused:
                found = self.store.get(elsewhere[cell.key].id)
                if found is not None:
                    reused[cell.key] = self.record(Outcome(cell, found.result, 0.0), label)
        return reused

    def close(self) -> None:
        self.store.close()


# ------------------------------------------------------------------------------------------------
# Progress and the loop
# ------------------------------------------------------------------------------------------------
@dataclass
class Progress:
    """One progress line on stderr: cells done / running / failed and the ETA (rewritten in place on a
    terminal, a line per ended cell otherwise); a failed cell's message on its own line."""

    total: int
    quiet: bool = False
    name: str = "sweep"  # or "tune": the line's first word
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter)
    _last: float = 0.0

    def line(self, running: int) -> str:
        ended = self.done + self.failed
        elapsed = time.perf_counter() - self.started
        left = eta_s(elapsed, ended, self.total)
        eta = f"{left:.0f} s" if left is not None else "-"
        return (
            f"{self.name}: {self.done}/{self.total} done, {running} running, {self.failed} failed, "
            f"{elapsed:.0f} s elapsed, ETA {eta}"
        )

    def ended(self, outcome: Outcome, running: int) -> None:
        if outcome.status == RunState.FINISHED:
            self.done += 1
        else:
            self.failure(outcome.cell.label, f"{outcome.status}: {outcome.result.get('message', '')}")
        self.show(running, force=True)

    def failure(self, what: str, message: str) -> None:
        """A failed cell or trial, on its own line (even when quiet: it is an error)."""
        self.failed += 1
        text = f"clcore: {what}: {message}"
        sys.stderr.write(f"\r{text:<90}\n" if sys.stderr.isatty() else text + "\n")

    def show(self, running: int, force: bool = False) -> None:
        now, tty = time.perf_counter(), sys.stderr.isatty()
        if self.quiet or not (force or (tty and now - self._last >= 1.0)):
            return
        self._last = now
        sys.stderr.write(f"\r{self.line(running):<90}" if tty else self.line(running) + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if not self.quiet and sys.stderr.isatty():
            sys.stderr.write("\n")


def eta_s(elapsed: float, ended: int, total: int) -> float | None:
    """Seconds left for `total` cells when `ended` of them took `elapsed` seconds (None before the first ends)."""
    return elapsed / ended * (total - ended) if ended else None


def longest_first(cells: list[Cell]) -> list[Cell]:
    """Cells by the recommended run's measured wall time, longest first (unknown last): the slow cells do not
    end up alone at the end of a sweep while the other workers idle."""

    def measured(cell: Cell) -> float:
        return ((expected(cell.config.strategy, cell.config.benchmark) or {}).get("wall_s")) or 0.0

    return sorted(cells, key=lambda cell: -measured(cell))


@dataclass(eq=False)
class JobCell:
    cell: Cell
    label: str
    state: RunState = RunState.QUEUED  # queued, running (on the cluster), then finished, failed or cancelled
    store_id: int | None = None  # its run in the store once it ended (a cancelled cell is not kept)
    message: str = ""


class SweepJob:
    """Cells run together on an executor (a sweep, or one app session's grid): at most `workers` of them in
    flight (None: as many as the executor has), the longest first, each recorded in `store` as it ends. `done`:
    {key: run id} of cells finished already, shown as finished at once and not run. `abandoned()`, checked while
    it runs, cancels it (its cells left "interrupted"). Driven by `drive` in one thread; read from any."""

    def __init__(
        self,
        cells: list[Cell],
        store: CellStore,
        labels: list[str] | None = None,
        workers: int | None = None,
        done: dict[str, int] | None = None,
        progress: Progress | None = None,
        abandoned: Callable[[], bool] | None = None,
    ):
        labels = labels or [cell.label for cell in cells]
        self.cells = [JobCell(cell, label) for cell, label in zip(cells, labels)]
        self.store, self.workers, self.progress, self.abandoned = store, workers, progress, abandoned
        self.outcomes: list[Outcome] = []
        done = done or {}
        for job_cell in self.cells:
            if job_cell.cell.key in done:
                job_cell.state, job_cell.store_id = RunState.FINISHED, done[job_cell.cell.key]
        waiting = {id(c.cell): c for c in self.cells if c.state == RunState.QUEUED}
        self._todo = [waiting[id(cell)] for cell in longest_first([c.cell for c in waiting.values()])]
        self.to_run = len(self._todo)
        self.started = time.perf_counter()
        self._cancel: RunState | None = None  # CANCELLED or INTERRUPTED once asked to stop
        self._over = threading.Event()
        if not self._todo:
            self._over.set()

    @property
    def finished(self) -> bool:
        """Every cell has ended (or was cancelled)."""
        return self._over.is_set()

    def count(self, state: RunState) -> int:
        return sum(c.state == state for c in self.cells)

    @property
    def eta_s(self) -> float | None:
        return eta_s(time.perf_counter() - self.started, len(self.outcomes), self.to_run)

    def cancel(self, state: RunState = RunState.CANCELLED) -> None:
        """Stop it (in its driver's next round): cells in flight are stopped, no more start."""
        if self._cancel is None:
            self._cancel = state

    def join(self, timeout: float | None = None) -> bool:
        return self._over.wait(timeout)

    def _next(self) -> JobCell | None:
        in_flight = self.count(RunState.RUNNING)
        if self._cancel is not None or not self._todo or (self.workers and in_flight >= self.workers):
            return None
        return self._todo.pop(0)

    def _ended(self, job_cell: JobCell, outcome: Outcome, running: int) -> None:
        job_cell.store_id = self.store.record(outcome, job_cell.label)
        job_cell.message = outcome.result.get("message", "")
        job_cell.state = RunState.FINISHED if outcome.status == RunState.FINISHED else RunState.FAILED
        self.outcomes.append(outcome)
        if self.progress is not None:
            self.progress.ended(outcome, running)

    def _stop(self, executor: Executor, state: RunState, message: str = "") -> None:
        """Its cells in flight stopped, and every cell not ended left `state`."""
        executor.cancel(only=lambda tag: tag[0] is self)
        for job_cell in self.cells:
            if not job_cell.state.terminal:
                job_cell.state, job_cell.message = state, message
        self._todo.clear()

    def _check_over(self) -> None:
        if not self._todo and not any(c.state == RunState.RUNNING for c in self.cells):
            self._over.set()


def drive(jobs: list[SweepJob], executor: Executor, timeout: float) -> None:
    """One round of `jobs` on `executor`: free workers take the next cells (the jobs in turn, first come first
    served), then the cells that end within `timeout` seconds are recorded; cancelled jobs stop."""

    def fill() -> None:
        for job in jobs:
            while executor.free > 0 and (job_cell := job._next()) is not None:
                executor.submit(job_cell.cell, tag=(job, job_cell))
                job_cell.state = RunState.RUNNING

    for job in jobs:
        if job._cancel is None and job.abandoned is not None and job.abandoned():
            job.cancel(RunState.INTERRUPTED)
        if job._cancel is not None and not job.finished:
            job._stop(executor, job._cancel)
    fill()
    ended = executor.wait(timeout)
    fill()  # the freed workers take the next cells before any bookkeeping
    for outcome in ended:
        job, job_cell = outcome.tag
        job._ended(job_cell, outcome, executor.running)
    for job in jobs:
        job._check_over()
        if job.progress is not None:
            job.progress.show(executor.running)


def run_cells(cells: list[Cell], executor: Executor, store: CellStore, progress: Progress) -> list[Outcome]:
    """Run `cells` (those not finished in the store already: the caller chooses), recording each as it ends."""
    job = SweepJob(cells, store, progress=progress)
    try:
        while not job.finished:
            drive([job], executor, timeout=1.0)
    finally:
        executor.cancel()  # Ctrl-C: the cells in flight stop with the sweep; the finished ones are stored
        progress.close()
    return job.outcomes


def _connect_for_good(address: str | None) -> None:
    """`connect` in a thread that lasts as long as the process: the processes of a local Ray die with the thread
    that started them (Linux's parent-death signal follows the thread), and a server's request threads end
    after every request."""
    ended, failure = threading.Event(), []

    def own() -> None:
        try:
            started = connect(address)
        except Exception as error:  # noqa: BLE001 - handed to the caller
            failure.append(error)
            started = False
        ended.set()
        if started:
            threading.Event().wait()  # the parent of the local Ray's processes, for good

    threading.Thread(target=own, name="clcore-ray-parent", daemon=True).start()
    ended.wait()
    if failure:
        raise failure[0]


class Sweeper:
    """One Ray connection and executor for a long-lived process (the app's server), shared by all its callers:
    Ray is joined (or started) at the first `connect`, and a thread of its own drives the jobs (free workers go to
    them first come, first served), ending when none is left."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: list[SweepJob] = []
        self._executor: Executor | None = None
        self._address: str | None = None  # the cluster joined; None: a local Ray
        self._thread: threading.Thread | None = None

    def connect(self, address: str | None = None) -> None:
        """Join the cluster at `address` (None: start a local Ray on all cores), once per process. SweepError when
        Ray cannot be imported or reached, or this process already uses another cluster."""
        address = address or None
        with self._lock:
            if self._executor is None:
                _connect_for_good(address)
                self._executor, self._address = Executor(), address
            elif address != self._address:
                current = self._address or "local"
                raise SweepError(
                    f"this process already uses the Ray cluster at {current}; restart it to use {address or 'local'}",
                    "other_cluster",
                    address=address or "local",
                    current=current,
                )

    def start(self, job: SweepJob) -> None:
        """Drive `job`, after `connect` (a job with nothing left to run needs no cluster), in this Sweeper's
        thread."""
        if job.finished:
            return
        with self._lock:
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="clcore-sweeper", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._jobs = [job for job in self._jobs if not job.finished]
                if not self._jobs:
                    self._thread = None
                    return
                jobs = list(self._jobs)
            try:
                drive(jobs, self._executor, timeout=0.5)
            except Exception as error:  # noqa: BLE001 - the store or the cluster failed: the jobs end saying so
                LOG.exception("sweep jobs")
                for job in jobs:
                    job._stop(self._executor, RunState.FAILED, f"{type(error).__name__}: {error}")
                    job._check_over()
