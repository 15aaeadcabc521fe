"""Faults of the run store (clcore/runs/store.py), with real processes and real files.

- `kill -9` of a CLI run (`python -m clcore run --store`) and of the app server (`streamlit run app.py`,
  a run started with a click in Chromium) mid-run: the store opens afterwards, the finished runs are
  intact, the killed run is "interrupted" with its last saved partial result, and a run that another live
  process still trains stays "running".
- A store that cannot be written (a read-only folder, a full disk: sqlite's page limit made tiny) gives one
  clear line and the run completes in memory (CLI: printed, exit status the run's; app: a warning, the
  run viewable in the session and its listings).
- A damaged store (random bytes, a truncated file) is reported naming the file and never loaded or
  touched; a row whose JSON does not parse is reported and skipped.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import streamlit as st

from clcore import RunQueue
from clcore.cli import main as cli_main
from clcore.runs.store import RunStore, StoreUnavailable
from clcore.settings.config import make_config
from pages.shared import session
from tests.app_support import open_app
from tests.e2e_support import ROOT, BrowserUnavailable, app_server, chromium

pytestmark = pytest.mark.timeout(120)

SLOW_EPOCHS = 60  # five tasks slow enough that a kill after the first task end lands mid-run
TINY_APP = {"preset": "forgetting-30s", "subset": "100", "eval_every": "5", "eval_subset": "100"}
WORKSPACE = "fa17fa17fa17fa17"


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def run_args(epochs: int) -> list[str]:
    """`clcore run` of fine-tune on five tasks of 300 examples, no evaluation during a task."""
    return [
        *("run", "--benchmark", "split-mnist", "--strategy", "finetune", "--train-subset", "300"),
        *("--epochs", str(epochs), "--eval-every", "0", "--cpu-threads", "1", "--no-recommended", "--quiet"),
    ]


def cli(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python -m clcore <args>` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(args))
    return code, out.getvalue(), err.getvalue()


def peek(path: Path) -> dict[int, dict]:
    """The store's rows as another reader sees them now (read-only: marks nothing), by id."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT id, status, result, owner_pid FROM runs").fetchall()
    except sqlite3.Error:  # not created yet
        return {}
    return {i: {"status": s, "result": json.loads(r) if r else None, "owner_pid": p} for i, s, r, p in rows}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if found := predicate():
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def partial_run(path: Path, workspace: str):
    """The id and owner of a run of `workspace` still running with a partial result (at least one task ended)."""
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT id, owner_pid FROM runs WHERE workspace = ? AND status = 'running' "
            "AND json_array_length(result, '$.acc_matrix') >= 1",
            (workspace,),
        ).fetchall()
    return rows[0] if rows else None


def seeded_store(path: Path) -> tuple[dict[int, dict], int]:
    """A store holding two finished runs and one run that this (live) test process trains: ({id: result}
    of the finished ones, the live one's id)."""
    store = RunStore(path)
    finished = {}
    for i in range(2):
        run_id = store.create("0123abcd", {"strategy": "er", "benchmark": "split-mnist", "seed": i}, f"run {i}")
        finished[run_id] = {"status": "finished", "avg_acc": 50.0 + i, "acc_matrix": [[99.0, 0.0], [10.0, 98.0 + i]]}
        store.save(run_id, finished[run_id], "finished")
    live_id = store.create("0123abcd", {"strategy": "ewc", "benchmark": "split-mnist", "seed": 0}, "still training")
    store.close()
    return finished, live_id


def assert_survivors(store: RunStore, finished: dict[int, dict], live_id: int) -> None:
    for run_id, result in finished.items():
        stored = store.get(run_id)
        assert stored.status == "finished" and stored.result == result
    assert store.get(live_id).status == "running"  # this test process still trains it


def readonly_store_path(tmp_path: Path) -> Path:
    """A store path whose folder cannot be written: a read-only folder, or, as root (CI), where chmod does
    not stop writes, a path under a regular file (no folder can be created there)."""
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        return folder / "runs.sqlite"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "runs.sqlite"


@pytest.fixture
def fresh_app_caches():
    """The app's cached store (per path) and training slots are rebuilt for this test."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


# ------------------------------------------------------------------------------------------------
# kill -9
# ------------------------------------------------------------------------------------------------
def test_kill_9_of_a_cli_run_leaves_it_interrupted_with_its_partial_result(tmp_path):
    path = tmp_path / "runs.sqlite"
    finished, live_id = seeded_store(path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clcore", *run_args(SLOW_EPOCHS), "--store", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        run_id, owner = wait_for(lambda: partial_run(path, "cli"), 90, "the CLI run's first saved task")
        assert owner == proc.pid
        # another process opening the store meanwhile leaves the CLI's live run alone
        with contextlib.closing(RunStore(path)) as store:
            assert store.get(run_id).status == "running"
            assert_survivors(store, finished, live_id)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    proc.stderr.close()
    saved = peek(path)[run_id]["result"]

    with contextlib.closing(RunStore(path)) as store:
        killed = store.get(run_id)
        assert killed.status == "interrupted"
        assert killed.result == saved and 1 <= len(killed.result["acc_matrix"]) < 5  # the last saved task
        assert_survivors(store, finished, live_id)
    code, out, err = cli("runs", "--store", str(path), "--json")
    assert code == 0 and not err
    assert {r["id"]: r["state"] for r in json.loads(out)} == {
        **dict.fromkeys(finished, "finished"),
        live_id: "running",
        run_id: "interrupted",
    }


def test_kill_9_of_the_app_server_mid_run_leaves_the_run_interrupted(tmp_path):
    path = tmp_path / "runs.sqlite"
    finished, live_id = seeded_store(path)
    query = f"strategy=finetune&benchmark=split-mnist&train_subset=300&epochs={SLOW_EPOCHS}&eval_every=0"
    try:
        with app_server(path, tmp_path / "server.log") as url, chromium() as browser:
            page = browser.new_page()
            page.goto(f"{url}/?ws={WORKSPACE}&{query}", wait_until="domcontentloaded")
            page.locator(".st-key-pg_play button").first.click(timeout=90_000)
            run_id, server_pid = wait_for(lambda: partial_run(path, WORKSPACE), 90, "the app run's first saved task")
            os.kill(server_pid, signal.SIGKILL)  # the process that trains it: the server itself
    except (BrowserUnavailable, RuntimeError) as error:
        pytest.fail(str(error), pytrace=False)
    saved = peek(path)[run_id]["result"]

    with contextlib.closing(RunStore(path)) as store:
        killed = store.get(run_id, WORKSPACE)
        assert killed.status == "interrupted"
        assert killed.result == saved and 1 <= len(killed.result["acc_matrix"]) < 5
        assert_survivors(store, finished, live_id)


# ------------------------------------------------------------------------------------------------
# a store that cannot be written
# ------------------------------------------------------------------------------------------------
def test_cli_run_with_a_read_only_store_completes_and_says_so_once(tmp_path):
    path = readonly_store_path(tmp_path)
    code, out, err = cli(*run_args(1), "--store", str(path))
    assert code == 0 and "accuracy matrix" in out
    assert err.count("\n") == 1 and f"the run store {path} could not be written" in err
    assert not path.exists()


class _TinyDisk(RunStore):
    """A store whose file may not grow past its size when opened: sqlite's 'database or disk is full' as soon
    as a result needs a page of its own (over 4 KB: the runs below log their loss at every step)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(f"PRAGMA max_page_count = {pages}")


def test_cli_run_on_a_full_disk_completes_and_says_so_once(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    finished, live_id = seeded_store(path)
    monkeypatch.setattr("clcore.cli.RunStore", _TinyDisk)
    code, out, err = cli(*run_args(1), "--log-every", "1", "--store", str(path))
    assert code == 0 and "accuracy matrix" in out
    assert err.count("\n") == 1 and "could not be written (database or disk is full)" in err
    with contextlib.closing(RunStore(path)) as store:
        assert_survivors(store, finished, live_id)


def test_app_run_on_a_full_disk_carries_on_in_memory(tmp_path):
    path = tmp_path / "runs.sqlite"
    finished, _ = seeded_store(path)
    store = _TinyDisk(path, memory_fallback=True)
    launcher = session.Launcher(store, WORKSPACE, None, RunQueue(1), session._Watcher())
    config = make_config(strategy="finetune", benchmark="split-mnist", train_subset=300, eval_every=0, log_every=1)
    live = launcher.start(config, "fills the disk", play=True)
    assert live.bg.join(timeout=60) and live.run.status == "finished"
    assert store.problem is not None and "database or disk is full" in store.problem.reason
    assert live.store_error is None  # the saves went on, into memory
    kept = store.get(live.store_id, WORKSPACE)
    assert kept.status == "finished" and kept.result == session.result_of(live)
    assert {r.id for r in store.list_summaries()} >= set(finished)  # the file's runs are still listed
    store.close()


def test_app_with_a_read_only_store_warns_and_the_run_stays_viewable(tmp_path, monkeypatch, fresh_app_caches):
    path = readonly_store_path(tmp_path)
    monkeypatch.setenv("CLCORE_STORE", str(path))
    at = open_app({"ws": WORKSPACE, **TINY_APP})
    warnings = [w.value for w in at.warning if "could not be written" in w.value]
    assert len(warnings) == 1 and str(path) in warnings[0]
    at.button(key="pg_play").click().run()
    deadline = time.time() + 60
    while not at.session_state[session.LIVE_KEY][-1].run.done and time.time() < deadline:
        time.sleep(0.3)
        at.run()
    live = at.session_state[session.LIVE_KEY][-1]
    assert live.run.status == "finished" and not at.exception
    assert len(session.result_of(live)["acc_matrix"]) == 5
    assert session.run_store().get(live.store_id, WORKSPACE).status == "finished"  # kept in memory
    assert not path.exists()


# ------------------------------------------------------------------------------------------------
# a damaged store
# ------------------------------------------------------------------------------------------------
def _damaged_files(tmp_path: Path) -> dict[str, Path]:
    noise = tmp_path / "noise.sqlite"
    noise.write_bytes(os.urandom(16384))
    good = tmp_path / "good.sqlite"
    with contextlib.closing(RunStore(good)) as store:
        for i in range(40):
            store.save(store.create("0123abcd", {"seed": i}), {"curve": list(range(300))}, "finished")
    with contextlib.closing(sqlite3.connect(good)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, then cut it in half
    truncated = tmp_path / "truncated.sqlite"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {"random bytes": noise, "truncated": truncated}


def test_a_damaged_store_is_reported_and_never_loaded_or_touched(tmp_path, monkeypatch, fresh_app_caches):
    for kind, path in _damaged_files(tmp_path).items():
        before = path.read_bytes()
        with pytest.raises(StoreUnavailable) as raised:
            RunStore(path)
        assert raised.value.damaged and str(path) in str(raised.value) and "move the file away" in str(raised.value)
        code, out, err = cli("runs", "--store", str(path))
        assert code == 1 and not out and err.count("\n") == 1 and "is damaged" in err, kind
        monkeypatch.setenv("CLCORE_STORE", str(path))
        at = open_app({"ws": WORKSPACE})
        assert any("is damaged" in w.value and str(path) in w.value for w in at.warning), kind
        assert path.read_bytes() == before, f"{kind}: the damaged file was changed"


def test_a_damaged_row_is_reported_and_skipped(tmp_path):
    path = tmp_path / "runs.sqlite"
    finished, live_id = seeded_store(path)
    bad_result, bad_config = sorted(finished)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE runs SET result = '{\"avg_acc\": 5' WHERE id = ?", (bad_result,))
        db.execute("UPDATE runs SET config = 'not json' WHERE id = ?", (bad_config,))
    with contextlib.closing(RunStore(path)) as store:
        assert [r.id for r in store.list_summaries()] == [live_id]
        assert [r.id for r in store.list("0123abcd")] == [live_id]
        assert store.get(bad_result) is None
        assert set(store.damaged_rows) == {bad_result, bad_config}
    code, out, err = cli("runs", "--store", str(path))
    assert code == 0 and err.count("is damaged") == 2 and f"run {bad_result} in {path}" in err
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(live_id)]


def test_listing_a_store_that_does_not_exist_says_so(tmp_path):
    code, out, err = cli("runs", "--store", str(tmp_path / "none.sqlite"))
    assert (
        code == 1
        and not out
        and err
        == f"clcore: no run store at {tmp_path / 'none.sqlite'} "
        + ("(python -m clcore run --store records runs there)\n")
    )
    assert not (tmp_path / "none.sqlite").exists()


# ------------------------------------------------------------------------------------------------
# stores written before runs recorded their process
# ------------------------------------------------------------------------------------------------
def test_an_older_store_gains_the_owner_columns_and_its_orphans_are_interrupted(tmp_path):
    path = tmp_path / "old.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, workspace TEXT NOT NULL, label TEXT NOT NULL "
            "DEFAULT '', created REAL NOT NULL, updated REAL NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL, "
            "result TEXT)"
        )
        db.execute("INSERT INTO runs VALUES (1, 'ws', 'done', 1, 1, 'finished', '{}', '{\"avg_acc\": 40}')")
        db.execute("INSERT INTO runs VALUES (2, 'ws', 'orphan', 2, 2, 'running', '{}', '{\"avg_acc\": 10}')")
    with contextlib.closing(RunStore(path)) as store:
        assert [(r.id, r.status, r.result) for r in store.list("ws")] == [
            (1, "finished", {"avg_acc": 40}),
            (2, "interrupted", {"avg_acc": 10}),
        ]
        assert store.get(store.create("ws", {})).status == "running"


def test_compare_says_too_that_runs_are_kept_in_memory_only(tmp_path, monkeypatch, fresh_app_caches):
    path = readonly_store_path(tmp_path)
    monkeypatch.setenv("CLCORE_STORE", str(path))
    at = open_app({"ws": WORKSPACE}, page="pages/compare.py")
    warnings = [w.value for w in at.warning if "could not be written" in w.value]
    assert len(warnings) == 1 and str(path) in warnings[0] and not at.exception
