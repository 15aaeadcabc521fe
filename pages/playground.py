"""Playground: pick a task sequence and a strategy, press Play, watch forgetting happen live.

Training runs in a BackgroundRun thread (clcore.runs.background), so it continues while this page reruns or the
user visits another page. While it plays, the status line and the live charts redraw in one fragment
(every LIVE_REFRESH_S) from the run's RunSnapshot (`live_run.bg.snapshot()`, a
consistent copy taken under the trainer's lock), never from the run itself. Every visible text comes from
the string catalogs (`playground.*`, `common.*`; pages/shared/i18n.py), the language switch is in the sidebar.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from urllib.parse import urlencode

import streamlit as st

from clcore import STRATEGIES, ConfigError, DataUnavailable, RunSnapshot, RunState
from clcore.data.benchmarks import BENCHMARKS, boundary_caveat
from pages.shared import charts, controls, i18n, session, strategy_views
from pages.shared.i18n import t

session.run_through_app()

# While training, the status line and the charts redraw every LIVE_REFRESH_S (charts cost the browser far more to
# redraw than the server to build).
LIVE_REFRESH_S = 0.8
CURRENT_KEY = "pg_current"  # store id of the run this page shows
SEEN_KEY = "pg_seen"  # the newest run this page has shown (newer ones were started on another page)
HISTORY_KEY = "pg_history"  # metrics of this session's finished runs, for the deltas
MAX_HISTORY = 50
BADGE_COLOURS = {
    RunState.READY: "gray",
    RunState.QUEUED: "orange",
    RunState.RUNNING: "blue",
    RunState.PAUSED: "violet",
    RunState.FINISHED: "green",
    RunState.STOPPED: "gray",
    RunState.FAILED: "red",
    RunState.INTERRUPTED: "gray",
    RunState.CANCELLED: "gray",
}
NO_BAR = charts.NO_BAR


def badge(state: RunState) -> str:
    """The run state as a coloured badge, in the active language (catalog state.<state>)."""
    return f":{BADGE_COLOURS[state]}-badge[{t(f'state.{state}')}]"


# ------------------------------------------------------------------------------------------------
# The run this page shows, and the transport
# ------------------------------------------------------------------------------------------------
def current_live() -> session.LiveRun | None:
    wanted = st.session_state.get(CURRENT_KEY)
    for live in session.live_runs():
        if live.store_id == wanted:
            return live
    return None


def adopt_newer_run() -> None:
    """A run started on another page (Compare's 'run again with this change') becomes the one shown
    here, with its settings loaded into the controls. Call before the controls are drawn."""
    runs = session.live_runs()
    if not runs:
        return
    latest = runs[-1]
    if latest.store_id > st.session_state.get(SEEN_KEY, 0):
        st.session_state[SEEN_KEY] = latest.store_id
        st.session_state[CURRENT_KEY] = latest.store_id
        controls.apply_state(controls.state_from_settings(latest.config.to_dict()))


def config_now():
    return controls.validate(controls.settings_from_state(controls.current_state()))


def _start(config):
    """A new run with `config`; the one shown before is stopped (or forgotten if it never trained)."""
    st.session_state.pop("pg_start_error", None)
    old = current_live()
    if old is not None:
        if old.run.step == 0:
            session.discard(old)
        elif not old.run.done:
            old.bg.stop()
    try:
        live = session.start_run(config)
    except (ConfigError, DataUnavailable) as error:
        st.session_state["pg_start_error"] = controls.Notice("playground.start_refused", error=error)
        return None
    except Exception as error:  # noqa: BLE001 - report it beside the transport, never crash the page
        st.session_state["pg_start_error"] = controls.Notice(
            "playground.start_failed", kind=type(error).__name__, error=str(error)
        )
        return None
    st.session_state[CURRENT_KEY] = st.session_state[SEEN_KEY] = live.store_id
    return live


def _ready_run():
    """The current run if it matches the controls and can still train, else a new one (None if invalid)."""
    config, errors = config_now()
    if config is None:
        return None
    live = current_live()
    if live is None or live.run.done or live.config != config:
        live = _start(config)
    return live


def on_play() -> None:
    live = _ready_run()
    if live is not None:
        live.bg.play()


def on_pause() -> None:
    live = current_live()
    if live is not None:
        live.bg.pause()


def on_step(unit: str) -> None:
    live = _ready_run()
    if live is not None:
        live.bg.step(unit)


def finish_if_trained(live: session.LiveRun, snap: RunSnapshot) -> bool:
    """A step that ends the last task leaves the run paused just before its end: finish it (no more
    training happens) so that its summary shows without another press of Play."""
    expected = 1 if snap.offline else snap.n_tasks
    if snap.state == RunState.PAUSED and snap.tasks_done >= expected:
        with live.bg.lock:  # the trainer thread is idle; nothing is left to train, only the run's end
            live.run.advance(batches=1)
        live.bg.stop()  # lets the idle trainer thread exit
        session.sync_store(live)
        return True
    return False


def on_reset() -> None:
    """Stop what is shown and set up a new run with the current controls (ready to play)."""
    config, _ = config_now()
    live = current_live()
    if live is not None:
        if live.run.step == 0:
            session.discard(live)
        elif not live.run.done:
            live.bg.stop()
    st.session_state[CURRENT_KEY] = None
    if config is not None:
        _start(config)


# ------------------------------------------------------------------------------------------------
# Views
# ------------------------------------------------------------------------------------------------
def status_line(snap: RunSnapshot) -> None:
    with st.container(key="pg_status"):
        task = min(snap.task + 1, snap.n_tasks)
        if snap.offline:
            where = t("playground.status.all_tasks", n=snap.n_tasks)
        else:
            where = t("playground.status.task", task=snap.tasks_done if snap.done else task, n=snap.n_tasks)
        speed = f"{snap.speed:,.0f}" if snap.speed else "–"
        st.markdown(
            t(
                "playground.status.line",
                badge=badge(snap.state),
                where=where,
                epoch=min(snap.epoch + 1, snap.epochs),
                epochs=snap.epochs,
                step=f"{snap.step:,}",
                total=f"{snap.total_steps:,}",
                speed=speed,
                elapsed=f"{snap.elapsed:.1f}",
            )
        )
        st.progress(min(1.0, snap.step / max(1, snap.total_steps)))
    if snap.state == RunState.QUEUED:
        st.warning(
            t("playground.queued", running=session.trainings_running(), limit=session.max_trainings()),
            icon=":material/hourglass_top:",
        )
    if snap.state == RunState.FAILED:
        st.error(t("playground.failed", message=controls.translate_error(snap.message)))


def _accuracy_source(snap: RunSnapshot, task_il: bool):
    return snap.matrix_til if task_il else snap.matrix


def task_id_notice(snap: RunSnapshot) -> None:
    """Task-aware strategies (a head, column or mask per task) need the task id: say which numbers got it."""
    cls = STRATEGIES[snap.strategy]
    if cls.needs_task_id:
        other = "class-il" if snap.has_task_il else "domain-il"
        st.caption(
            t(
                "playground.task_id_notice",
                strategy=controls.strategy_title(snap.strategy),
                task_il=controls.scenario_label("task-il"),
                other=controls.scenario_label(other),
                rule=t(f"strategy_ui.{snap.strategy}.task_inference"),
            )
        )


def accuracy_views(snap: RunSnapshot) -> None:
    words = charts.translated(t)
    left, right = st.columns(2)
    with left:
        a, b = st.columns(2)
        task_il = False
        if snap.has_task_il:
            task_il = a.toggle(
                t("playground.task_il_view"),
                key="pg_view_til",
                help=t("playground.task_il_view_help", scenario=controls.scenario_label(snap.scenario)),
            )
        model = snap.primary
        if len(snap.models) > 1:
            if st.session_state.get("pg_view_model") not in snap.models:
                st.session_state["pg_view_model"] = snap.primary
            model = b.selectbox(t("common.model"), snap.models, key="pg_view_model", label_visibility="collapsed")
        matrix = _accuracy_source(snap, task_il).get(model, [])
        kind = controls.scenario_label("task-il" if task_il else snap.scenario)
        if len(snap.models) > 1:
            title = t("playground.heatmap_title_model", scenario=kind, model=model)
        else:
            title = t("playground.heatmap_title", scenario=kind)
        st.plotly_chart(
            charts.accuracy_heatmap(matrix, snap.task_names, title, offline=snap.offline, text=words),
            key="pg_heatmap",
            config=NO_BAR,
        )
        task_id_notice(snap)
    with right:
        evals = snap.evals
        idx = charts.thin_indices(len(evals), keep=[i for i, e in enumerate(evals) if e.full])
        steps = [evals[i].step for i in idx]
        accs = []
        for j in range(snap.n_tasks):
            values = []
            for i in idx:
                source = evals[i].acc_task_il if task_il else evals[i].acc
                values.append(source[model][j] if source and model in source else None)
            accs.append(values)
        st.plotly_chart(
            charts.forgetting_curves(
                steps, accs, snap.boundaries, snap.task_names, t("playground.curves_title"), text=words
            ),
            key="pg_curves",
            config=NO_BAR,
        )


def training_views(snap: RunSnapshot) -> None:
    words = charts.translated(t)
    left, right = st.columns(2)
    with left:
        idx = charts.thin_indices(len(snap.loss_steps))
        st.plotly_chart(
            charts.loss_curve(
                [snap.loss_steps[i] for i in idx], [snap.loss[i] for i in idx], snap.boundaries, text=words
            ),
            key="pg_loss",
            config=NO_BAR,
        )
    with right:
        if not snap.buffer_history:
            if STRATEGIES[snap.strategy].uses_buffer:
                st.info(t("playground.buffer_filling"))
            else:
                st.caption(t("playground.no_buffer", strategy=controls.strategy_title(snap.strategy)))
            return
        by = st.radio(
            t("playground.buffer_by"),
            ["task", "class"],
            key="pg_buffer_by",
            horizontal=True,
            format_func=controls.labels(["task", "class"], lambda group: t(f"playground.buffer_by_{group}")),
        )
        idx = charts.thin_indices(len(snap.buffer_history))
        steps = [snap.buffer_history[i][0] for i in idx]
        if by == "task":
            counts = [snap.buffer_history[i][1]["tasks"] for i in idx]
            names = [f"{t('common.task_short', n=j + 1)}: {n}" for j, n in enumerate(snap.task_names)]
        else:
            counts = [snap.buffer_history[i][1]["classes"] for i in idx]
            names = snap.class_names
        st.plotly_chart(
            charts.buffer_composition(steps, counts, names, task_boundaries=snap.boundaries, text=words),
            key="pg_buffer_chart",
            config=NO_BAR,
        )
        if snap.buffer_samples:
            st.image(
                [img for img, _, _ in snap.buffer_samples],
                width=56,
                caption=[
                    f"{snap.class_names[y]} · {t('common.task_short', n=task + 1)}"
                    for _, y, task in snap.buffer_samples
                ],
            )
            st.caption(t("playground.buffer_samples"))


def _transition_key(live: session.LiveRun | None, snap: RunSnapshot | None):
    """What the non-live part of the page depends on: when it changes during a tick, the whole page is
    redrawn (transport buttons, summary; task-end strategy views such as EWC / SI maps)."""
    if snap is None:
        return None
    maps_change = snap.tasks_done if strategy_views.has_task_end_view(snap.strategy) else None
    return (live.store_id, snap.state, maps_change)


def status_view() -> None:
    """The status line (in the live panel); redraws the whole page when the
    run pauses, finishes, or finishes a task of a strategy with a task-end view."""
    live = current_live()
    if live is None:
        return
    snap = live.bg.snapshot(full=False)
    session.sync_store(live)
    inline = st.session_state.pop("pg_inline", False)  # True: this is the page's full run, not a tick
    if not inline and _transition_key(live, snap) != st.session_state.get("pg_drawn"):
        st.rerun()
    status_line(snap)


def for_display(snap: RunSnapshot) -> RunSnapshot:
    """What the charts draw: the task and class names in the page's language, and no task lines for a stream, which
    has no task boundaries (the end of the stream is its one "task end")."""
    info = BENCHMARKS[snap.benchmark]
    return dataclasses.replace(
        snap,
        task_names=[controls.task_title(name, info.dataset) for name in snap.task_names],
        class_names=[controls.class_title(info.dataset, name) for name in snap.class_names],
        boundaries=[] if info.kind == "stream" else snap.boundaries,
    )


def boundary_notice(config) -> None:
    """Said before Play: the strategy does its work at task boundaries, which this task sequence lacks or blurs."""
    if config is None:
        return
    reason = boundary_caveat(STRATEGIES[config.strategy], config.benchmark, config.blurry)
    if reason is not None:
        words = dict(strategy=controls.strategy_title(config.strategy), benchmark=config.benchmark)
        st.info(
            t(f"expect.boundary.{reason}", **words, percent=f"{config.blurry * 100:g}"),
            icon=":material/lightbulb:",
        )


def live_panel() -> None:
    """The status line and the live charts, redrawn every LIVE_REFRESH_S while training."""
    status_view()
    live_views()


def live_views() -> None:
    """Heatmap, curves, loss, buffer and the strategy's live view (in the live panel)."""
    live = current_live()
    if live is None:
        placeholder_views()
        return
    snap = for_display(live.bg.snapshot())
    accuracy_views(snap)
    training_views(snap)
    strategy_views.draw(snap, live, at_task_end=False)


def placeholder_views() -> None:
    config, _ = config_now()
    if config is None:
        return
    n = config.n_tasks or BENCHMARKS[config.benchmark].default_tasks
    if config.classes:
        n = len(config.classes.split("|"))
    st.info(t("playground.press_play"), icon=":material/play_circle:")
    names = [t("common.task_numbered", n=j + 1) for j in range(n)]
    words = charts.translated(t)
    left, right = st.columns(2)
    left.plotly_chart(
        charts.accuracy_heatmap([], names, t("playground.heatmap_placeholder"), text=words),
        key="pg_heatmap",
        config=NO_BAR,
    )
    right.plotly_chart(
        charts.forgetting_curves([], [], [], names, t("playground.curves_title"), text=words),
        key="pg_curves",
        config=NO_BAR,
    )


# ------------------------------------------------------------------------------------------------
# Final summary and downloads
# ------------------------------------------------------------------------------------------------
# Summary metrics: result key, unit (catalog common.unit.<unit>), delta colour. Labels and help: common.metric*.
METRICS = (
    ("avg_acc", "percent", "normal"),
    ("forgetting", "points", "inverse"),
    ("bwt", "points", "normal"),
    ("fwt", "points", "normal"),
    ("wall_s", "seconds", "inverse"),
)


def _remember(live: session.LiveRun, result: dict) -> None:
    history = st.session_state.setdefault(HISTORY_KEY, [])
    if any(h["store_id"] == live.store_id for h in history):
        return
    history.append({"store_id": live.store_id, "label": live.label, **{k: result.get(k) for k, *_ in METRICS}})
    del history[:-MAX_HISTORY]


def _previous(store_id: int) -> dict | None:
    earlier = [h for h in st.session_state.get(HISTORY_KEY, []) if h["store_id"] < store_id]
    return earlier[-1] if earlier else None


def matrix_csv(result: dict) -> str:
    rows = result.get("acc_matrix") or []
    n = len(result.get("tasks") or [])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["after training \\ evaluated on"] + [f"T{j + 1}" for j in range(n)])
    labels = ["all tasks"] if result.get("offline") else [f"T{i + 1}" for i in range(n)]
    for label, row in zip(labels, rows):
        writer.writerow([label] + [f"{v:.2f}" if v is not None else "" for v in row])
    return out.getvalue()


def summary_views(live: session.LiveRun, snap: RunSnapshot) -> None:
    if not snap.done:
        return
    result = session.result_of(live)
    if snap.state == RunState.FINISHED:
        _remember(live, result)
    st.subheader(t("playground.summary"))
    previous = _previous(live.store_id)
    cols = st.columns(len(METRICS))
    for col, (name, unit_key, colour) in zip(cols, METRICS):
        unit = t(f"common.unit.{unit_key}")
        value = result.get(name)
        delta = None
        if previous is not None and value is not None and previous.get(name) is not None:
            delta = f"{value - previous[name]:+.1f}{unit}"
        shown = "–" if value is None else f"{value:.1f}{unit}"
        col.metric(
            t(f"common.metric.{name}"), shown, delta=delta, delta_color=colour, help=t(f"common.metric_help.{name}")
        )
    if previous is not None:
        st.caption(t("playground.deltas", id=previous["store_id"], label=previous["label"]))
    if snap.state == RunState.STOPPED:
        st.caption(t("playground.stopped"))
    a, b, _ = st.columns([1, 1, 3])
    a.download_button(
        t("playground.download_csv"),
        matrix_csv(result),
        file_name=f"run-{live.store_id}-matrix.csv",
        mime="text/csv",
        on_click="ignore",
        key="pg_dl_csv",
        icon=":material/download:",
    )
    b.download_button(
        t("playground.download_json"),
        json.dumps(result, indent=1),
        file_name=f"run-{live.store_id}.json",
        mime="application/json",
        on_click="ignore",
        key="pg_dl_json",
        icon=":material/download:",
        help=t("playground.download_json_help"),
    )


# ------------------------------------------------------------------------------------------------
# Page
# ------------------------------------------------------------------------------------------------
def share_link(params: dict) -> str:
    base = ""
    try:
        base = st.context.url or ""
    except Exception:  # noqa: BLE001
        base = ""
    base = base.split("?", 1)[0] or "http://localhost:8501/"
    return f"{base}?{urlencode(params)}"


def transport(live, config, snap: RunSnapshot | None) -> None:
    active = snap is not None and snap.state.active
    invalid = config is None
    with st.container(horizontal=True, key="pg_transport", vertical_alignment="center"):
        st.button(
            t("playground.button.play"),
            key="pg_play",
            on_click=on_play,
            type="primary",
            icon=":material/play_arrow:",
            disabled=invalid or active,
            help=t("playground.help.play"),
        )
        st.button(
            t("playground.button.pause"),
            key="pg_pause",
            on_click=on_pause,
            icon=":material/pause:",
            disabled=not active,
        )
        for unit in ("batch", "epoch", "task"):
            st.button(
                t(f"playground.button.step_{unit}"),
                key=f"pg_step_{unit}",
                on_click=on_step,
                args=(unit,),
                icon=":material/skip_next:",
                disabled=invalid or active,
                help=t(f"playground.help.step_{unit}"),
            )
        st.button(
            t("playground.button.reset"),
            key="pg_reset",
            on_click=on_reset,
            icon=":material/restart_alt:",
            help=t("playground.help.reset"),
        )
        with st.popover(t("playground.button.share"), icon=":material/link:"):
            params = {**controls.url_from_state(controls.current_state()), **i18n.url_params()}
            st.code(share_link(params), language=None, wrap_lines=True)
            st.caption(t("playground.share_caption"))
    if invalid:
        st.caption(t("playground.fix_setting"))
    elif live is not None and not live.run.done and live.config != config and live.run.step > 0:
        st.caption(t("playground.controls_changed"))


def page() -> None:
    ws = session.workspace_id()
    rejected = st.session_state.pop("_workspace_rejected", None)
    adopt_newer_run()
    url_messages = controls.ensure_state(dict(st.query_params.to_dict()))
    st.session_state.setdefault("pg_url_messages", [])
    if url_messages:
        st.session_state["pg_url_messages"] = url_messages
    config, errors = config_now()

    i18n.language_switch()  # the sidebar's language switch; reports an invalid ?lang=
    with st.sidebar:
        shown = controls.render(errors)
    controls.save_state()

    wanted = {**controls.url_from_state(controls.current_state()), "ws": ws, **i18n.url_params()}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)

    live = current_live()
    snap = live.bg.snapshot() if live is not None else None
    if live is not None and finish_if_trained(live, snap):
        snap = live.bg.snapshot()
    if live is not None:
        session.sync_store(live)

    # The page's top level has a fixed number of blocks in a fixed order, whatever notices come and go: a fragment's
    # redraw addresses its block by position, and a position that moved between runs made the browser's Streamlit
    # fail ("Bad delta path index") and drop the page under a classroom's load (bench/LOAD.md).
    st.title(t("playground.title"))
    with st.container(key="pg_notices"):
        for message in st.session_state["pg_url_messages"]:
            st.warning(message.text() if isinstance(message, controls.Notice) else message, icon=":material/link_off:")
        if rejected:
            st.warning(t("playground.workspace_rejected", value=rejected), icon=":material/link_off:")
        if store_warning := session.store_warning():
            st.warning(store_warning, icon=":material/database:")
        for name, message in errors.items():
            if name not in shown:
                st.error(controls.translate_error(message))
        start_error = st.session_state.get("pg_start_error")
        if start_error:
            st.error(start_error.text() if isinstance(start_error, controls.Notice) else start_error)
        boundary_notice(config)
    with st.container(key="pg_controls"):
        transport(live, config, snap)

    st.session_state["pg_drawn"] = _transition_key(live, snap)
    st.session_state["pg_inline"] = True
    playing = snap is not None and snap.state.active
    with st.container(key="pg_live"):  # one fragment, one timer: the status line and the charts redraw together
        st.fragment(run_every=LIVE_REFRESH_S if playing else None)(live_panel)()

    if live is not None and snap is not None:
        strategy_views.draw(for_display(snap), live, at_task_end=True)
        summary_views(live, snap)


page()
