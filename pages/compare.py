"""Compare: every run of this browser session's workspace, overlaid curves, heatmaps side by side, a
metrics table with the differing knob highlighted, "change one knob and run again", and a grid runner.

Only runs of this session's workspace are ever read (the store is always queried with it).

Every visible text comes from the string catalogs (pages/shared/i18n.py, table `compare`; the settings'
labels are the Playground controls' `controls.label.*`, the engine's ConfigError messages are translated by
controls.translate_error). Statuses, settings and metrics keep English codes inside (the store, the runs'
JSON) and are translated where they are shown. Options' format_func are lookups in texts made while the page
runs (not calls of t()): Streamlit's AppTest formats widget values outside the page's run, where the
session's language is unknown."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
import threading

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from clcore import STRATEGIES, ConfigError, RunConfig, RunState, make_config
from clcore.runs.metrics import accuracy_after_each_task
from clcore.settings.config import FIELDS
from clcore.settings.declaration import SETTINGS
from pages.shared import charts, controls, i18n, session
from pages.shared.i18n import t

# Okabe & Ito's colour-blind-safe palette; beyond 8 runs the dash pattern changes too.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
HIGHLIGHT = "background-color: #FFE08A; color: #000000; font-weight: 600"  # the knob(s) that differ
REFRESH_S = 1.5  # how often the page redraws while something of this session trains
MAX_GRID = 48  # runs per grid
GRID_BUFFERS = [20, 50, 100, 200, 500, 1000, 2000, 5120]
QUICK_BASE = {"benchmark": "split-mnist", "train_subset": 1000, "epochs": 1, "batch_size": 10, "lr": 0.03}

# Knobs offered by "change one knob" (declared settings: their choices, or a typed value where None), the
# runs table's columns (headers: catalog compare.column.<name>) and the settings compared between runs.
KNOBS = {s.name: (list(s.choices) if s.choices is not None else None) for s in SETTINGS if s.knob}
TABLE_KNOBS = tuple(s.name for s in SETTINGS if s.column)
COMPARED = sorted(s.name for s in SETTINGS if s.compared)
DEFAULT_BUFFER = 200  # a replay strategy's buffer when "change one knob" switches to it from none
CURVE_MODES = {"average": "compare.side.curve_average", "task": "compare.side.curve_task"}


def column(name: str) -> str:
    """A table header in the active language (catalog compare.column.<name>)."""
    return t(f"compare.column.{name}")


def state_text(state: RunState) -> str:
    """A run's state as shown (catalog state.<state>)."""
    return t(f"state.{state}")


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Entry:
    id: int
    label: str
    state: RunState
    created: float
    config: dict  # resolved (from the result) where known, else as given
    summary: dict | None  # metrics (no curves)
    live: session.LiveRun | None = None  # this session's live run (Playground or grid), if it is one
    given: dict | None = None  # the config as given when it started: the base of "change one knob"

    @property
    def training(self) -> bool:
        """Still advancing, or waiting for a training slot to."""
        return self.state.active


def _fmt_value(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def collect_entries(ws: str) -> list[Entry]:
    store = session.run_store()
    job = st.session_state.get("cmp_grid")
    live = {lr.store_id: lr for lr in session.live_runs() + (job.live_runs() if job else [])}
    entries = []
    for row in store.list_summaries(ws):
        summary = row.result
        config = (summary or {}).get("config") or row.config
        state = row.status
        lr = live.get(row.id)
        if lr is not None:
            state = lr.state
            config = lr.run.config.to_dict()
            if state.active or summary is None:
                full = session.result_of(lr)  # a consistent copy (cached once the run is over)
                summary = {
                    k: full.get(k)
                    for k in (
                        "avg_acc",
                        "forgetting",
                        "bwt",
                        "fwt",
                        "wall_s",
                        "steps",
                        "train_samples_per_s",
                        "offline",
                        "tasks",
                        "task_il",
                    )
                }
        entries.append(
            Entry(
                row.id,
                row.label or t("compare.runs.unnamed", id=row.id),
                state,
                row.created,
                config,
                summary,
                lr,
                row.config,
            )
        )
    return entries


def full_result(ws: str, entry: Entry) -> dict | None:
    if entry.live is not None:
        return session.result_of(entry.live)
    row = session.run_store().get(entry.id, ws)
    return row.result if row else None


def name_of(entry: Entry) -> str:
    return f"#{entry.id} {entry.label}"


def flat_knobs(config: dict) -> dict:
    """Every setting of a config as a display string, strategy parameters flattened."""
    out = {}
    for key in COMPARED:
        out[key] = _fmt_value(config.get(key))
    for name, value in (config.get("params") or {}).items():
        out[f"{config.get('strategy')}.{name}" if name else "params"] = _fmt_value(value)
    return out


def comparable(configs: list[dict]) -> list[dict]:
    """flat_knobs of each config; when the strategies differ, their parameters become one 'params' text."""
    if len({c.get("strategy") for c in configs}) > 1:
        configs = [
            {**c, "params": {"": ", ".join(f"{k}={_fmt_value(v)}" for k, v in (c.get("params") or {}).items()) or "–"}}
            for c in configs
        ]
    return [flat_knobs(c) for c in configs]


def differing_knobs(configs: list[dict]) -> list[str]:
    """The settings whose values are not all equal, in the order of KNOBS."""
    flats = comparable(configs)
    keys = sorted(set().union(*flats)) if flats else []
    order = {k: i for i, k in enumerate(KNOBS)}
    keys.sort(key=lambda k: (order.get(k, len(order)), k))
    return [k for k in keys if len({f.get(k, "–") for f in flats}) > 1]


def seen_average_curve(result: dict) -> tuple[list, list]:
    """Average accuracy over the tasks seen so far at each live evaluation (the forgetting curve)."""
    curves = result.get("curves") or {}
    steps = curves.get("steps") or []
    accs = curves.get("acc") or {}
    model = result.get("reported_model") or next(iter(accs), None)
    rows = accs.get(model) or []
    n = len(result.get("tasks") or []) or (len(rows[0]) if rows else 0)
    bounds = result.get("task_boundaries") or []
    xs, ys = [], []
    for step, acc in zip(steps, rows):
        seen = n if result.get("offline") else min(n, 1 + sum(1 for b in bounds if b < step))
        values = [a for a in (acc or [])[:seen] if a is not None]
        xs.append(step)
        ys.append(sum(values) / len(values) if values else None)
    return xs, ys


def task_curve(result: dict, task: int) -> tuple[list, list]:
    curves = result.get("curves") or {}
    accs = curves.get("acc") or {}
    model = result.get("reported_model") or next(iter(accs), None)
    rows = accs.get(model) or []
    steps = curves.get("steps") or []
    return list(steps), [(r[task] if r and task < len(r) else None) for r in rows]


def style_of(i: int) -> dict:
    return {"color": PALETTE[i % len(PALETTE)], "dash": DASHES[(i // len(PALETTE)) % len(DASHES)]}


def overlay_figure(pairs: list[tuple[Entry, dict]], task: int | None, task_label: str = "") -> go.Figure:
    words = charts.translated(t)
    fig = go.Figure()
    for i, (entry, result) in enumerate(pairs):
        style = style_of(i)
        name = name_of(entry)
        task_ends = t("compare.overlay.task_ends", run=name)
        if task is None:
            xs, ys = seen_average_curve(result)
        else:
            xs, ys = task_curve(result, task)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=name,
                legendgroup=name,
                line={"color": style["color"], "dash": style["dash"], "width": 2.5},
                hovertemplate=f"{name}<br>{words['step']} %{{x}}<br>%{{y:.1f}}%<extra></extra>",
            )
        )
        bounds = result.get("task_boundaries") or []
        matrix = result.get("acc_matrix") or []
        if task is None and matrix and bounds and not result.get("offline"):
            marks = accuracy_after_each_task(matrix)[: len(bounds)]
            fig.add_trace(
                go.Scatter(
                    x=bounds[: len(marks)],
                    y=marks,
                    mode="markers",
                    name=task_ends,
                    legendgroup=name,
                    showlegend=False,
                    marker={"color": style["color"], "size": 9, "symbol": i % 20},
                    hovertemplate=f"{name}<br>{t('compare.overlay.task_end_hover')}"
                    f"<br>{words['step']} %{{x}}<br>%{{y:.1f}}%<extra></extra>",
                )
            )
        elif task is not None and matrix and bounds:
            marks = [row[task] if task < len(row) else None for row in matrix][: len(bounds)]
            fig.add_trace(
                go.Scatter(
                    x=bounds[: len(marks)],
                    y=marks,
                    mode="markers",
                    showlegend=False,
                    name=task_ends,
                    legendgroup=name,
                    marker={"color": style["color"], "size": 9, "symbol": i % 20},
                )
            )
        for b in bounds[:-1]:
            fig.add_vline(x=b, line={"color": style["color"], "dash": "dot", "width": 1}, opacity=0.45)
    title = t("compare.overlay.average_title") if task is None else t("compare.overlay.task_title", task=task_label)
    fig.update_layout(
        title=title,
        xaxis_title=words["training_step"],
        yaxis_title=t("compare.overlay.y_title"),
        yaxis={"range": [0, 100]},
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": -0.35},
    )
    return fig


def matrix_csv(result: dict, task_il: bool = False) -> str:
    matrix = result.get("acc_matrix_task_il" if task_il else "acc_matrix") or []
    tasks = result.get("tasks") or [t("common.task_numbered", n=j + 1) for j in range(len(matrix[0]) if matrix else 0)]
    index = (
        [t("compare.csv.after_joint")]
        if result.get("offline")
        else [t("compare.csv.after_task", task=tasks[i]) for i in range(len(matrix))]
    )
    frame = pd.DataFrame(matrix, index=index, columns=tasks)
    frame.index.name = t("compare.csv.corner")
    buf = io.StringIO()
    frame.to_csv(buf, float_format="%.4f")
    return buf.getvalue()


def metrics_frame(entries: list[Entry], differing: list[str]) -> pd.DataFrame:
    rows = []
    for e, flat in zip(entries, comparable([e.config for e in entries])):
        s = e.summary or {}
        row = {column("run"): name_of(e), column("status"): state_text(e.state)}
        for k in differing:
            row[k] = flat.get(k, "–")  # settings keep their config names: the same in every language
        row.update(
            {
                column("avg_acc"): s.get("avg_acc"),
                column("forgetting"): s.get("forgetting"),
                column("bwt"): s.get("bwt"),
                column("fwt"): s.get("fwt"),
            }
        )
        if any((x.summary or {}).get("task_il") for x in entries):
            row[column("task_il_avg_acc")] = (s.get("task_il") or {}).get("avg_acc")
        row.update(
            {
                column("steps"): s.get("steps"),
                column("wall_s"): s.get("wall_s"),
                column("samples_per_s"): s.get("train_samples_per_s"),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows).set_index(column("run"))


def styled_metrics(frame: pd.DataFrame, differing: list[str]):
    numeric = [c for c in frame.columns if c not in differing and c != column("status")]
    frame = frame.copy()
    for c in numeric:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    styler = frame.style.format(precision=2, na_rep="–", subset=numeric)
    if differing:
        styler = styler.map(lambda _: HIGHLIGHT, subset=differing)
    avg_acc = column("avg_acc")
    if avg_acc in frame and frame[avg_acc].notna().sum() > 1:
        styler = styler.highlight_max(subset=[avg_acc], props="font-weight: 700; text-decoration: underline")
    return styler


# --------------------------------------------------------------------------------------------------
# Change one knob
# --------------------------------------------------------------------------------------------------
def knob_options(config: dict) -> list[str]:
    strategy = STRATEGIES.get(config.get("strategy"))
    params = [f"params.{p.name}" for p in strategy.params] if strategy else []
    return list(KNOBS) + params


def knob_label(knob: str) -> str:
    if knob.startswith("params."):
        return t("compare.knob.param", name=knob.split(".", 1)[1])
    return t(f"controls.label.{knob}")


def knob_current(config: dict, knob: str):
    if knob.startswith("params."):
        return (config.get("params") or {}).get(knob.split(".", 1)[1])
    return config.get(knob)


def changed_config(base: dict, knob: str, value) -> tuple[object, list[str]]:
    """The base config with one knob set to `value` (a string from a text box, or a choice), validated.
    Returns (RunConfig, notes about settings adjusted to keep it valid); raises ConfigError."""
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            raise ConfigError(knob, "empty")
    cfg = {k: v for k, v in base.items() if k in FIELDS}
    cfg["preset"] = None  # the new run is no longer the preset: its values are all explicit
    notes = []
    if knob.startswith("params."):
        cfg["params"] = {**(cfg.get("params") or {}), knob.split(".", 1)[1]: value}
    else:
        cfg[knob] = value
    if knob == "strategy":
        cfg["params"] = {}  # another strategy: its own defaults
        cls = STRATEGIES.get(value)
        if cls is not None and cls.uses_buffer and not int(cfg.get("buffer_size") or 0):
            cfg["buffer_size"] = DEFAULT_BUFFER
            notes.append(t("compare.knob.buffer_set", strategy=value, size=DEFAULT_BUFFER))
        if cls is not None and not cls.uses_buffer and cfg.get("buffer_size"):
            cfg["buffer_size"] = 0
    if knob == "benchmark":
        cfg["n_tasks"] = cfg["classes"] = cfg["scenario"] = None
    if knob == "n_tasks":
        cfg["classes"] = None
    if knob in ("batch_size", "epochs", "train_subset", "n_tasks", "benchmark"):
        cfg["eval_every"] = None  # re-derived: about 20 live evaluations per task
    if knob == "batch_size" and base.get("replay_batch_size") == base.get("batch_size"):
        cfg["replay_batch_size"] = None  # it followed the batch size
    if knob == "hidden" and isinstance(value, str):
        cfg["hidden"] = value
    return make_config(**cfg), notes


# --------------------------------------------------------------------------------------------------
# Grid runner: the cells go through the server's run queue, one after another
# --------------------------------------------------------------------------------------------------
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

    @property
    def done_count(self) -> int:
        return sum(c.outcome is not None for c in self.cells)

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


def grid_cells(base: dict, strategies: list[str], buffers: list[int], seeds: list[int], tag: str):
    """(label, validated config) per grid cell; strategies without a buffer ignore the buffer sizes."""
    cells, seen = [], set()
    for strategy in strategies:
        cls = STRATEGIES[strategy]
        for buffer in buffers if cls.uses_buffer else [0]:
            for seed in seeds:
                key = (strategy, buffer, seed)
                if key in seen:
                    continue
                seen.add(key)
                cfg = {k: v for k, v in base.items() if k in FIELDS}
                same = cfg.get("strategy") == strategy
                cfg.update(
                    strategy=strategy,
                    buffer_size=buffer,
                    seed=seed,
                    preset=None,
                    params=(cfg.get("params") or {}) if same else {},
                )
                label = (
                    t("compare.grid.label_buffer", tag=tag, strategy=strategy, buffer=buffer, seed=seed)
                    if cls.uses_buffer
                    else t("compare.grid.label", tag=tag, strategy=strategy, seed=seed)
                )
                cells.append((label, make_config(**cfg)))
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


# --------------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------------
NUMERIC_COLUMNS = ("avg_acc", "forgetting", "bwt", "fwt", "wall_s")  # of the runs table, one decimal shown


def runs_table(entries: list[Entry]) -> pd.DataFrame:
    rows = []
    for e in entries:
        s = e.summary or {}
        row = {"#": e.id, column("label"): e.label, column("status"): state_text(e.state)}
        for key in TABLE_KNOBS:
            row[column(key)] = _fmt_value(e.config.get(key))
        row[column("params")] = ", ".join(f"{k}={_fmt_value(v)}" for k, v in (e.config.get("params") or {}).items())
        row.update(
            {
                column("avg_acc"): s.get("avg_acc"),
                column("forgetting"): s.get("forgetting"),
                column("bwt"): s.get("bwt"),
                column("fwt"): s.get("fwt"),
                column("wall_s"): s.get("wall_s"),
                column("created"): dt.datetime.fromtimestamp(e.created).strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    for c in NUMERIC_COLUMNS:
        frame[column(c)] = pd.to_numeric(frame[column(c)], errors="coerce").astype("float64")
    return frame


def show_grid_progress(job: GridJob) -> None:
    total = len(job.cells)
    done = job.done_count
    if job.finished:
        failed = sum(c.state == RunState.FAILED for c in job.cells)
        cancelled = sum(c.state == RunState.CANCELLED for c in job.cells)
        text = (
            t("compare.grid.done", finished=done - failed - cancelled, total=total)
            + (t("compare.grid.done_failed", n=failed) if failed else "")
            + (t("compare.grid.done_cancelled", n=cancelled) if cancelled else "")
        )
        st.progress(1.0, text=text)
        for c in job.cells:
            if c.state == RunState.FAILED:
                st.error(t("compare.grid.failed", label=c.label, message=c.message))
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
    task_names = next((r["tasks"] for _, r in pairs if len(r.get("tasks") or []) == n_tasks), [])
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
        new_label = t("compare.knob.new_value", knob=knob_label(knob), current=_fmt_value(current))
        if choices:
            others = [c for c in choices if c != current]
            value = st.selectbox(new_label, others, key=f"cmp_knob_value_{knob}")
        else:
            value = st.text_input(new_label, key=f"cmp_knob_value_{knob}", placeholder=_fmt_value(current))
        new_config, notes, error = None, [], None
        if value not in (None, ""):
            try:
                new_config, notes = changed_config(base, knob, value)
                if _fmt_value(knob_current(new_config.to_dict(), knob)) == _fmt_value(current):
                    new_config = None
                    error = t("compare.knob.unchanged", knob=knob_label(knob), current=_fmt_value(current))
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
                    old=_fmt_value(current),
                    new=_fmt_value(value),
                )
                live = session.start_run(new_config, label=label[:120])
                live.bg.play()
                st.session_state["cmp_knob_msg"] = t(
                    "compare.knob.started", id=live.store_id, knob=knob_label(knob), value=_fmt_value(value)
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


def next_grid_number(entries: list[Entry]) -> int:
    """1 + the highest grid number among the runs' labels, tagged in any language ("grid 2:", "网格 2：")."""
    numbers = []
    for code in i18n.LANGUAGES:
        tag = re.escape(i18n.catalog(code)["compare.grid.tag"]).replace(re.escape("{n}"), r"(\d+)")
        numbers += [int(m.group(1)) for e in entries if (m := re.match(tag, e.label))]
    return max(numbers, default=0) + 1


def grid_section(ws: str, entries: list[Entry]) -> None:
    job: GridJob | None = st.session_state.get("cmp_grid")
    running = job is not None and not job.finished
    by_id = {e.id: e for e in entries}
    c1, c2, c3 = st.columns(3)
    base_options = [None] + list(by_id)
    bases = {i: t("compare.grid.from_run", run=name_of(e)) for i, e in by_id.items()}
    bases[None] = t("compare.grid.quick_base", benchmark=QUICK_BASE["benchmark"], examples=QUICK_BASE["train_subset"])
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
    cells, error = [], None
    try:
        seeds = parse_seeds(seeds_text)
        if not strategies:
            raise ValueError(t("compare.grid.no_strategy"))
        if any(STRATEGIES[s].uses_buffer for s in strategies) and not buffers:
            raise ValueError(
                t("compare.grid.no_buffer", strategies=", ".join(s for s in strategies if STRATEGIES[s].uses_buffer))
            )
        base = dict(QUICK_BASE) if base_id is None else dict(by_id[base_id].given or by_id[base_id].config)
        tag = t("compare.grid.tag", n=next_grid_number(entries))
        cells = grid_cells(base, strategies, buffers, seeds, tag)
        if len(cells) > MAX_GRID:
            raise ValueError(t("compare.grid.too_many", n=len(cells), most=MAX_GRID))
    except ValueError as exc:
        error = str(exc)
    except ConfigError as exc:
        error = controls.translate_error(str(exc))
    if error:
        c3.error(error)
    else:
        c3.caption(
            t("compare.grid.plan", n=len(cells), most=session.max_trainings(), running=session.trainings_running())
        )
    if st.button(t("compare.grid.go"), key="cmp_grid_go", disabled=running or not cells, type="primary"):
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
