"""AppTest tests of the Playground page (app.py -> pages/playground.py) and its shared modules.

Plotly charts come back from AppTest as UnknownElement: their figure is `json.loads(el.proto.spec)` and
their key is the end of `el.proto.id`. Trainings are tiny (100-300 examples per task) so the whole file
runs in well under two minutes on 2 CPU cores.
"""

from __future__ import annotations

import gc
import json
import math
import re
import time
import weakref

import plotly.graph_objects as go
import pytest

from clcore import RunState
from clcore.runs.store import RunStore
from clcore.settings.recommended import recommended_settings
from pages.shared import charts, controls, session
from tests.app_support import open_app

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def store_path(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("CLCORE_STORE", str(path))
    return path


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def figures(at) -> dict[str, dict]:
    """Plotly figures on the page by their key."""
    return {el.proto.id.split("-", 2)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def flat(node) -> list:
    out = []
    for child in getattr(node, "children", {}).values():
        out.append(child)
        out += flat(child)
    return out


def error_after(at, widget_key: str) -> str | None:
    """The error message drawn right after the widget with `widget_key` in the sidebar, if any."""
    items = flat(at.sidebar)
    for i, el in enumerate(items):
        if getattr(el, "key", None) == widget_key:
            nxt = items[i + 1] if i + 1 < len(items) else None
            return nxt.value if nxt is not None and nxt.type == "error" else None
    raise AssertionError(f"no widget {widget_key} in the sidebar")


def live(at) -> session.LiveRun:
    runs = at.session_state["_live_runs"]
    current = at.session_state["pg_current"]
    return next(r for r in runs if r.store_id == current)


def wait_until(at, predicate, timeout: float = 60.0) -> None:
    """Rerun the page until `predicate(at)` holds, then once more so that the page shows that state
    (the trainer thread may have moved on between the page's last run and the check)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception
        if predicate(at):
            at.run()
            return
    raise AssertionError(f"timed out after {timeout} s")


def finished(at) -> bool:
    return live(at).run.done


def settled(at) -> bool:
    return not live(at).bg.state.active


def step_of(at) -> int:
    text = at.get("markdown")
    for m in text:
        found = re.search(r"step \*\*([\d,]+)\*\* of", m.value)
        if found:
            return int(found.group(1).replace(",", ""))
    raise AssertionError("no status line")


TINY = {"subset": "100", "eval_every": "5", "eval_subset": "100"}


# ------------------------------------------------------------------------------------------------
# controls
# ------------------------------------------------------------------------------------------------
def test_first_visit_renders_defaults_and_writes_the_url():
    at = open_app()
    assert not at.button(key="pg_play").disabled
    assert at.selectbox(key="pg_benchmark").value == "split-mnist"
    assert at.selectbox(key="pg_strategy").value == "finetune"
    qp = at.query_params
    assert qp["benchmark"] == "split-mnist" and qp["strategy"] == "finetune"
    assert float(qp["lr"]) == recommended_settings("finetune", "split-mnist")["lr"]  # the recommended run
    assert re.fullmatch(r"[0-9a-f]{16}", qp["ws"])
    heat = figures(at)["pg_heatmap"]["data"][0]
    assert len(heat["z"]) == 5 and all(v is None for row in heat["z"] for v in row)
    # the device is shown plainly
    assert any("CPU (no GPU found)" in c.value or "CUDA" in c.value or "MPS" in c.value for c in at.caption)


def test_bad_values_are_reported_beside_their_control():
    at = open_app()
    at.number_input(key="pg_lr").set_value(0.0).run()
    message = error_after(at, "pg_lr")  # beside its control, so without the setting's name
    assert message == "0.0 is out of range; it must be greater than 0.0 and at most 100.0"
    assert at.button(key="pg_play").disabled and at.button(key="pg_step_task").disabled

    at.number_input(key="pg_lr").set_value(0.05)
    at.text_input(key="pg_classes").set_value("0,1|1,2").run()
    assert error_after(at, "pg_lr") is None
    message = error_after(at, "pg_classes")
    assert message == "1 appear in more than one task; each class may appear once"
    assert at.button(key="pg_play").disabled

    at.text_input(key="pg_classes").set_value("").run()
    at.number_input(key="pg_n_tasks").set_value(3).run()
    message = error_after(at, "pg_n_tasks")
    assert message and message.startswith("10 classes cannot be split evenly into 3 tasks")

    at.number_input(key="pg_n_tasks").set_value(5)
    at.selectbox(key="pg_strategy").set_value("er").run()
    at.number_input(key="pg_buffer_size").set_value(0).run()
    message = error_after(at, "pg_buffer_size")
    assert message and message.startswith("er replays from a buffer")

    at.number_input(key="pg_buffer_size").set_value(100).run()
    assert not at.error and not at.button(key="pg_play").disabled

    at.selectbox(key="pg_strategy").set_value("generative_negative_replay").run()
    at.selectbox(key="pg_benchmark").set_value("permuted-mnist").run()
    items = [el for el in flat(at.sidebar) if getattr(el, "key", None) or el.type == "error"]
    keys = [getattr(el, "key", None) for el in items]
    between = items[keys.index("pg_benchmark") + 1 : keys.index("pg_n_tasks")]  # under the benchmark's captions
    assert [el.value[:61] for el in between] == ["generative_negative_replay needs tasks that bring new classes"]
    assert at.button(key="pg_play").disabled


def test_strategy_parameters_are_rendered_from_their_declaration():
    at = open_app()
    at.selectbox(key="pg_strategy").set_value("clser").run()
    recommended = recommended_settings("clser", "split-mnist")  # what choosing the strategy loads
    for p in controls.STRATEGIES["clser"].params:
        widget = at.number_input(key=f"pg_p_clser_{p.name}")
        assert widget.value == recommended["params"].get(p.name, p.default) and p.help in widget.help
        assert widget.min == p.low and widget.max == p.high
    assert at.number_input(key="pg_buffer_size").value == recommended["buffer_size"]  # only buffer strategies show it


def test_presets_load_their_settings_into_the_controls():
    from pages.shared.presets import LECTURE_PRESETS, lecture_wall_s, preset_settings

    at = open_app()
    at.selectbox(key="pg_preset").set_value("replay").run()
    replay = preset_settings("replay")
    assert at.selectbox(key="pg_strategy").value == "er"
    assert at.number_input(key="pg_buffer_size").value == replay["buffer_size"]
    assert at.number_input(key="pg_lr").value == replay["lr"]
    assert at.number_input(key="pg_train_subset").value == replay["train_subset"]
    at.selectbox(key="pg_preset").set_value("paper:ewc-split-mnist").run()
    assert at.selectbox(key="pg_strategy").value == "ewc"
    assert at.number_input(key="pg_p_ewc_ewc_lambda").value == 90.0
    assert at.number_input(key="pg_train_subset").value == 0  # paper settings use the full training sets
    assert len(LECTURE_PRESETS) >= 4
    for name in LECTURE_PRESETS:
        measured = lecture_wall_s(name)
        assert measured is None or measured < 60, name  # sized for a lecture (None: not measured yet)
        config, errors = controls.validate(preset_settings(name))
        assert not errors, (name, errors)  # every preset is a valid configuration


# ------------------------------------------------------------------------------------------------
# URL state
# ------------------------------------------------------------------------------------------------
def test_url_parameters_restore_the_controls():
    query = {
        "benchmark": "permuted-mnist",
        "n_tasks": "3",
        "strategy": "ewc",
        "p_ewc_lambda": "42.5",
        "p_fisher_samples": "300",
        "lr": "0.05",
        "batch_size": "32",
        "seed": "7",
        "train_subset": "500",
        "hidden": "64,32",
        "ws": "0123456789abcdef",
    }
    at = open_app(query)
    assert not at.warning
    assert at.selectbox(key="pg_benchmark").value == "permuted-mnist"
    assert at.number_input(key="pg_n_tasks").value == 3
    assert at.selectbox(key="pg_strategy").value == "ewc"
    assert at.number_input(key="pg_p_ewc_ewc_lambda").value == 42.5
    assert at.number_input(key="pg_p_ewc_fisher_samples").value == 300
    assert at.number_input(key="pg_lr").value == 0.05
    assert at.number_input(key="pg_batch_size").value == 32
    assert at.number_input(key="pg_seed").value == 7
    assert at.text_input(key="pg_hidden").value == "64,32"
    for k, v in query.items():  # written back unchanged: a share link reproduces the setup
        assert at.query_params[k] == v, k
    config, errors = controls.validate(controls.settings_from_state(controls.parse_url(query)[0]))
    assert not errors and config.n_tasks == 3 and config.params["ewc_lambda"] == 42.5 and config.hidden == (64, 32)


def test_the_language_in_the_url_is_kept_not_reported():
    at = open_app({"lang": "zh", "strategy": "er"})
    assert not at.warning
    assert at.query_params["lang"] == "zh" and at.query_params["strategy"] == "er"


def test_scenario_choices_follow_the_benchmark():
    at = open_app({"benchmark": "permuted-mnist", "scenario": "task-il", "strategy": "multihead", "tasks": "3"})
    assert not at.warning
    radio = at.radio(key="pg_scenario")
    assert list(radio.options) == ["Domain-IL", "Task-IL"] and radio.value == "task-il"
    assert at.query_params["scenario"] == "task-il"
    at.selectbox(key="pg_benchmark").set_value("split-mnist").run()
    radio = at.radio(key="pg_scenario")
    assert list(radio.options) == ["Class-IL", "Task-IL"] and radio.value == "class-il"
    at = open_app({"benchmark": "permuted-mnist", "scenario": "class-il"})
    assert any("scenario=class-il" in w.value for w in at.warning)
    assert at.radio(key="pg_scenario").value == "domain-il" and "scenario" not in at.query_params


def test_bad_url_parameters_are_reported_and_defaults_used():
    at = open_app({"lr": "abc", "strategy": "nope", "epochs": "0", "p_bogus": "1", "foo": "bar", "ws": "not-hex!"})
    warnings = " ".join(w.value for w in at.warning)
    for name in ("lr=abc", "strategy=nope", "epochs=0", "p_bogus=1", "foo=bar", "ws=not-hex!"):
        assert name in warnings, name
    recommended = recommended_settings("finetune", "split-mnist")  # what a URL without valid values gets
    assert at.number_input(key="pg_lr").value == recommended["lr"]
    assert at.selectbox(key="pg_strategy").value == "finetune"
    assert at.number_input(key="pg_epochs").value == recommended["epochs"]
    assert re.fullmatch(r"[0-9a-f]{16}", at.query_params["ws"])
    assert not at.button(key="pg_play").disabled


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------
def test_tiny_preset_trains_to_completion_with_heatmap_matching_the_engine(store_path):
    at = open_app({"preset": "forgetting-30s", **TINY})
    at.button(key="pg_play").click().run()
    wait_until(at, finished)
    lr = live(at)
    assert lr.run.status == "finished"
    rec = lr.run.record

    figs = figures(at)
    heat = figs["pg_heatmap"]["data"][0]
    assert len(heat["z"]) == 5 and all(len(row) == 5 for row in heat["z"])
    assert heat["z"] == rec.matrix["student"]
    assert heat["zmin"] == 0 and heat["zmax"] == 100 and heat["colorscale"] == "Viridis"
    assert heat["text"][0][0] == f"{rec.matrix['student'][0][0]:.0f}"
    curves = figs["pg_curves"]
    assert len(curves["data"]) == 5 and len(curves["layout"]["shapes"]) == 5
    assert [s["x0"] for s in curves["layout"]["shapes"]] == rec.task_boundaries

    at.toggle(key="pg_view_til").set_value(True).run()
    assert figures(at)["pg_heatmap"]["data"][0]["z"] == rec.matrix_task_il["student"]

    result = session.result_of(lr)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Average accuracy"] == f"{result['avg_acc']:.1f}%"
    assert metrics["Forgetting"] == f"{result['forgetting']:.1f} pts"
    assert {d.label for d in at.get("download_button")} == {"Accuracy matrix (CSV)", "Whole run (JSON)"}
    stored = RunStore(store_path).get(lr.store_id)
    assert stored.status == "finished" and stored.result["acc_matrix"] == result["acc_matrix"]

    # play again (a finished run replays as a new run): deltas against the previous run appear
    at.button(key="pg_play").click().run()
    wait_until(at, lambda a: finished(a) and live(a).store_id != lr.store_id)
    at.run()
    assert all(m.delta is not None for m in at.metric if m.label in ("Average accuracy", "Forgetting"))
    assert any("previous run" in c.value for c in at.caption)


def test_step_pause_and_reset():
    # 5 tasks of 200 steps, whatever the recommended settings
    at = open_app(
        {"tasks": "5", "subset": "2000", "batch": "10", "epochs": "1", "eval_every": "20", "eval_subset": "100"}
    )
    at.button(key="pg_step_batch").click().run()
    wait_until(at, settled)
    assert live(at).run.step == 1 and live(at).bg.state == "paused"
    at.button(key="pg_step_task").click().run()
    wait_until(at, settled)
    assert live(at).run.step == 200 and len(live(at).run.record.task_boundaries) == 1
    assert step_of(at) == 200
    assert len(figures(at)["pg_heatmap"]["data"][0]["z"][0]) == 5  # one row filled
    assert sum(v is not None for row in figures(at)["pg_heatmap"]["data"][0]["z"] for v in row) == 5

    at.button(key="pg_play").click().run()
    at.button(key="pg_pause").click()
    started = time.time()
    at.run()
    lr = live(at)
    with lr.bg.lock:
        paused_at = lr.run.step
    time.sleep(0.5)
    assert lr.run.step == paused_at and lr.bg.state == "paused", "Pause took longer than half a second"
    assert time.time() - started < 10

    first = lr.store_id
    at.button(key="pg_reset").click().run()
    assert live(at).store_id != first and live(at).run.step == 0 and live(at).bg.state == "ready"
    assert lr.run.status == "stopped"


def test_busy_server_queues_and_a_paused_run_blocks_no_one(monkeypatch):
    monkeypatch.setenv(session.MAX_TRAININGS_ENV, "1")
    query = {"subset": "6000", "eval_every": "100", "eval_subset": "100"}
    first, second = open_app(query), open_app(query)
    first.button(key="pg_play").click().run()
    wait_until(first, lambda a: live(a).run.step > 0)
    second.button(key="pg_play").click().run()
    wait_until(second, lambda a: live(a).bg.state == "queued")
    time.sleep(0.3)
    second.run()
    assert live(second).run.step == 0
    assert any(w.value.startswith("Queued: 1 training(s) already running on this server") for w in second.warning)

    first.button(key="pg_pause").click().run()  # the paused run gives its slot to the queued one
    wait_until(second, lambda a: live(a).run.step > 0)
    assert live(second).bg.state == RunState.RUNNING and not second.warning
    assert live(first).bg.state == "paused"
    second.button(key="pg_pause").click().run()


def test_live_runs_in_memory_are_bounded():
    at = open_app({"subset": "100", "eval_every": "50", "eval_subset": "100"})
    for _ in range(session.MAX_LIVE_RUNS + 2):
        at.button(key="pg_step_batch").click().run()
        wait_until(at, settled)
        at.button(key="pg_reset").click().run()
    assert len(at.session_state["_live_runs"]) <= session.MAX_LIVE_RUNS


def test_ewc_importance_views_carry_the_engines_data():
    at = open_app({"preset": "ewc-permuted", "tasks": "2", "subset": "200", "eval_every": "10", "eval_subset": "100"})
    at.button(key="pg_step_task").click().run()
    wait_until(at, settled)
    at.button(key="pg_step_task").click().run()
    wait_until(at, finished)
    at.run()
    lr = live(at)
    report = lr.run.record.strategy_reports[-1]
    # permuted tasks: the last task's own maps, mapped back onto the digit's pixels, are shown first
    assert at.radio(key="pg_imp_which").value == "task_importance"
    own = report.task_importance.unit_maps
    top = int(own.flatten(1).sum(1).argmax())
    shown = figures(at)["pg_unit_maps"]["data"][0]
    assert shown["name"] == f"unit {top}"
    assert sorted(v for row in shown["z"] for v in row) == pytest.approx(
        sorted((own[top] / own[top].max()).flatten().tolist()), rel=1e-6, abs=1e-9
    )

    at.radio(key="pg_imp_which").set_value("importance").run()
    figs = figures(at)
    units = figs["pg_unit_maps"]
    assert len(units["data"]) == 16 and all(len(t["z"]) == 28 and len(t["z"][0]) == 28 for t in units["data"])
    maps = report.importance.unit_maps
    top = int(maps.flatten(1).sum(1).argmax())
    expected = (maps[top] / maps[top].max()).tolist()
    assert units["data"][0]["name"] == f"unit {top}"
    assert all(
        math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
        for ra, rb in zip(units["data"][0]["z"], expected)
        for a, b in zip(ra, rb)
    )

    pixels = figs["pg_pixel_maps"]
    assert len(pixels["data"]) == 2  # one per finished task
    for t, trace in enumerate(pixels["data"]):
        engine = lr.run.record.strategy_reports[t].task_importance.pixel_map
        engine = sorted((engine / engine.max()).flatten().tolist())
        shown = sorted(v for row in trace["z"] for v in row)  # un-permuted: same values, digit order
        assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(shown, engine))
        assert max(shown) == 1.0

    hist = figs["pg_imp_hist"]
    layers = report.importance.layers
    assert len(hist["data"]) == len(layers)
    by_name = {t["name"]: t for t in hist["data"]}
    for name, h in layers.items():
        assert by_name[name]["y"] == h.log10_counts


def test_clser_views_carry_the_engines_data():
    at = open_app({"preset": "clser", "tasks": "2", "subset": "200", "eval_every": "10", "eval_subset": "100"})
    at.button(key="pg_play").click().run()
    wait_until(at, finished)
    at.run()
    lr = live(at)
    figs = figures(at)
    teachers = figs["pg_teachers"]
    bars = {t["name"].split()[0]: t["y"] for t in teachers["data"] if t["type"] == "bar"}
    log = lr.run.strategy.choice_log.sum(0)
    assert bars["plastic"] == log[0].tolist() and bars["stable"] == log[1].tolist()
    assert sum(bars["plastic"]) + sum(bars["stable"]) > 0
    lines = [t for t in teachers["data"] if t["type"] == "scatter"]
    assert lines and any(v is not None for v in lines[0]["y"])

    models = figs["pg_models"]
    bars = {t["legendgroup"]: t["y"] for t in models["data"] if t["type"] == "bar"}
    assert set(bars) == {"stable", "plastic", "student"}
    for name, values in bars.items():
        assert values[:2] == lr.run.record.matrix[name][-1]
    at.selectbox(key="pg_view_model").set_value("plastic").run()
    assert figures(at)["pg_heatmap"]["data"][0]["z"] == lr.run.record.matrix["plastic"]


# ------------------------------------------------------------------------------------------------
# shared modules
# ------------------------------------------------------------------------------------------------
def test_charts_are_valid_plotly_and_shaped_right(monkeypatch):
    monkeypatch.setattr(charts, "VALIDATE", True)
    names = ["a", "b", "c"]
    fig = charts.accuracy_heatmap([[90.0, 5.0, 1.0]], names, "t")
    z = fig.to_dict()["data"][0]["z"]
    assert len(z) == 3 and z[0] == [90.0, 5.0, 1.0] and z[1] == [None] * 3
    assert fig.to_dict()["data"][0]["text"][1] == ["", "", ""]
    assert len(charts.accuracy_heatmap([[50, 60, 70]], names, "t", offline=True).to_dict()["data"][0]["z"]) == 1
    built = [
        fig,
        charts.forgetting_curves([0, 5, 10], [[1, 2, 3], [4, 5, 6], [7, 8, 9]], [5], names, "t"),
        charts.loss_curve([1, 2], [0.5, 0.4], [1]),
        charts.buffer_composition([1, 2], [[1, 0, 0], [1, 1, 0]], names, task_boundaries=[1]),
        charts.importance_maps([[[0.0, 1.0], [2.0, 3.0]]] * 5, [str(i) for i in range(5)], "t"),
        charts.importance_maps([[[0.0, 1.0], [2.0, 3.0]]] * 5, [str(i) for i in range(5)], "t", cols=5),
        charts.importance_maps([[[0.0, 1.0], [2.0, 3.0]]] * 16, [str(i) for i in range(16)], "t"),
        charts.importance_maps([[[0.0, 1.0], [2.0, 3.0]]] * 7, [str(i) for i in range(7)], "t", cols=3),
        charts.importance_histograms(
            {
                "w.weight": {"log10_counts": [1, 2], "log10_edges": [0, 1, 2]},
                "w.bias": {"log10_counts": [3], "log10_edges": [0, 1]},
            }
        ),
        charts.teacher_choices([10, 20], [[1, 2, 0], [3, 0, 0]], [[0, 1, 0], [1, 1, 0]], names, task_boundaries=[15]),
        charts.model_accuracies([0, 10], {"stable": [1, 2], "student": [2, 3]}, {"stable": [1, 2, 3]}, names),
    ]
    for f in built:
        go.Figure(f.to_dict())  # plotly's full validation of every property
    curves = built[1].to_dict()
    assert len(curves["data"]) == 3 and curves["layout"]["shapes"][0]["x0"] == 5
    assert built[1].to_dict()["layout"]["shapes"][0]["line"]["dash"] == "dash"


def test_charts_reserve_room_for_their_labels_and_legend():
    """Each figure's margins already hold its axis labels and its legend (so plotly draws it once, not again
    with wider margins: the browser check is in test_e2e_browser): the legend's top sits LEGEND_GAP_PX below the
    plot area and the bottom margin holds its rows, more rows for more or longer entries."""
    assert charts.legend_rows(["T1: 0/1"] * 3) == 1
    assert charts.legend_rows(["T1: 0/1"] * 10) > 1
    assert charts.legend_rows(["a long legend entry naming a model"] * 4) >= 4
    for n_tasks in (2, 5, 10, 20):
        names = [f"{2 * j}/{2 * j + 1}" for j in range(n_tasks)]
        layout = charts.forgetting_curves([0, 1], [[1, 2]] * n_tasks, [], names, "t").to_dict()["layout"]
        margin, rows = layout["margin"], charts.legend_rows([f"T{j + 1}: {name}" for j, name in enumerate(names)])
        plot_px = layout["height"] - margin["t"] - margin["b"]
        assert layout["legend"]["y"] * plot_px == pytest.approx(-charts.LEGEND_GAP_PX)
        assert margin["b"] >= charts.LEGEND_GAP_PX + rows * charts.LEGEND_ROW_PX
        one_row = charts.LEGEND_GAP_PX + charts.LEGEND_ROW_PX + charts.LEGEND_PAD_PX
        assert plot_px == 400 - charts.MARGIN["t"] - one_row  # the figure grows with its legend, not the plot shrinks
    loss = charts.loss_curve([1, 2], [0.5, 0.4]).to_dict()["layout"]
    assert not loss["showlegend"] and loss["margin"] == charts.MARGIN
    assert charts.accuracy_heatmap([], ["a", "b"], "t").to_dict()["layout"]["margin"]["r"] > charts.MARGIN["r"]


def test_parse_url_never_raises_on_garbage():
    state, messages = controls.parse_url(
        {
            "n_tasks": "-1",
            "classes": "a|b",
            "device": "tpu",
            "p_c": "x",
            "train_subset": "1e99",
            "hidden": "0",
            "scenario": "sideways",
        }
    )
    assert len(messages) == 7 and state == controls.default_state()
    state, messages = controls.parse_url({"preset": "nope"})
    assert messages and "preset=nope" in messages[0]


def test_runs_of_closed_tabs_are_stopped_and_marked_interrupted(store_path):
    from clcore import Run, make_config
    from clcore.runs.background import BackgroundRun

    store = RunStore(store_path)
    watcher = session._Watcher()
    lives = []
    for trained, tab in ((True, "closed-tab"), (False, "closed-tab"), (False, "open-tab")):
        config = make_config(train_subset=300, eval_every=100, eval_subset=100)
        run = Run(config)
        lr = session.LiveRun(
            store.create("feedc0de", config.to_dict()),
            config,
            run,
            BackgroundRun(run),
            "x",
            store=store,
            workspace="feedc0de",
            session_id=tab,
        )
        run.subscribe(lambda event, lr=lr: session._on_event(lr, event))
        if trained:
            lr.bg.step("task")
            deadline = time.time() + 20
            while lr.bg.state != "paused" and time.time() < deadline:
                time.sleep(0.05)
        watcher.add(lr)
        lives.append(lr)
    for tab in ("closed-tab", "open-tab"):
        watcher.saw(tab, now=1000.0)
    watcher.check(now=1000.0 + session.CLOSED_TAB_GRACE_S - 1)  # silent for a while: a network blip, maybe
    assert store.get(lives[0].store_id).status == "running"
    watcher.saw("open-tab", now=1000.0 + session.CLOSED_TAB_GRACE_S)  # the open tab's heartbeat
    watcher.check(now=1000.0 + session.CLOSED_TAB_GRACE_S + 1)
    stored = store.get(lives[0].store_id)
    assert stored.status == "interrupted" and "closed" in stored.result["message"]
    assert len(stored.result["acc_matrix"]) == 1  # the partial result is kept
    assert store.get(lives[1].store_id) is None  # never trained: nothing worth keeping
    assert lives[2].state == "ready" and store.get(lives[2].store_id).status == "running"  # its tab is open
    lives[2].bg.stop()
    assert all(lr.run.done or lr.bg.join(5) for lr in lives)


def test_a_dropped_run_is_freed_at_once(store_path):
    """A page drops its older runs (MAX_LIVE_RUNS): nothing may hold one in a reference cycle, which only
    Python's rare full collections free (a 50-run session grew ~100 MB before one did, bench/LOAD.md)."""
    from clcore import RunQueue, make_config

    launcher = session.Launcher(RunStore(store_path), "feedc0de", None, RunQueue(1), session._Watcher())
    live = launcher.start(make_config(train_subset=20, eval_subset=50), "x", play=True)
    assert live.bg.join(60) and live.state == RunState.FINISHED
    assert RunStore(store_path).get(live.store_id).status == "finished"  # saved by its trainer thread
    launcher.watcher.remove(live)
    run = weakref.ref(live.run)
    gc.disable()
    try:
        del live
        assert run() is None
    finally:
        gc.enable()


def test_every_run_of_the_app_is_a_heartbeat_of_its_tab():
    at = open_app(page="pages/about.py")
    tab = at.session_state[session.BROWSER_SESSION_KEY]
    heard = session._watcher()._seen[tab]
    assert time.time() - heard < 30
    at.run()
    assert session._watcher()._seen[tab] > heard
