"""Run store: finished and in-progress runs in an embedded SQLite database (stdlib sqlite3).

Each run belongs to a workspace (the app gives every browser session one, kept in its URL), so a
classroom sharing one server never sees each other's runs. Runs survive restarts; runs that were
still "running" when the process died are marked "interrupted" at the next start, with whatever
partial result was last saved.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from clcore.runs.results import jsonable
from clcore.runs.state import RunState

STORE_ENV = "CLCORE_STORE"
DEFAULT_STORE = Path(__file__).resolve().parents[2] / "data" / "runs.sqlite"
# The states a stored run can have: training in some session, or over (kept as the states' value strings).
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
    result TEXT
);
CREATE INDEX IF NOT EXISTS runs_workspace ON runs (workspace, created);
"""


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


def default_store_path() -> Path:
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


class RunStore:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection shared by the app's threads
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def _row(self, row) -> StoredRun:
        return StoredRun(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            RunState(row[5]),
            json.loads(row[6]),
            json.loads(row[7]) if row[7] else None,
        )

    def create(self, workspace: str, config: dict, label: str = "") -> int:
        now = time.time()
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO runs (workspace, label, created, updated, status, config) VALUES (?,?,?,?,?,?)",
                (workspace, label, now, now, RunState.RUNNING.value, json.dumps(jsonable(config))),
            )
            return cur.lastrowid

    def save(self, run_id: int, result: dict | None, status: RunState) -> None:
        """Replace a run's (partial or final) result and status."""
        if status not in STORED_STATES:
            raise ValueError(f"status must be one of {', '.join(STORED_STATES)}, not {status!r}")
        payload = json.dumps(jsonable(result)) if result is not None else None
        with self._lock, self._db:
            self._db.execute(
                "UPDATE runs SET result = COALESCE(?, result), status = ?, updated = ? WHERE id = ?",
                (payload, RunState(status).value, time.time(), run_id),
            )

    def rename(self, run_id: int, label: str, workspace: str | None = None) -> bool:
        """Set a run's label (only within `workspace` when given). Returns whether a run was renamed."""
        query, args = "UPDATE runs SET label = ? WHERE id = ?", [label, run_id]
        if workspace is not None:
            query, args = query + " AND workspace = ?", args + [workspace]
        with self._lock, self._db:
            return self._db.execute(query, args).rowcount > 0

    def get(self, run_id: int, workspace: str | None = None) -> StoredRun | None:
        query, args = "SELECT * FROM runs WHERE id = ?", [run_id]
        if workspace is not None:
            query, args = query + " AND workspace = ?", args + [workspace]
        with self._lock:
            row = self._db.execute(query, args).fetchone()
        return self._row(row) if row else None

    def list(self, workspace: str) -> list[StoredRun]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM runs WHERE workspace = ? ORDER BY created", (workspace,)).fetchall()
        return [self._row(r) for r in rows]

    def list_summaries(self, workspace: str) -> list[StoredRun]:
        """Like `list`, without the bulky curves: `result` holds only the fields of SUMMARY_FIELDS
        (None for a run with no result yet). What a listing that refreshes every second should read."""
        cols = ", ".join(f"json_extract(result, '$.{f}')" for f in SUMMARY_FIELDS)
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, workspace, label, created, updated, status, config, "
                f"result IS NOT NULL, {cols} FROM runs WHERE workspace = ? ORDER BY created",
                (workspace,),
            ).fetchall()
        out = []
        for r in rows:
            result = None
            if r[7]:
                result = {}
                for name, value in zip(SUMMARY_FIELDS, r[8:]):
                    if value is not None and name in _JSON_SUMMARY_FIELDS:
                        value = json.loads(value)
                    elif value is not None and name == "offline":  # JSON true/false come back as 1/0
                        value = bool(value)
                    result[name] = value
            out.append(StoredRun(r[0], r[1], r[2], r[3], r[4], RunState(r[5]), json.loads(r[6]), result))
        return out

    def delete(self, run_id: int, workspace: str) -> bool:
        with self._lock, self._db:
            return self._db.execute("DELETE FROM runs WHERE id = ? AND workspace = ?", (run_id, workspace)).rowcount > 0

    def mark_interrupted(self) -> int:
        """Runs left running by a process that is gone; call once when a server starts."""
        with self._lock, self._db:
            return self._db.execute(
                "UPDATE runs SET status = ?, updated = ? WHERE status = ?",
                (RunState.INTERRUPTED.value, time.time(), RunState.RUNNING.value),
            ).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
