"""Compare: every run of this browser session's workspace, overlaid curves, heatmaps side by side, a
metrics table with the differing knob highlighted, "change one knob and run again", and a grid runner.

This file is the page (its sections and `page()`, run by st.navigation); its parts are in
pages/shared/compare/ (runs, knobs, figures, grid).

Every visible text comes from the string catalogs (pages/shared/i18n.py, table `compare`; the settings'
labels are the Playground controls' `controls.label.*`, the engine's ConfigError messages are translated by
controls.translate_error). Statuses, settings and metrics keep English codes inside (the store, the runs'
JSON) and are translated where they are shown. Options' format_func are lookups in texts made while the page
runs (not calls of t()): Streamlit's AppTest formats widget values outside the page's run, where the
session's language is unknown."""

from __future__ import annotations

import json
import os

import streamlit as st

from clcore import STRATEGIES, ConfigError, RunState
from clcore.data.benchmarks import BENCHMARKS
from clcore.sweep.executor import SweepError, host_port
from clcore.sweep.grid import GridError
from pages.shared import charts, controls, i18n, session
from pages.shared.compare.figures import (
    NUMERIC_COLUMNS,
    column,
    matrix_csv,
    metrics_frame,
    overlay_figure,
    runs_table,
    styled_metrics,
)
from pages.shared.compare.grid import (
    GRID_BENCHMARK,
    GRID_BUFFERS,
    MAX_GRID,
    GridJob,
    grid_cells,
    next_grid_number,
    parse_seeds,
    show_grid_progress,
    start_on_executor,
    sweep_error_text,
    sweep_grid,
)
from pages.shared.compare.knobs import (
    DEFAULT_BUFFER,
    KNOBS,
    changed_config,
    differing_knobs,
    fmt_value,
    knob_current,
    knob_label,
    knob_options,
)
from pages.shared.compare.runs import Entry, collect_entries, full_result, name_of, state_text
from pages.shared.i18n import t

REFRESH_S = 1.5  # how often the page redraws while something of this session trains
GRID_PLACES = {"queue": "compare.grid.where_queue", "executor": "compare.grid.where_executor"}
CURVE_MODES = {"average": "compare.side.curve_average", "task": "compare.side.curve_task"}


def compare_section(ws: str, chosen: list[Entry]) -> None:
    pairs = []
    for e in chosen:
        result = full_result(ws, e)
        if result and (result.get("curves") or result.get("acc_matrix")):
            pairs.append((e, result))
        else:
            st.caption(t("compare.side.no_results", run=name_of(e), status=state_text(e.state)))
    if not pairs:
        return
    n_tasks = max(len(r.get("tasks") or []) for _, r in pairs)
    longest = next((r for _, r in pairs if len(r.get("tasks") or []) == n_tasks), {})
    info = BENCHMARKS.get((longest.get("config") or {}).get("benchmark"))
    task_names = [controls.task_title(name, info and info.dataset) for name in longest.get("tasks") or []]
    left, right = st.columns([3, 2])
    modes = {mode: t(key) for mode, key in CURVE_MODES.items()}
    view = left.radio(
        t("compare.side.curves"),
        list(modes),
        horizontal=True,
        key="cmp_curve_mode",
        format_func=modes.get,
        help=t("compare.side.curves_help"),
    )
    task = None
    label = ""
    if view == "task" and n_tasks:
        task = right.selectbox(
            t("compare.side.task"),
            list(range(n_tasks)),
            format_func=lambda j: f"{j + 1}: {task_names[j]}",
            key="cmp_curve_task",
        )
        label = t("compare.side.task_label", n=task + 1, name=task_names[task])
    st.plotly_chart(overlay_figure(pairs, task, label), key="cmp_overlay", width="stretch")
    st.caption(t("compare.side.curves_caption"))

    has_til = [bool(r.get("acc_matrix_task_il")) for _, r in pairs]
    use_til = False
    if any(has_til):
        scenarios = {s: t(f"common.scenario.{s}") for s in ("class-il", "task-il")}
        use_til = (
            st.radio(
                t("compare.side.heatmaps"),
                list(scenarios),
                horizontal=True,
                key="cmp_heat_scenario",
                format_func=scenarios.get,
                help=t("compare.side.heatmaps_help"),
            )
            == "task-il"
        )
    per_row = min(3, len(pairs))
    for start in range(0, len(pairs), per_row):
        cols = st.columns(max(2, per_row))  # a single heatmap keeps half the width
        for col, (e, r) in zip(cols, pairs[start : start + per_row]):
            matrix = r.get("acc_matrix_task_il") if use_til and r.get("acc_matrix_task_il") else r.get("acc_matrix")
            fig = charts.accuracy_heatmap(
                matrix or [],
                r.get("tasks") or [],
                name_of(e),
                offline=bool(r.get("offline")),
                text=charts.translated(t),
            )
            col.plotly_chart(fig, key=f"cmp_heat_{e.id}", width="stretch")

    configs = [e.config for e, _ in pairs]
    differing = differing_knobs(configs)
    shown = [e for e, _ in pairs]
    st.markdown(t("compare.side.metrics"))
    st.dataframe(styled_metrics(metrics_frame(shown, differing), differing), width="stretch", key="cmp_metrics")
    if len(pairs) > 1:
        if differing:
            st.caption(
                t("compare.side.differing", settings=", ".join(knob_label(k) if k in KNOBS else k for k in differing))
            )
        else:
            st.caption(t("compare.side.identical"))


def one_run_section(ws: str, entries: list[Entry]) -> None:
    by_id = {e.id: e for e in entries}
    ids = list(by_id)
    if st.session_state.get("cmp_one") not in by_id:
        chosen = st.session_state.get("cmp_sel") or []
        st.session_state["cmp_one"] = chosen[-1] if chosen else ids[-1]
    shown = {i: t("compare.one.run_option", run=name_of(e), status=state_text(e.state)) for i, e in by_id.items()}
    rid = st.selectbox(t("compare.one.run"), ids, key="cmp_one", format_func=shown.get)
    entry = by_id[rid]
    result = full_result(ws, entry) if entry.summary is not None or entry.live is not None else None
    c_dl, c_knob, c_del = st.columns([1, 2, 1])

    with c_dl:
        st.markdown(t("compare.one.downloads"))
        has_matrix = bool(result and result.get("acc_matrix"))
        st.download_button(
            t("compare.one.csv"),
            data=matrix_csv(result) if has_matrix else "",
            file_name=f"run-{rid}-accuracy-matrix.csv",
            mime="text/csv",
            disabled=not has_matrix,
            key="cmp_dl_csv",
            on_click="ignore",
        )
        st.download_button(
            t("compare.one.json"),
            data=json.dumps(result, indent=1) if result else "{}",
            file_name=f"run-{rid}.json",
            mime="application/json",
            disabled=not result,
            key="cmp_dl_json",
            on_click="ignore",
            help=t("compare.one.json_help"),
        )

    with c_knob:
        st.markdown(t("compare.knob.heading"))
        base = dict(entry.given or entry.config)
        options = knob_options(base)
        if st.session_state.get("cmp_knob") not in options:
            st.session_state["cmp_knob"] = options[0]
        labels = {option: knob_label(option) for option in options}
        knob = st.selectbox(t("compare.knob.knob"), options, format_func=labels.get, key="cmp_knob")
        current = knob_current(base, knob)
        if current is None:  # left to the engine's default when it started: show what it resolved to
            current = knob_current(entry.config, knob)
        choices = KNOBS.get(knob)
        new_label = t("compare.knob.new_value", knob=knob_label(knob), current=fmt_value(current))
        if choices:
            others = [c for c in choices if c != current]
            value = st.selectbox(new_label, others, key=f"cmp_knob_value_{knob}")
        else:
            value = st.text_input(new_label, key=f"cmp_knob_value_{knob}", placeholder=fmt_value(current))
        new_config, notes, error = None, [], None
        if value not in (None, ""):
            try:
                new_config, notes = changed_config(base, knob, value)
                if fmt_value(knob_current(new_config.to_dict(), knob)) == fmt_value(current):
                    new_config = None
                    error = t("compare.knob.unchanged", knob=knob_label(knob), current=fmt_value(current))
            except ConfigError as exc:
                error = controls.translate_error(exc)
        if error:
            st.error(error)
        for note in notes:
            st.caption(note)
        clicked = st.button(t("compare.knob.go"), key="cmp_knob_go", disabled=new_config is None, type="primary")
        if clicked and new_config is not None:
            try:
                label = t(
                    "compare.knob.run_label",
                    label=entry.label,
                    knob=knob_label(knob),
                    old=fmt_value(current),
                    new=fmt_value(value),
                )
                live = session.start_run(new_config, label=label[:120])
                live.bg.play()
                st.session_state["cmp_knob_msg"] = t(
                    "compare.knob.started", id=live.store_id, knob=knob_label(knob), value=fmt_value(value)
                )
                st.session_state["cmp_sel_add"] = live.store_id  # applied before the selector next run
                st.rerun()
            except ConfigError as exc:
                st.error(controls.translate_error(exc))
            except Exception as exc:  # noqa: BLE001 - e.g. data unavailable: say so beside the button
                st.error(t("compare.knob.start_failed", error=f"{type(exc).__name__}: {exc}"))
        if st.session_state.get("cmp_knob_msg"):
            st.success(st.session_state["cmp_knob_msg"])

    with c_del:
        st.markdown(t("compare.one.label_heading"))
        label = st.text_input(
            t("compare.one.label"),
            value=entry.label,
            key=f"cmp_label_{rid}",
            max_chars=120,
            label_visibility="collapsed",
        )
        if st.button(
            t("compare.one.rename"), key="cmp_rename", disabled=not label.strip() or label.strip() == entry.label
        ):
            session.run_store().rename(rid, label.strip(), workspace=ws)
            if entry.live is not None:
                entry.live.label = label.strip()
            st.rerun()
        st.markdown(t("compare.one.delete_heading"))
        if entry.training:
            st.caption(t("compare.one.still_training"))
        if st.button(t("compare.one.delete", id=rid), key="cmp_delete", disabled=entry.training):
            if entry.live is not None:
                session.discard(entry.live)  # out of this session's memory (it is not training)
            if session.run_store().delete(rid, ws):
                st.session_state["cmp_deleted"] = t("compare.one.deleted", id=rid, label=entry.label)
                st.rerun()
            else:
                st.error(t("compare.one.not_here", id=rid))


def grid_section(ws: str, entries: list[Entry]) -> None:
    job: GridJob | None = st.session_state.get("cmp_grid")
    running = job is not None and not job.finished
    by_id = {e.id: e for e in entries}
    c1, c2, c3 = st.columns(3)
    base_options = [None] + list(by_id)
    bases = {i: t("compare.grid.from_run", run=name_of(e)) for i, e in by_id.items()}
    bases[None] = t("compare.grid.recommended_base", benchmark=GRID_BENCHMARK)
    base_id = c1.selectbox(
        t("compare.grid.base"),
        base_options,
        key="cmp_grid_base",
        format_func=bases.get,
        help=t("compare.grid.base_help"),
    )
    strategies = c1.multiselect(
        t("compare.grid.strategies"), list(STRATEGIES), default=["finetune", "er"], key="cmp_grid_strats"
    )
    buffers = c2.multiselect(
        t("compare.grid.buffers"),
        GRID_BUFFERS,
        default=[DEFAULT_BUFFER],
        key="cmp_grid_buffers",
        help=t("compare.grid.buffers_help"),
    )
    seeds_text = c3.text_input(
        t("compare.grid.seeds"), value="0", key="cmp_grid_seeds", help=t("compare.grid.seeds_help")
    )
    places = {place: t(key) for place, key in GRID_PLACES.items()}
    where = st.radio(
        t("compare.grid.where"),
        list(places),
        horizontal=True,
        key="cmp_grid_where",
        format_func=places.get,
        help=t("compare.grid.where_help"),
    )
    on_executor = where == "executor"
    if on_executor:
        r1, r2 = st.columns(2)
        workers = r1.number_input(
            t("compare.grid.workers"),
            min_value=1,
            max_value=1024,
            value=os.cpu_count() or 1,
            key="cmp_grid_workers",
            help=t("compare.grid.workers_help"),
        )
        address = r2.text_input(
            t("compare.grid.address"), key="cmp_grid_address", help=t("compare.grid.address_help")
        ).strip()
        address_error = r2.empty()  # where a cluster that cannot be used is said so
    cells, error = [], None
    try:
        seeds = parse_seeds(seeds_text)
        if not strategies:
            raise ValueError(t("compare.grid.no_strategy"))
        if any(STRATEGIES[s].uses_buffer for s in strategies) and not buffers:
            raise ValueError(
                t("compare.grid.no_buffer", strategies=", ".join(s for s in strategies if STRATEGIES[s].uses_buffer))
            )
        base = None if base_id is None else dict(by_id[base_id].given or by_id[base_id].config)
        tag = t("compare.grid.tag", n=next_grid_number(entries))
        cells = grid_cells(base, strategies, buffers, seeds, tag)
        if len(cells) > MAX_GRID:
            raise ValueError(t("compare.grid.too_many", n=len(cells), most=MAX_GRID))
    except ValueError as exc:
        error = str(exc)
    except ConfigError as exc:
        error = controls.translate_error(exc)
    if error:
        c3.error(error)
    elif on_executor:
        c3.caption(t("compare.grid.plan_executor", n=len(cells), workers=workers))
    else:
        c3.caption(
            t("compare.grid.plan", n=len(cells), most=session.max_trainings(), running=session.trainings_running())
        )
    bad_address = False
    if on_executor and address:
        try:
            host_port(address)
        except SweepError as exc:
            address_error.error(sweep_error_text(exc))
            bad_address = True
    go = st.button(
        t("compare.grid.go"), key="cmp_grid_go", disabled=running or not cells or bad_address, type="primary"
    )
    if go and on_executor:
        grid = sweep_grid(base, strategies, buffers, seeds)
        try:
            st.session_state["cmp_grid"] = start_on_executor(session.launcher(), grid, tag, workers, address or None)
        except SweepError as exc:
            address_error.error(sweep_error_text(exc))
            return
        except GridError as exc:
            c3.error(t("compare.grid.ray_grid", error=str(exc)))
            return
        st.rerun()
    if go:
        st.session_state["cmp_grid"] = GridJob(session.launcher(), cells)
        st.rerun()  # the whole page, so that it redraws itself while the grid runs


def grid_progress() -> None:
    """Progress of this session's grid (a fragment: redraws itself while the grid runs)."""
    job: GridJob | None = st.session_state.get("cmp_grid")
    if job is None:
        return
    if is_busy() != st.session_state.get("cmp_refreshing", False):
        st.rerun()
    show_grid_progress(job)
    a, b, _ = st.columns([1, 1, 2])
    if not job.finished and a.button(t("compare.grid.cancel"), key="cmp_grid_cancel"):
        job.cancel()
    kept = (RunState.FINISHED, RunState.STOPPED)
    ids = [c.store_id for c in job.cells if c.store_id is not None and c.state in kept]
    if ids and b.button(t("compare.grid.select"), key="cmp_grid_select"):
        st.session_state["cmp_sel_set"] = ids[-16:]
        st.rerun()


def is_busy() -> bool:
    """Something of this session trains: the live parts of the page then redraw every REFRESH_S."""
    job = st.session_state.get("cmp_grid")
    if job is not None and not job.finished:
        return True
    return any(lr.state.active for lr in session.live_runs())


def signature(entries: list[Entry]) -> tuple:
    return tuple((e.id, e.state, e.label) for e in entries)


def runs_overview(ws: str) -> None:
    """The runs table (a fragment: redraws itself while something trains). When a run appears, ends or
    changes state, the whole page reruns so that the selector, charts and controls follow."""
    entries = collect_entries(ws)
    if signature(entries) != st.session_state.get("cmp_drawn") or is_busy() != st.session_state.get(
        "cmp_refreshing", False
    ):
        st.rerun()
    if not entries:
        st.info(t("compare.runs.none"))
        return
    st.dataframe(
        runs_table(entries),
        hide_index=True,
        width="stretch",
        key="cmp_runs",
        column_config={column(c): st.column_config.NumberColumn(column(c), format="%.1f") for c in NUMERIC_COLUMNS},
    )
    queued = [e for e in entries if e.state == RunState.QUEUED]
    if queued:
        st.warning(t("compare.runs.busy", n=len(queued)), icon=":material/hourglass_top:")


def page() -> None:
    session.run_through_app()
    i18n.language_switch()
    ws = session.workspace_id()
    entries = collect_entries(ws)
    st.session_state["cmp_drawn"] = signature(entries)
    st.session_state["cmp_refreshing"] = refreshing = is_busy()
    every = REFRESH_S if refreshing else None

    st.title(t("compare.title"))
    st.caption(t("compare.intro"))
    if store_warning := session.store_warning():  # runs are kept in memory only: say so where they are listed
        st.warning(store_warning, icon=":material/database:")
    if st.session_state.get("cmp_deleted"):
        st.success(st.session_state.pop("cmp_deleted"))
    st.fragment(run_every=every)(runs_overview)(ws)

    if entries:
        st.subheader(t("compare.side.heading"))
        ids = [e.id for e in entries]
        by_id = {e.id: e for e in entries}
        if "cmp_sel" not in st.session_state:
            with_results = [e.id for e in entries if e.summary and e.summary.get("avg_acc") is not None]
            st.session_state["cmp_sel"] = with_results[-2:]
        chosen = st.session_state.pop("cmp_sel_set", None) or st.session_state["cmp_sel"]
        added = st.session_state.pop("cmp_sel_add", None)
        st.session_state["cmp_sel"] = [i for i in dict.fromkeys([*chosen, added]) if i in by_id]
        shown = {
            i: t("compare.side.select_option", run=name_of(e), status=state_text(e.state)) for i, e in by_id.items()
        }
        selected = st.multiselect(
            t("compare.side.select"), ids, key="cmp_sel", format_func=shown.get, help=t("compare.side.select_help")
        )
        if selected:
            compare_section(ws, [by_id[i] for i in selected])

        st.subheader(t("compare.one.heading"))
        one_run_section(ws, entries)

    st.subheader(t("compare.grid.heading"))
    st.caption(t("compare.grid.intro"))
    grid_section(ws, entries)
    st.fragment(run_every=every)(grid_progress)()


page()
