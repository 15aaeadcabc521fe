"""AppTest tests of the Compare page: listing, overlay, heatmaps, metrics highlighting, change one knob,
delete, downloads, the grid runner, the training cap, and workspace isolation across many sessions."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import socket
import time

import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from clcore import Run, RunQueue, RunState, make_config
from clcore.runs.store import RunStore
from tests.app_support import open_app

PAGE, ABOUT = "pages/compare.py", "pages/about.py"
HIGHLIGHT_COLOUR = "#FFE08A"
TIMEOUT = 60


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------
def _tiny(**kw):
    return make_config(train_subset=60, eval_subset=60, eval_every=2, batch_size=10, **kw)


@pytest.fixture(scope="module")
def two_results():
    """Two real finished runs that differ in strategy and buffer size (a few seconds, once per module)."""
    out = []
    for kw in (dict(strategy="finetune"), dict(strategy="er", buffer_size=30)):
        config = _tiny(**kw)
        out.append((config.to_dict(), Run(config).run_to_end()))
    return out


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh store file for this test; the app's cached store and training slots are rebuilt."""
    monkeypatch.setenv("CLCORE_STORE", str(tmp_path / "runs.sqlite"))
    st.cache_resource.clear()
    s = RunStore(tmp_path / "runs.sqlite")
    yield s
    st.cache_resource.clear()
    s.close()


def _put(store, ws, given, result, label, status="finished"):
    run_id = store.create(ws, given, label)
    store.save(run_id, result, status)
    return run_id


def _open(ws: str) -> AppTest:
    return open_app({"ws": ws}, page=PAGE, timeout=TIMEOUT)


def _runs_table(at):
    return next(df.value for df in at.dataframe if "label" in df.value.columns)


def _metrics(at):
    return next(df for df in at.dataframe if "avg acc %" in df.value.columns and "label" not in df.value.columns)


def _figures(at):
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _widget(items, label_start):
    return next(w for w in items if w.label.startswith(label_start))


def _seen_average(result):
    """Independent re-computation of the curve the overlay must draw for a stored result."""
    steps = result["curves"]["steps"]
    rows = result["curves"]["acc"][result["reported_model"]]
    bounds = result["task_boundaries"]
    ys = []
    for step, acc in zip(steps, rows):
        seen = 1 + sum(b < step for b in bounds)
        ys.append(sum(acc[:seen]) / seen)
    return steps, ys


# --------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------
def test_lists_runs_overlays_curves_heatmaps_and_highlights_the_differing_knob(store, two_results):
    (g1, r1), (g2, r2) = two_results
    a = _put(store, "a0a0a0a0", g1, r1, "plain finetune")
    b = _put(store, "a0a0a0a0", g2, r2, "er with 30")
    _put(store, "0f0f0f0f", g1, r1, "someone else's run")
    at = _open("a0a0a0a0")

    table = _runs_table(at)
    assert list(table["#"]) == [a, b]
    assert list(table["label"]) == ["plain finetune", "er with 30"]
    assert list(table["status"]) == ["finished", "finished"]
    assert list(table["strategy"]) == ["finetune", "er"]
    assert table["avg acc %"].tolist() == pytest.approx([r1["avg_acc"], r2["avg_acc"]])

    at.multiselect(key="cmp_sel").set_value([a, b]).run()
    assert not at.exception
    figs = _figures(at)
    overlay = next(f for f in figs if "Average accuracy" in f["layout"]["title"]["text"])
    lines = [t for t in overlay["data"] if t.get("mode") == "lines"]
    assert [t["name"] for t in lines] == [f"#{a} plain finetune", f"#{b} er with 30"]
    for trace, result in zip(lines, (r1, r2)):
        xs, ys = _seen_average(result)
        assert trace["x"] == xs
        assert trace["y"] == pytest.approx(ys)
    assert lines[0]["line"]["color"] != lines[1]["line"]["color"]

    heatmaps = [f for f in figs if f["data"] and f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 2
    for fig, result in zip(heatmaps, (r1, r2)):
        z = fig["data"][0]["z"]
        expected = result["acc_matrix"]
        assert len(z) == len(expected) and all(len(zr) == len(er) for zr, er in zip(z, expected))
        assert [v for row in z for v in row] == pytest.approx([v for row in expected for v in row])
        assert fig["data"][0]["zmin"] == 0 and fig["data"][0]["zmax"] == 100

    metrics = _metrics(at)
    frame = metrics.value
    assert {"strategy", "buffer_size"} <= set(frame.columns)
    assert "lr" not in frame.columns  # same in both: not a differing knob
    assert frame["avg acc %"].tolist() == pytest.approx([r1["avg_acc"], r2["avg_acc"]])
    styles = metrics.proto.arrow_data.styler.styles
    highlighted = set()
    for rule in styles.split("\n"):
        if HIGHLIGHT_COLOUR.lower() in rule.lower():
            highlighted |= {int(c) for c in re.findall(r"_col(\d+)", rule)}
    assert {frame.columns[i] for i in highlighted} == {"strategy", "buffer_size"}
    assert any("differ" in c.value and "Strategy" in c.value and "Buffer size" in c.value for c in at.caption)


def test_one_task_curves_and_task_il_heatmaps(store, two_results):
    (g1, r1), (g2, r2) = two_results
    a = _put(store, "a0a0a0a0", g1, r1, "one")
    b = _put(store, "a0a0a0a0", g2, r2, "two")
    at = _open("a0a0a0a0")
    at.multiselect(key="cmp_sel").set_value([a, b]).run()
    at.radio(key="cmp_curve_mode").set_value("task").run()
    at.selectbox(key="cmp_curve_task").set_value(1).run()
    assert not at.exception
    overlay = next(f for f in _figures(at) if "Accuracy on task 2" in f["layout"]["title"]["text"])
    lines = [t for t in overlay["data"] if t.get("mode") == "lines"]
    assert len(lines) == 2
    for trace, result in zip(lines, (r1, r2)):
        rows = result["curves"]["acc"][result["reported_model"]]
        assert trace["y"] == pytest.approx([row[1] for row in rows])

    at.radio(key="cmp_heat_scenario").set_value("task-il").run()
    heatmaps = [f for f in _figures(at) if f["data"] and f["data"][0]["type"] == "heatmap"]
    for fig, result in zip(heatmaps, (r1, r2)):
        z = [v for row in fig["data"][0]["z"] for v in row]
        assert z == pytest.approx([v for row in result["acc_matrix_task_il"] for v in row])


def test_change_one_knob_validates_and_starts_a_run(store, two_results):
    (g1, r1), _ = two_results
    a = _put(store, "b0b0b0b0", g1, r1, "base")
    at = _open("b0b0b0b0")
    at.selectbox(key="cmp_one").set_value(a)
    at.selectbox(key="cmp_knob").set_value("lr").run()
    box = at.text_input(key="cmp_knob_value_lr")
    box.input("-1").run()
    assert [e.value for e in at.error] == [
        "Learning rate: -1 is out of range; it must be greater than 0.0 and at most 100.0"
    ]
    assert at.button(key="cmp_knob_go").disabled
    at.text_input(key="cmp_knob_value_lr").input("fast").run()
    assert any("'fast' is not a valid float" in e.value for e in at.error)
    at.text_input(key="cmp_knob_value_lr").input("0.030").run()
    assert [e.value for e in at.error] == ["Learning rate is already 0.03: choose another value"]

    # a strategy parameter of the run's strategy, out of its declared range
    at.selectbox(key="cmp_knob").set_value("batch_size").run()
    at.text_input(key="cmp_knob_value_batch_size").input("0").run()
    assert any(e.value.startswith("Batch size: 0 is out of range") for e in at.error)

    # a valid change starts a new run in this workspace, trained in the background
    at.selectbox(key="cmp_knob").set_value("lr").run()
    at.text_input(key="cmp_knob_value_lr").input("0.1").run()
    assert not at.error and not at.button(key="cmp_knob_go").disabled
    at.button(key="cmp_knob_go").click().run()
    assert not at.exception, at.exception
    rows = store.list("b0b0b0b0")
    assert len(rows) == 2
    new = rows[-1]
    assert new.config["lr"] == 0.1
    for key in ("strategy", "benchmark", "train_subset", "batch_size", "seed", "buffer_size", "epochs"):
        assert new.config[key] == g1[key], key  # only the knob changed
    assert any(f"Started run #{new.id}" in s.value for s in at.success)
    deadline = time.time() + 60
    while store.get(new.id).status == "running" and time.time() < deadline:
        time.sleep(0.2)
    assert store.get(new.id).status == "finished"
    at.run()
    table = _runs_table(at)
    assert list(table["#"]) == [a, new.id]
    assert table["lr"].tolist() == ["0.03", "0.1"]


def test_change_strategy_to_a_replay_one_gives_it_a_buffer(store, two_results):
    (g1, r1), _ = two_results
    _put(store, "c0c0c0c0", g1, r1, "base")
    at = _open("c0c0c0c0")
    at.selectbox(key="cmp_knob").set_value("strategy").run()
    at.selectbox(key="cmp_knob_value_strategy").set_value("er").run()
    assert not at.error
    assert any("buffer size set to 200" in c.value for c in at.caption)
    assert "finetune" not in at.selectbox(key="cmp_knob_value_strategy").options  # the current value


def test_delete_a_run(store, two_results):
    (g1, r1), (g2, r2) = two_results
    a = _put(store, "d0d0d0d0", g1, r1, "keep me")
    b = _put(store, "d0d0d0d0", g2, r2, "delete me")
    other = _put(store, "e0e0e0e0", g2, r2, "another workspace")
    at = _open("d0d0d0d0")
    at.selectbox(key="cmp_one").set_value(b).run()
    at.button(key="cmp_delete").click().run()
    assert not at.exception
    assert list(_runs_table(at)["#"]) == [a]
    assert any(f"Deleted run #{b}" in s.value for s in at.success)
    assert store.get(b) is None and store.get(other) is not None
    assert b not in at.multiselect(key="cmp_sel").value


def test_rename_a_run(store, two_results):
    (g1, r1), _ = two_results
    a = _put(store, "d2d2d2d2", g1, r1, "old name")
    other = _put(store, "e2e2e2e2", g1, r1, "not mine")
    at = _open("d2d2d2d2")
    at.selectbox(key="cmp_one").set_value(a).run()
    at.text_input(key=f"cmp_label_{a}").input("no replay, lr 0.03").run()
    at.button(key="cmp_rename").click().run()
    assert not at.exception
    assert list(_runs_table(at)["label"]) == ["no replay, lr 0.03"]
    assert store.get(a).label == "no replay, lr 0.03" and store.get(other).label == "not mine"
    assert not store.rename(other, "hijacked", workspace="d2d2d2d2")


def test_downloads_csv_and_json(store, two_results, monkeypatch):
    (g1, r1), _ = two_results
    a = _put(store, "d1d1d1d1", g1, r1, "download me")
    saved = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        saved[filename] = data
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at = _open("d1d1d1d1")
    at.selectbox(key="cmp_one").set_value(a).run()
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Accuracy matrix (CSV)", "Whole run (JSON)"]
    rows = list(csv.reader(io.StringIO(saved[f"run-{a}-accuracy-matrix.csv"].decode())))
    assert rows[0][1:] == r1["tasks"]
    assert [float(v) for row in rows[1:] for v in row[1:]] == pytest.approx(
        [v for r in r1["acc_matrix"] for v in r], abs=1e-3
    )
    assert json.loads(saved[f"run-{a}.json"]) == json.loads(json.dumps(store.get(a).result))


def test_grid_runner_fills_the_table(store, two_results):
    (g1, r1), _ = two_results
    base = _put(store, "9a9a9a9a", g1, r1, "base")
    at = _open("9a9a9a9a")
    at.text_input(key="cmp_grid_seeds").input("x").run()
    assert any("seeds: 'x' is not a whole number" in e.value for e in at.error)
    assert at.button(key="cmp_grid_go").disabled
    at.selectbox(key="cmp_grid_base").set_value(base)
    at.multiselect(key="cmp_grid_strats").set_value(["finetune", "er"])
    at.multiselect(key="cmp_grid_buffers").set_value([20, 50])
    at.text_input(key="cmp_grid_seeds").input("0-1").run()
    assert any("6 run(s)" in c.value for c in at.caption)  # finetune x 2 seeds + er x 2 buffers x 2 seeds
    at.button(key="cmp_grid_go").click().run()
    assert not at.exception
    assert at.get("progress"), "a progress bar while the grid runs"
    job = at.session_state["cmp_grid"]
    assert job.join(180), "grid did not finish"
    at.run()
    assert at.multiselect(key="cmp_sel").value == [base]  # new rows do not reset the selection
    rows = store.list("9a9a9a9a")
    assert len(rows) == 7 and all(r.status == "finished" for r in rows)
    assert sorted((r.config["strategy"], r.config["buffer_size"], r.config["seed"]) for r in rows[1:]) == sorted(
        [("finetune", 0, 0), ("finetune", 0, 1)] + [("er", b, s) for b in (20, 50) for s in (0, 1)]
    )
    assert all(r.config["train_subset"] == 60 for r in rows[1:])  # the base run's settings
    table = _runs_table(at)
    assert len(table) == 7 and set(table["status"]) == {"finished"}
    assert "Grid done: 6 of 6 runs finished" in at.get("progress")[0].proto.text
    at.button(key="cmp_grid_select").click().run()
    assert at.multiselect(key="cmp_sel").value == [r.id for r in rows[1:]]


@contextlib.contextmanager
def all_training_slots_taken():
    """Hold every slot of the app's process-wide run queue, as other sessions' trainings would."""
    from pages.shared import session

    queue = session.training_queue()
    others = [object() for _ in range(queue.slots)]
    for other in others:
        assert queue.acquire(other)
    try:
        yield
    finally:
        for other in others:
            queue.release(other)


def start_queued_grid(at):
    """Press the grid's Go with every slot taken; returns the grid job once its first cell is queued."""
    at.button(key="cmp_grid_go").click().run()
    job = at.session_state["cmp_grid"]
    deadline = time.time() + 30
    while job.cells[0].state != RunState.QUEUED and time.time() < deadline:
        time.sleep(0.05)
    at.run()
    return job


def test_grid_waits_busy_queued_when_the_training_slots_are_taken(store, two_results):
    (g1, r1), _ = two_results
    base = _put(store, "9b9b9b9b", g1, r1, "base")
    at = _open("9b9b9b9b")
    with all_training_slots_taken():
        at.selectbox(key="cmp_grid_base").set_value(base)
        at.multiselect(key="cmp_grid_strats").set_value(["finetune"]).run()
        job = start_queued_grid(at)
        assert "busy, queued" in at.get("progress")[0].proto.text
        assert "busy, queued" in list(_runs_table(at)["status"])
        assert any("server is busy" in w.value for w in at.warning)
    assert job.join(60)
    at.run()
    assert set(_runs_table(at)["status"]) == {"finished"}


def test_cancel_a_queued_grid_keeps_no_empty_runs(store, two_results):
    (g1, r1), _ = two_results
    base = _put(store, "9c9c9c9c", g1, r1, "base")
    at = _open("9c9c9c9c")
    with all_training_slots_taken():
        at.selectbox(key="cmp_grid_base").set_value(base)
        at.multiselect(key="cmp_grid_strats").set_value(["finetune"])
        at.text_input(key="cmp_grid_seeds").input("0,1").run()
        job = start_queued_grid(at)
        at.button(key="cmp_grid_cancel").click().run()
        assert job.join(30)
    at.run()
    assert [c.state for c in job.cells] == [RunState.CANCELLED, RunState.CANCELLED]
    assert [r.id for r in store.list("9c9c9c9c")] == [base]
    assert "Grid done: 0 of 2 runs finished, 2 cancelled" in at.get("progress")[0].proto.text


def _grid(store, ws, cells, session_id=None):
    """A grid of `cells` (label, config) started outside the page, on a run queue of its own."""
    from pages.shared import session
    from pages.shared.compare.grid import GridJob

    launcher = session.Launcher(store, ws, session_id, RunQueue(1), session._Watcher())
    return GridJob(launcher, cells), launcher


def test_grid_records_failures_with_their_message_and_goes_on(store, monkeypatch):
    from pages.shared import session

    built = session.Run

    def build(config):
        if config.seed == 1:
            raise RuntimeError("no data here")
        run = built(config)
        if config.seed == 2:

            def observe(batch):
                raise RuntimeError("boom")

            run.strategy.observe = observe
        return run

    monkeypatch.setattr(session, "Run", build)
    job, _ = _grid(store, "f1f1f1f1", [(f"cell {seed}", _tiny(seed=seed)) for seed in range(4)])
    assert job.join(120)
    finished, failed = RunState.FINISHED, RunState.FAILED
    assert [c.state for c in job.cells] == [finished, failed, failed, finished]
    assert "no data here" in job.cells[1].message and "boom" in job.cells[2].message
    rows = {r.label: r for r in store.list("f1f1f1f1")}
    assert [rows[f"cell {seed}"].status for seed in range(4)] == ["finished", "failed", "failed", "finished"]
    assert [rows[f"cell {seed}"].result["message"] for seed in (1, 2)] == [c.message for c in job.cells[1:3]]


def test_a_closed_tab_interrupts_its_grid(store):
    from pages.shared import session

    long = make_config(train_subset=3000, epochs=5, eval_every=0)
    job, launcher = _grid(store, "f2f2f2f2", [("long", long), ("next", _tiny())], session_id="closed-tab")
    deadline = time.time() + 30
    while not (job.current and job.current.live.run.step > 0) and time.time() < deadline:
        time.sleep(0.05)
    launcher.watcher.check(now=1000.0)  # first seen gone: a grace period for network blips
    assert job.cells[0].state == RunState.RUNNING
    launcher.watcher.check(now=1000.0 + session.CLOSED_TAB_GRACE_S + 1)
    assert job.join(10)
    assert [c.state for c in job.cells] == [RunState.INTERRUPTED, RunState.CANCELLED]
    rows = store.list("f2f2f2f2")
    assert [(r.label, r.status) for r in rows] == [("long", "interrupted")]
    assert "closed" in rows[0].result["message"]


# --------------------------------------------------------------------------------------------------
# the grid on the sweep executor (Ray)
# --------------------------------------------------------------------------------------------------
RAY_TINY = dict(train_subset=20, n_tasks=2, eval_every=0, batch_size=10, device="cpu")


@pytest.fixture(scope="module")
def ray_started_by_the_page():
    """The Ray the page starts at its first executor grid (one per process, as on a server), shut down after
    the module unless it was running before."""
    import ray

    from clcore.sweep.executor import disconnect

    running_before = ray.is_initialized()
    yield
    if not running_before and ray.is_initialized():
        disconnect()


def _executor_grid(at, strategies, seeds, **where):
    """Choose the executor with `where` (workers, address) and press Go."""
    at.multiselect(key="cmp_grid_strats").set_value(strategies)
    at.text_input(key="cmp_grid_seeds").input(seeds)
    at.radio(key="cmp_grid_where").set_value("executor").run()
    if "workers" in where:
        at.number_input(key="cmp_grid_workers").set_value(where["workers"])
    if "address" in where:
        at.text_input(key="cmp_grid_address").input(where["address"])
    at.button(key="cmp_grid_go").click().run()
    assert not at.exception, at.exception


def test_an_unreachable_or_malformed_ray_address_is_one_error_beside_it(store):
    from tests.test_sweep import free_port

    at = _open("9d9d9d9d")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.time()
    _executor_grid(at, ["finetune"], "0", address=address)
    assert time.time() - started < 15
    assert [e.value for e in at.error] == [
        f"No Ray cluster reachable at {address} (Connection refused): start one there with `ray start --head`, "
        "or leave the address empty to run on this server."
    ]
    assert "cmp_grid" not in at.session_state
    assert not at.get("progress") and store.list("9d9d9d9d") == []
    at.text_input(key="cmp_grid_address").input("no-port-here").run()
    assert [e.value for e in at.error] == [
        "Ray cluster address 'no-port-here': give host:port (e.g. 127.0.0.1:6379), ray://host:port or auto"
    ]
    assert at.button(key="cmp_grid_go").disabled


def test_ray_that_cannot_be_imported_is_one_error(store, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    at = _open("9e9e9e9e")
    _executor_grid(at, ["finetune"], "0")
    assert len(at.error) == 1 and at.error[0].value.startswith("Ray cannot be imported on this server (")
    assert not at.get("progress")


def test_a_grid_on_the_sweep_executor_fills_the_table_and_is_not_run_twice(store, ray_started_by_the_page):
    ws = "9f9f9f9f"
    base = _put(store, ws, make_config(**RAY_TINY).to_dict(), None, "base")
    at = _open(ws)
    at.selectbox(key="cmp_grid_base").set_value(base)
    _executor_grid(at, ["finetune"], "0,1", workers=2)
    assert not at.error, [e.value for e in at.error]
    job = at.session_state["cmp_grid"]
    assert "Grid on Ray: 0 of 2 runs finished" in at.get("progress")[0].proto.text
    # a hang guard, not a speed check: each fresh Ray worker imports torch._dynamo (sympy) at its first optimizer,
    # which took over 60 s on this machine while two benchmark processes held both cores
    deadline = time.time() + 240
    while not job.finished and time.time() < deadline:  # AppTest does not tick run_every fragments: rerun
        time.sleep(0.5)
        at.run()
    assert job.finished, [c.state for c in job.cells]
    at.run()
    # Ray outlives the page run that started it (a local Ray's processes die with the thread that started them)
    import ray

    from clcore.sweep.executor import host_port

    socket.create_connection(host_port(ray.get_runtime_context().gcs_address), timeout=5).close()
    assert [(c.state, c.message) for c in job.cells] == [(RunState.FINISHED, "")] * 2
    rows = store.list(ws)[1:]
    assert sorted(r.config_hash for r in rows) == sorted(c.cell.key for c in job.cells)
    assert sorted(r.label for r in rows) == ["grid 1: finetune seed 0", "grid 1: finetune seed 1"]
    assert all(r.status == "finished" and r.result["acc_matrix"] for r in rows)
    assert [(r.config["train_subset"], r.config["n_tasks"], r.config["seed"]) for r in rows] == [
        (20, 2, c.cell.config.seed) for c in sorted(job.cells, key=lambda c: c.store_id)
    ]
    table = _runs_table(at)
    assert set(table["label"]) == {"base", *(r.label for r in rows)} and len(table) == 3
    assert "Grid done: 2 of 2 runs finished" in at.get("progress")[0].proto.text

    # the same grid again: both cells are in the store already, done at once, not run nor stored again
    at.button(key="cmp_grid_go").click().run()
    again = at.session_state["cmp_grid"]
    assert again is not job and again.finished and again.to_run == 0
    assert sorted(c.store_id for c in again.cells) == sorted(r.id for r in rows)
    assert "Grid done: 2 of 2 runs finished, 2 finished before (not run again)" in at.get("progress")[0].proto.text
    assert len(store.list(ws)) == 3

    # a long grid cancelled: its cells in flight stop, and nothing is stored
    long = _put(store, ws, make_config(**{**RAY_TINY, "train_subset": 3000, "epochs": 20}).to_dict(), None, "long")
    at.run()
    at.selectbox(key="cmp_grid_base").set_value(long)
    at.button(key="cmp_grid_go").click().run()
    cancelled = at.session_state["cmp_grid"]
    assert not cancelled.finished and "Grid on Ray: 0 of 2 runs finished" in at.get("progress")[0].proto.text
    at.button(key="cmp_grid_cancel").click().run()
    assert cancelled.join(10)
    at.run()
    assert [c.state for c in cancelled.cells] == [RunState.CANCELLED] * 2
    assert "Grid done: 0 of 2 runs finished, 2 cancelled" in at.get("progress")[0].proto.text
    assert len(store.list(ws)) == 4  # the long base only


def test_cells_a_sweep_finished_show_as_done_at_once_in_the_workspace(store):
    from clcore.sweep.executor import SWEEP_WORKSPACE
    from clcore.sweep.grid import cells_of
    from pages.shared.compare.grid import sweep_grid

    ws = "9a0a0a0a"
    base = _put(store, ws, make_config(**RAY_TINY).to_dict(), None, "base")
    (cell,) = cells_of(sweep_grid(store.get(base).config, ["finetune"], [], [3]))  # as the page builds it
    result = {"status": "finished", "avg_acc": 12.5, "acc_matrix": [[12.5]], "config": cell.config.to_dict()}
    swept = _put(store, SWEEP_WORKSPACE, cell.config.to_dict(), result, cell.label)
    store._write("UPDATE runs SET config_hash = ? WHERE id = ?", (cell.key, swept))  # as `clcore sweep` keys it
    at = _open(ws)
    at.selectbox(key="cmp_grid_base").set_value(base)
    _executor_grid(at, ["finetune"], "3")
    job = at.session_state["cmp_grid"]
    assert job.finished and job.to_run == 0  # nothing to run: no cluster needed
    copied = store.get(job.cells[0].store_id, ws)
    assert (copied.label, copied.status, copied.config_hash) == ("grid 1: finetune seed 3", "finished", cell.key)
    assert copied.result == result and [r.id for r in store.list(SWEEP_WORKSPACE)] == [swept]
    assert "grid 1: finetune seed 3" in set(_runs_table(at)["label"])


def test_a_closed_tab_interrupts_its_executor_grid(store, monkeypatch, ray_started_by_the_page):
    from pages.shared import session

    ws = "9b0b0b0b"
    base = _put(store, ws, make_config(**{**RAY_TINY, "train_subset": 3000, "epochs": 20}).to_dict(), None, "base")
    at = _open(ws)
    at.selectbox(key="cmp_grid_base").set_value(base)
    monkeypatch.setattr(session, "CLOSED_TAB_GRACE_S", 0.0)  # its tab counts as closed at once
    _executor_grid(at, ["finetune"], "0,1", workers=2)
    job = at.session_state["cmp_grid"]
    assert job.join(10)
    assert [c.state for c in job.cells] == [RunState.INTERRUPTED] * 2
    assert [r.id for r in store.list(ws)] == [base]


N_SESSIONS = 30


def test_thirty_sessions_see_only_their_own_runs(store, two_results):
    """A classroom: 30 sessions with their own workspaces on one server (one store, one process)."""
    (g1, r1), (g2, r2) = two_results
    mine = {}
    for i in range(N_SESSIONS):
        ws = f"5c0015{i:02d}"  # workspaces are hex ids
        mine[ws] = [_put(store, ws, g1, r1, f"{ws} first"), _put(store, ws, g2, r2, f"{ws} second")]
    # One AppTest per session, one after another: AppTest swaps process-wide mocks (runtime, config), so
    # it cannot run sessions in parallel threads; the server itself runs each session in its own thread.
    sessions = {ws: _open(ws) for ws in mine}
    wss = list(mine)
    for ws, at in sessions.items():
        table = _runs_table(at)
        assert list(table["#"]) == mine[ws], ws
        assert all(label.startswith(ws) for label in table["label"])
        assert sorted(at.multiselect(key="cmp_sel").options) == sorted(
            f"#{i} {ws} {n} (finished)" for i, n in zip(mine[ws], ("first", "second"))
        )
    # one session deletes its runs: every other session still has both of its own
    victim = sessions["5c001500"]
    victim.selectbox(key="cmp_one").set_value(mine["5c001500"][0]).run()
    victim.button(key="cmp_delete").click().run()
    assert list(_runs_table(victim)["#"]) == mine["5c001500"][1:]
    for ws in wss[1:]:
        assert [r.id for r in store.list(ws)] == mine[ws]


def test_no_runs_yet(store):
    at = _open("eeeeeeee")
    assert any("No runs yet" in i.value for i in at.info)
    assert at.button(key="cmp_grid_go")


def test_compare_through_the_app_navigation(store, two_results):
    (g1, r1), _ = two_results
    a = _put(store, "a1a1a1a1", g1, r1, "via app.py")
    at = open_app({"ws": "a1a1a1a1"}, timeout=TIMEOUT)  # the Playground
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert list(_runs_table(at)["#"]) == [a]
    assert at.query_params["ws"] == ["a1a1a1a1"] or at.query_params["ws"] == "a1a1a1a1"


# --------------------------------------------------------------------------------------------------
# About page
# --------------------------------------------------------------------------------------------------
def test_about_page_explains_metrics_charts_data_and_preset_times():
    from pages.shared.presets import LECTURE_PRESETS, lecture_title, lecture_wall_s

    at = open_app(page=ABOUT, timeout=TIMEOUT)
    text = "\n".join(m.value for m in at.markdown)
    for words in (
        "catastrophic forgetting",
        "Accuracy heatmap",
        "Forgetting curves",
        "Loss curve",
        "Buffer composition",
        "EWC / SI importance maps",
        "CLS-ER teacher shares",
        "Backward transfer",
        "Forward transfer",
        "Average accuracy",
        "CC BY-SA 3.0",
        "Yann LeCun, Corinna Cortes and",
        "Christopher J. C. Burges",
    ):
        assert words.lower() in text.lower(), words
    assert len(at.latex) == 4  # ACC, forgetting, BWT, FWT
    presets = next(df.value for df in at.dataframe if "measured wall time (s)" in df.value.columns)
    assert list(presets["preset"]) == [lecture_title(name) for name in LECTURE_PRESETS]
    measured = [lecture_wall_s(name) for name in LECTURE_PRESETS]  # bench.demo's time of the recommended run
    assert list(presets["measured wall time (s)"]) == [("not measured" if m is None else f"{m:.1f}") for m in measured]


# --------------------------------------------------------------------------------------------------
# Languages: ?lang=zh turns the Compare and About pages into Chinese; a bad ?lang is reported
# --------------------------------------------------------------------------------------------------
CJK = re.compile(r"[\u4e00-\u9fff]")


def _zh(key: str, **values) -> str:
    from pages.shared import i18n

    return i18n.catalog("zh")[key].format(**values)


def _visible_texts(at) -> list[str]:
    """The page's prose and widget labels (not the data in tables and charts)."""
    texts = [
        el.value
        for kind in ("title", "subheader", "caption", "markdown", "info", "warning", "error", "success")
        for el in getattr(at, kind)
    ]
    widgets = [*at.button, *at.selectbox, *at.multiselect, *at.radio, *at.text_input]
    return texts + [w.label for w in widgets] + [w.proto.label for w in at.get("download_button")]


def test_compare_in_chinese_translates_titles_tables_charts_and_errors(store, two_results):
    from pages.shared import i18n

    (g1, r1), (g2, r2) = two_results
    a = _put(store, "a5a5a5a5", g1, r1, "one")
    b = _put(store, "a5a5a5a5", g2, r2, "two")
    i18n.MISSING.clear()
    at = open_app({"ws": "a5a5a5a5", "lang": "zh"}, page=PAGE, timeout=TIMEOUT)
    at.multiselect(key="cmp_sel").set_value([a, b]).run()
    assert not at.exception, at.exception
    assert at.title[0].value == _zh("compare.title")
    assert at.button(key="cmp_grid_go").label == _zh("compare.grid.go")
    assert at.button(key="cmp_knob_go").label == _zh("compare.knob.go")
    table = next(df.value for df in at.dataframe if _zh("compare.column.label") in df.value.columns)
    assert list(table[_zh("compare.column.status")]) == [_zh("state.finished")] * 2
    figs = _figures(at)
    titles = [f["layout"]["title"]["text"] for f in figs]
    assert _zh("compare.overlay.average_title") in titles
    heatmap = next(f for f in figs if f["data"] and f["data"][0]["type"] == "heatmap")
    assert heatmap["layout"]["xaxis"]["title"]["text"] == i18n.catalog("zh")["charts.evaluated_on_task"]
    at.radio(key="cmp_curve_mode").set_value("task").run()  # the engine's task names, in Chinese
    assert at.selectbox(key="cmp_curve_task").format_func(1) == "2: 类别 2, 3"
    titles = [f["layout"]["title"]["text"] for f in _figures(at)]
    assert any(_zh("compare.side.task_label", n=1, name="类别 0, 1") in title for title in titles), titles
    assert all(CJK.search(text) for text in _visible_texts(at)), [
        text for text in _visible_texts(at) if not CJK.search(text)
    ]
    # an engine ConfigError beside "change one knob", in Chinese with the value filled in
    at.selectbox(key="cmp_knob").set_value("lr").run()
    at.text_input(key="cmp_knob_value_lr").input("-1").run()
    assert len(at.error) == 1 and CJK.search(at.error[0].value) and "-1" in at.error[0].value
    at.text_input(key="cmp_knob_value_lr").input("0.03").run()
    assert [e.value for e in at.error] == [
        _zh("compare.knob.unchanged", knob=i18n.catalog("zh")["controls.label.lr"], current="0.03")
    ]
    assert not i18n.MISSING, i18n.MISSING


def test_compare_grid_labels_and_numbers_in_both_languages(store, two_results):
    from pages.shared.compare.grid import next_grid_number
    from pages.shared.compare.runs import Entry

    entries = [
        Entry(1, "grid 3: er buf 20 seed 0", RunState.FINISHED, 0.0, {}, None),
        Entry(2, _zh("compare.grid.tag", n=7) + "er 缓冲区 20 种子 0", RunState.FINISHED, 0.0, {}, None),
        Entry(3, "my grid 9: not a grid tag", RunState.FINISHED, 0.0, {}, None),
    ]
    assert next_grid_number(entries) == 8
    assert next_grid_number([]) == 1


@pytest.mark.parametrize("page", [PAGE, ABOUT])
def test_a_bad_lang_parameter_is_reported_and_the_page_stays_english(store, page):
    from pages.shared import i18n

    at = open_app({"lang": "klingon"}, page=page, timeout=TIMEOUT)
    assert any("klingon" in w.value for w in at.warning)
    assert at.title[0].value == i18n.catalog("en")["compare.title" if page == PAGE else "about.title"]


def test_about_page_in_chinese():
    from pages.shared import i18n

    i18n.MISSING.clear()
    at = open_app({"lang": "zh"}, page=ABOUT, timeout=TIMEOUT)
    assert at.title[0].value == _zh("about.title")
    text = "\n".join(m.value for m in at.markdown)
    for words in ("灾难性遗忘", "准确率热力图", "遗忘曲线", "后向迁移", "前向迁移", "CC BY-SA 3.0", "Yann LeCun"):
        assert words in text, words
    assert len(at.latex) == 4
    strategies = next(df.value for df in at.dataframe if _zh("about.strategies.column.name") in df.value.columns)
    assert (
        list(strategies[_zh("about.strategies.column.name")])[0]
        == i18n.catalog("zh")[f"strategy_ui.{strategies.iloc[0][_zh('about.strategies.column.strategy')]}.title"]
    )
    assert any(_zh("about.presets.column.wall_s") in df.value.columns for df in at.dataframe)
    assert all(CJK.search(text) for text in _visible_texts(at)), [
        text for text in _visible_texts(at) if not CJK.search(text)
    ]
    assert not i18n.MISSING, i18n.MISSING
