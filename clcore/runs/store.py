"""Run store: finished and in-progress runs in an embedded SQLite database (stdlib sqlite3).

Each run belongs to a workspace (the app gives every browser session one, kept in its URL; the CLI's
runs are in "cli"), so a classroom sharing one server never sees each other's runs. Runs survive
restarts and crashes:

- every save is one transaction in WAL journal mode: a reader never sees a half-written row, and a
  process killed during a save leaves the previous save in place;
- a "running" row records the process that trains it (pid and start time); whoever opens or lists
  the store marks the running rows whose process is gone "interrupted", with whatever partial result
  was last saved, and leaves alone the runs another live process (a server, a CLI run) still trains;
- a damaged file is detected when it is opened (sqlite's own checks and `PRAGMA quick_check`) and
  reported, never loaded; a single row that does not parse is reported and skipped;
- a store that cannot be written (read-only folder, full disk) raises StoreUnavailable, or, for a
  store opened with `memory_fallback` (the app, the CLI), carries on in memory (a copy of what the
  file holds where it can still be read) and keeps the reason in `problem`, for one clear message.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from clcore.runs.results import jsonable
from clcore.runs.state import RunState

LOG = logging.getLogger(__name__)

STORE_ENV = "CLCORE_STORE"
DEFAULT_STORE = Path(__file__).resolve().parents[2] / "data" / "runs.sqlite"
# The states a stored run can have: training in some process, or over (kept as the states' value strings).
STORED_STATES = (RunState.RUNNING, RunState.FINISHED, RunState.STOPPED, RunState.FAILED, RunState.INTERRUPTED)
# The small part of a stored result that listings show (see `RunStore.list_summaries`).
SUMMARY_FIELDS = (
    "status",
    "message",
    "avg_acc",
    "forgetting",
    "bwt",
    "fwt",
    "wall_s",
    "train_samples_per_s",
    "steps",
    "offline",
    "config",
    "tasks",
    "task_il",
)
_JSON_SUMMARY_FIELDS = {"config", "tasks", "task_il"}  # json_extract returns these as JSON text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    result TEXT,
    owner_pid INTEGER,
    owner_start TEXT,
    config_hash TEXT
);
CREATE INDEX IF NOT EXISTS runs_workspace ON runs (workspace, created);
"""
# Columns added since the first stores were written: added to an older store when it is opened.
_ADDED_COLUMNS = {"owner_pid": "INTEGER", "owner_start": "TEXT", "config_hash": "TEXT"}
_COLUMNS = "id, workspace, label, created, updated, status, config, result, config_hash"
# sqlite's words for a file that is not (or no longer) a sound database; anything else is a failed write.
_DAMAGE_WORDS = ("not a database", "malformed", "corrupt")


class StoreUnavailable(Exception):
    """The run store's file could not be opened or written (`damaged` False), or is damaged (`damaged`
    True). Its text is one line naming the file and what to do."""

    def __init__(self, path: Path, reason: str, damaged: bool):
        self.path, self.reason, self.damaged = path, reason, damaged
        if damaged:
            text = (
                f"the run store {path} is damaged ({reason}) and was not loaded: move the file away "
                "(rename it, keeping it if it matters) and a fresh store is started there"
            )
        else:
            text = (
                f"the run store {path} could not be written ({reason}); results are kept in memory only: "
                "free disk space or make its folder writable"
            )
        super().__init__(text + f", or choose another store ({STORE_ENV}=PATH, or clcore run --store PATH)")

    @classmethod
    def of(cls, path: Path, error: Exception) -> StoreUnavailable:
        reason = str(error) or type(error).__name__
        return cls(path, reason, any(word in reason.lower() for word in _DAMAGE_WORDS))


@dataclass
class StoredRun:
    id: int
    workspace: str
    label: str
    created: float
    updated: float
    status: RunState
    config: dict
    result: dict | None
    config_hash: str | None = None  # a sweep's key for it (clcore.sweep.grid.config_hash)


def default_store_path() -> Path:
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


# ------------------------------------------------------------------------------------------------
# Which process trains a run
# ------------------------------------------------------------------------------------------------
def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (Linux), None where there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_start(pid: int) -> str | None:
    """When the process started (clock ticks since boot, Linux), so that a reused pid is told apart."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None  # field 22 of /proc/PID/stat; `fields` starts at field 3


def process_alive(pid: int | None, start: str | None) -> bool:
    """Whether process `pid`, started at `start` (None: unknown), still runs."""
    if pid is None or pid <= 0:
        return False  # a row from before owners were recorded (0 and below would signal process groups)
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return False  # os.kill(pid, 0) would terminate it on Windows; there, only this process counts
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc (macOS): the pid exists, that is all one can tell
    return fields[0] not in ("Z", "X") and (start is None or fields[19] == start)  # a zombie is gone


# ------------------------------------------------------------------------------------------------
# The store
# ------------------------------------------------------------------------------------------------
class RunStore:
    def __init__(self, path: str | Path | None = None, memory_fallback: bool = False):
        """Open (or create) the store at `path` (default: $CLCORE_STORE, else data/runs.sqlite) and mark the
        runs of processes that are gone "interrupted". Raises StoreUnavailable, or with `memory_fallback`
        carries on in memory instead (see `problem`)."""
        self.path = Path(path) if path else default_store_path()
        self.memory_fallback = memory_fallback
        self.problem: StoreUnavailable | None = None  # why this store is kept in memory
        self.damaged_rows: dict[int, str] = {}  # run id -> why it was skipped
        self._owner = (os.getpid(), process_start(os.getpid()))
        self._lock = threading.Lock()  # one connection shared by the app's threads
        try:
            self._db = self._open_file()
        except StoreUnavailable as problem:
            if not memory_fallback:
                raise
            self._fall_back(problem)
        self.mark_interrupted()

    def _open_file(self) -> sqlite3.Connection:
        db = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            checked = db.execute("PRAGMA quick_check").fetchall()  # reading the header: "not a database"
            if checked != [("ok",)]:
                raise sqlite3.DatabaseError("database disk image is malformed: " + "; ".join(r[0] for r in checked[:3]))
            db.execute("PRAGMA journal_mode=WAL")
            self._create_schema(db)
            return db
        except (sqlite3.Error, OSError) as error:
            if db is not None:
                db.close()
            raise StoreUnavailable.of(self.path, error) from error

    @staticmethod
    def _create_schema(db: sqlite3.Connection) -> None:
        db.executescript(_SCHEMA)
        present = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
        with db:
            for name, kind in _ADDED_COLUMNS.items():
                if name not in present:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs_config_hash'").fetchone():
                db.execute("CREATE INDEX runs_config_hash ON runs (config_hash)")  # sweeps find runs by it

    def _fall_back(self, problem: StoreUnavailable) -> None:
        """Carry on in memory: a copy of the file where it can still be read (same run ids), else empty."""
        self.problem = problem
        memory = sqlite3.connect(":memory:", check_same_thread=False)
        if not problem.damaged and self.path.exists():
            try:
                with sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True) as source:
                    source.backup(memory)
            except sqlite3.Error as error:
                LOG.info("could not copy %s into memory (%s); starting empty", self.path, error)
        self._create_schema(memory)
        old = getattr(self, "_db", None)
        self._db = memory
        if old is not None:
            old.close()

    def _write(self, query: str, args=()) -> sqlite3.Cursor:
        """One statement in its own transaction; a failed write falls back to memory (and is done there)
        with `memory_fallback`, else raises StoreUnavailable."""
        with self._lock:
            try:
                with self._db:
                    return self._db.execute(query, args)
            except sqlite3.Error as error:
                if not self.memory_fallback or self.problem is not None:
                    raise StoreUnavailable.of(self.path, error) from error
                self._fall_back(StoreUnavailable.of(self.path, error))
                with self._db:
                    return self._db.execute(query, args)

    def _read(self, query: str, args=()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(query, args).fetchall()
            except sqlite3.Error as error:
                raise StoreUnavailable.of(self.path, error) from error

    def _skip(self, run_id: int, reason: str) -> None:
        self.damaged_rows[run_id] = reason  # the callers report them (the CLI on stderr, the app on its page)

    def _row(self, row) -> StoredRun | None:
        """A stored run, or None (noted in `damaged_rows`) where its row does not parse."""
        try:
            return StoredRun(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                RunState(row[5]),
                json.loads(row[6]),
                json.loads(row[7]) if row[7] else None,
                row[8],
            )
        except (ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError, as is a bad state
            self._skip(row[0], str(error))
            return None

    def create(self, workspace: str, config: dict, label: str = "", config_hash: str | None = None) -> int:
        """A new "running" run owned by this process; returns its id. `config_hash`: the key a sweep finds it by
        (clcore.sweep.grid.config_hash)."""
        now = time.time()
        return self._write(
            "INSERT INTO runs (workspace, label, created, updated, status, config, owner_pid, owner_start, "
            "config_hash) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                workspace,
                label,
                now,
                now,
                RunState.RUNNING.value,
                json.dumps(jsonable(config)),
                *self._owner,
                config_hash,
            ),
        ).lastrowid

    def save(self, run_id: int, result: dict | None, status: RunState) -> None:
        """Replace a run's (partial or final) result and status."""
        if status not in STORED_STATES:
            raise ValueError(f"status must be one of {', '.join(STORED_STATES)}, not {status!r}")
        payload = json.dumps(jsonable(result)) if result is not None else None
        self._write(
            "UPDATE runs SET result = COALESCE(?, result), status = ?, updated = ? WHERE id = ?",
            (payload, RunState(status).value, time.time(), run_id),
        )

    def rename(self, run_id: int, label: str, workspace: str | None = None) -> bool:
        """Set a run's label (only within `workspace` when given). Returns whether a run was renamed."""
        query, args = "UPDATE runs SET label = ? WHERE id = ?", [label, run_id]
        if workspace is not None:
            query, args = query + " AND workspace = ?", args + [workspace]
        return self._write(query, args).rowcount > 0

    def get(self, run_id: int, workspace: str | None = None) -> StoredRun | None:
        """The run, or None where there is none (in `workspace` when given) or its row is damaged."""
        query, args = f"SELECT {_COLUMNS} FROM runs WHERE id = ?", [run_id]
        if workspace is not None:
            query, args = query + " AND workspace = ?", args + [workspace]
        rows = self._read(query, args)
        return self._row(rows[0]) if rows else None

    def list(self, workspace: str | None = None) -> list[StoredRun]:
        """The runs of `workspace` (all runs where None), oldest first; damaged rows skipped."""
        self.mark_interrupted()
        where, args = ("WHERE workspace = ?", (workspace,)) if workspace is not None else ("", ())
        rows = self._read(f"SELECT {_COLUMNS} FROM runs {where} ORDER BY created", args)
        return [run for run in map(self._row, rows) if run is not None]

    def list_summaries(self, workspace: str | None = None) -> list[StoredRun]:
        """Like `list`, without the bulky curves: `result` holds only the fields of SUMMARY_FIELDS
        (None for a run with no result yet). What a listing that refreshes every second should read."""
        self.mark_interrupted()
        where, args = ("WHERE workspace = ?", (workspace,)) if workspace is not None else ("", ())
        return self._summaries(where, args)

    def finished_by_hash(self, hashes: list[str]) -> dict[str, StoredRun]:
        """{config hash: its latest finished run, as in `list_summaries`} for the hashes that have one."""
        found = {}
        for start in range(0, len(hashes), 500):  # within sqlite's limit on bound parameters
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            where = f"WHERE status = ? AND config_hash IN ({marks})"
            for run in self._summaries(where, (RunState.FINISHED.value, *chunk)):
                found[run.config_hash] = run  # oldest first: the latest one stays
        return found

    def _summaries(self, where: str, args) -> list[StoredRun]:
        """The rows selected by `where`, each with the SUMMARY_FIELDS of its result (see `list_summaries`)."""
        result = "CASE WHEN json_valid(result) THEN result END"  # a damaged result is skipped, not an error
        cols = ", ".join(f"json_extract({result}, '$.{f}')" for f in SUMMARY_FIELDS)
        rows = self._read(
            f"SELECT id, workspace, label, created, updated, status, config, config_hash, result IS NOT NULL, "
            f"json_valid(result), {cols} FROM runs {where} ORDER BY created",
            args,
        )
        out = []
        for r in rows:
            if r[8] and not r[9]:
                self._skip(r[0], "its result is not valid JSON")
                continue
            run = self._row((*r[:7], None, r[7]))
            if run is None:
                continue
            if r[8]:
                run.result = {}
                for name, value in zip(SUMMARY_FIELDS, r[10:]):
                    if value is not None and name in _JSON_SUMMARY_FIELDS:
                        value = json.loads(value)
                    elif value is not None and name == "offline":  # JSON true/false come back as 1/0
                        value = bool(value)
                    run.result[name] = value
            out.append(run)
        return out

    def delete(self, run_id: int, workspace: str) -> bool:
        return self._write("DELETE FROM runs WHERE id = ? AND workspace = ?", (run_id, workspace)).rowcount > 0

    def mark_interrupted(self) -> int:
        """Mark "interrupted" the runs left "running" by a process that is gone (killed, crashed, its
        machine slept and rebooted), keeping their last saved result; the runs that another live process
        still trains stay "running". Done whenever the store is opened or listed; returns how many."""
        rows = self._read("SELECT id, owner_pid, owner_start FROM runs WHERE status = ?", (RunState.RUNNING.value,))
        now, running, interrupted = time.time(), RunState.RUNNING.value, RunState.INTERRUPTED.value
        gone = [(interrupted, now, run_id, running) for run_id, pid, start in rows if not process_alive(pid, start)]
        if not gone:
            return 0
        with self._lock:
            try:
                with self._db:
                    self._db.executemany("UPDATE runs SET status = ?, updated = ? WHERE id = ? AND status = ?", gone)
            except sqlite3.Error as error:  # a read-only store still lists; its owners are gone all the same
                LOG.info("could not mark runs interrupted in %s: %s", self.path, error)
                return 0
        return len(gone)

    def close(self) -> None:
        with self._lock:
            self._db.close()
