"""Playground: pick a task sequence and a strategy, press Play, watch forgetting happen live.

Training runs in a BackgroundRun thread (clcore.runs.background), so it continues while this page reruns or the
user visits another page. While it plays, the status line and the live charts redraw in fragments
(every STATUS_REFRESH_S and CHART_REFRESH_S); every read of the run happens under `live_run.bg.lock`
and copies what the views need. Every visible text comes from the string catalogs (`playground.*`,
`common.*`; pages/shared/i18n.py), the language switch is in the sidebar.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run via app.py (st.navigation) or directly
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
import torch  # noqa: E402

from clcore import STRATEGIES, ConfigError, DataUnavailable  # noqa: E402
from clcore.data.benchmarks import BENCHMARKS  # noqa: E402
from pages.shared import charts, controls, i18n, session, strategy_views  # noqa: E402
from pages.shared.i18n import t  # noqa: E402
from pages.shared.presets import LECTURE_PRESETS  # noqa: E402,F401  (re-exported for the About page)

session.run_through_app()

# While training: the status line (step counter) redraws every STATUS_REFRESH_S, the charts every
# CHART_REFRESH_S; charts cost the browser far more to redraw than the server to build.
STATUS_REFRESH_S = 0.5
CHART_REFRESH_S = 0.8
CURRENT_KEY = "pg_current"  # store id of the run this page shows
SEEN_KEY = "pg_seen"  # the newest run this page has shown (newer ones were started on another page)
HISTORY_KEY = "pg_history"  # metrics of this session's finished runs, for the deltas
MAX_HISTORY = 50
ACTIVE = ("playing", "queued")
BADGE_COLOURS = {
    "ready": "gray",
    "queued": "orange",
    "playing": "blue",
    "paused": "violet",
    "finished": "green",
    "stopped": "gray",
    "failed": "red",
}
NO_BAR = charts.NO_BAR


def badge(state: str) -> str:
    """The run state as a coloured badge, in the active language (playground.state.<state>)."""
    colour = BADGE_COLOURS.get(state)
    return f":{colour}-badge[{t(f'playground.state.{state}')}]" if colour else state


# ------------------------------------------------------------------------------------------------
# What the views read: one consistent copy of the run's state, taken under its lock
# ------------------------------------------------------------------------------------------------
@dataclass
class Snap:
    store_id: int
    state: str
    status: str
    message: str
    step: int
    task: int
    epoch: int
    epochs: int
    n_tasks: int
    total_steps: int
    elapsed: float
    speed: float | None
    strategy: str
    benchmark: str
    scenario: str
    task_names: list
    class_names: list
    primary: str
    models: list
    offline: bool
    has_task_il: bool
    matrix: dict
    matrix_til: dict
    evals: list
    loss_steps: list
    loss: list
    boundaries: list
    buffer_history: list
    step_stats: list
    reports: list
    buffer_samples: list = field(default_factory=list)  # (image HxWxC in [0,1], class, task)

    @property
    def tasks_done(self) -> int:
        return len(self.boundaries)

    @property
    def done(self) -> bool:
        return self.status in ("finished", "stopped", "failed")


def _buffer_examples(buffer, per_task: int = 2, limit: int = 12):
    n = len(buffer)
    if not n:
        return None
    tasks = buffer.task[:n]
    picks = []
    for task in torch.unique(tasks).tolist():
        picks += torch.nonzero(tasks == task).flatten()[:per_task].tolist()
    picks = picks[:limit]
    return buffer.x[picks].detach().float().cpu().clone(), buffer.y[picks].tolist(), buffer.task[picks].tolist()


def snapshot(live: session.LiveRun, full: bool = True) -> Snap:
    """Copy what the views need, under the run's lock. `full=False`: only the status (no curves),
    for the fast status refresh."""
    with live.bg.lock:
        run, rec = live.run, live.run.record
        bench, strategy = run.benchmark, run.strategy
        samples = _buffer_examples(strategy.buffer) if full and strategy.buffer is not None else None
        snap = Snap(
            store_id=live.store_id,
            state=live.bg.state,
            status=run.status,
            message=run.message,
            step=run.step,
            task=run.task,
            epoch=run.epoch,
            epochs=run.config.epochs,
            n_tasks=run.n_tasks,
            total_steps=run.total_steps,
            elapsed=run.active_s,
            speed=rec.samples_per_s[-1] if rec.samples_per_s else None,
            strategy=run.config.strategy,
            benchmark=run.config.benchmark,
            scenario=bench.scenario,
            task_names=[task.name for task in bench.tasks],
            class_names=list(bench.data.class_names),
            primary=run.primary_model,
            models=list(strategy.evaluation_models()),
            offline=strategy.trains_offline,
            has_task_il=bench.has_task_il,
            boundaries=list(rec.task_boundaries),
            reports=list(rec.strategy_reports),
            matrix={},
            matrix_til={},
            evals=[],
            loss_steps=[],
            loss=[],
            buffer_history=[],
            step_stats=[],
        )
        if full:
            snap.matrix = {m: [list(r) for r in rows] for m, rows in rec.matrix.items()}
            snap.matrix_til = {m: [list(r) for r in rows] for m, rows in rec.matrix_task_il.items()}
            snap.evals, snap.loss_steps, snap.loss = list(rec.evals), list(rec.loss_steps), list(rec.loss)
            snap.buffer_history, snap.step_stats = list(rec.buffer_history), list(rec.step_stats)
        mean, std = bench.data.mean, bench.data.std
    if samples is not None:
        x, ys, ts = samples
        x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
        images = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
        snap.buffer_samples = [
            (img[:, :, 0] if img.shape[2] == 1 else img, y, task) for img, y, task in zip(images, ys, ts)
        ]
    return snap


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
        st.session_state["pg_start_error"] = controls.Notice("playground.start_refused", error=str(error))
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


def finish_if_trained(live: session.LiveRun, snap: Snap) -> bool:
    """A step that ends the last task leaves the run paused just before its end: finish it (no more
    training happens) so that its summary shows without another press of Play."""
    expected = 1 if snap.offline else snap.n_tasks
    if snap.state == "paused" and not snap.done and snap.tasks_done >= expected:
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
def status_line(snap: Snap) -> None:
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
    if snap.state == "queued":
        st.warning(
            t("playground.queued", running=session.trainings_running(), limit=session.max_trainings()),
            icon=":material/hourglass_top:",
        )
    if snap.status == "failed":
        st.error(t("playground.failed", message=controls.translate_error(snap.message)))


def _accuracy_source(snap: Snap, task_il: bool):
    return snap.matrix_til if task_il else snap.matrix


def task_id_notice(snap: Snap) -> None:
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


def accuracy_views(snap: Snap) -> None:
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


def training_views(snap: Snap) -> None:
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


def _transition_key(snap: Snap | None):
    """What the non-live part of the page depends on: when it changes during a tick, the whole page is
    redrawn (transport buttons, summary; task-end strategy views such as EWC / SI maps)."""
    if snap is None:
        return None
    maps_change = snap.tasks_done if strategy_views.has_task_end_view(snap.strategy) else None
    return (snap.store_id, snap.state in ACTIVE, snap.status, maps_change)


def status_view() -> None:
    """The status line, redrawn every STATUS_REFRESH_S while training; redraws the whole page when the
    run pauses, finishes, or finishes a task of a strategy with a task-end view."""
    live = current_live()
    if live is None:
        return
    snap = snapshot(live, full=False)
    session.sync_store(live)
    inline = st.session_state.pop("pg_inline", False)  # True: this is the page's full run, not a tick
    if not inline and _transition_key(snap) != st.session_state.get("pg_drawn"):
        st.rerun()
    status_line(snap)


def live_views() -> None:
    """Heatmap, curves, loss, buffer and the strategy's live view: redrawn every CHART_REFRESH_S while training."""
    live = current_live()
    if live is None:
        placeholder_views()
        return
    snap = snapshot(live)
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


def summary_views(live: session.LiveRun, snap: Snap) -> None:
    if not snap.done:
        return
    result = session.result_of(live)
    if snap.status == "finished":
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
    if snap.status == "stopped":
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


def transport(live, config, snap: Snap | None) -> None:
    state = snap.state if snap else "none"
    active = state in ACTIVE
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

    st.title(t("playground.title"))
    for message in st.session_state["pg_url_messages"]:
        st.warning(message.text() if isinstance(message, controls.Notice) else message, icon=":material/link_off:")
    if rejected:
        st.warning(t("playground.workspace_rejected", value=rejected), icon=":material/link_off:")
    for name, message in errors.items():
        if name not in shown:
            st.error(controls.translate_error(message))
    start_error = st.session_state.get("pg_start_error")
    if start_error:
        st.error(start_error.text() if isinstance(start_error, controls.Notice) else start_error)

    live = current_live()
    snap = snapshot(live) if live is not None else None
    if live is not None and finish_if_trained(live, snap):
        snap = snapshot(live)
    if live is not None:
        session.sync_store(live)
    transport(live, config, snap)

    st.session_state["pg_drawn"] = _transition_key(snap)
    st.session_state["pg_inline"] = True
    playing = snap is not None and snap.state in ACTIVE
    st.fragment(run_every=STATUS_REFRESH_S if playing else None)(status_view)()
    st.session_state.pop("pg_inline", None)
    st.fragment(run_every=CHART_REFRESH_S if playing else None)(live_views)()

    if live is not None and snap is not None:
        strategy_views.draw(snap, live, at_task_end=True)
        summary_views(live, snap)


page()
