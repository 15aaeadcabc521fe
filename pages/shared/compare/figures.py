"""Compare's figures and tables, built from results and runs (no Streamlit calls): the overlaid accuracy
curves, the metrics table with the differing settings highlighted, the runs table and the accuracy matrix as
CSV. Headers and statuses are translated; settings keep their config names."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import plotly.graph_objects as go

from clcore.runs.metrics import accuracy_after_each_task
from clcore.settings.declaration import SETTINGS
from pages.shared import charts
from pages.shared.compare.knobs import comparable, fmt_value
from pages.shared.compare.runs import Entry, name_of, state_text
from pages.shared.i18n import t

HIGHLIGHT = "background-color: #FFE08A; color: #000000; font-weight: 600"  # the knob(s) that differ
TABLE_KNOBS = tuple(s.name for s in SETTINGS if s.column)  # the runs table's settings (catalog compare.column.*)
NUMERIC_COLUMNS = ("avg_acc", "forgetting", "bwt", "fwt", "wall_s")  # of the runs table, one decimal shown


def column(name: str) -> str:
    """A table header in the active language (catalog compare.column.<name>)."""
    return t(f"compare.column.{name}")


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
    """Run i's line: the colour-blind-safe palette's colours, then the same colours with the next dash pattern."""
    palette, dashes = charts.PALETTE, charts.DASHES
    return {"color": palette[i % len(palette)], "dash": dashes[(i // len(palette)) % len(dashes)]}


def overlay_figure(pairs: list[tuple[Entry, dict]], task: int | None, task_label: str = "") -> go.Figure:
    words = charts.translated(t)
    data, shapes = [], []
    for i, (entry, result) in enumerate(pairs):
        style = style_of(i)
        name = name_of(entry)
        xs, ys = seen_average_curve(result) if task is None else task_curve(result, task)
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": ys,
                "mode": "lines",
                "name": name,
                "legendgroup": name,
                "line": {"color": style["color"], "dash": style["dash"], "width": 2.5},
                "hovertemplate": f"{name}<br>{words['step']} %{{x}}<br>%{{y:.1f}}%<extra></extra>",
            }
        )
        bounds = result.get("task_boundaries") or []
        matrix = result.get("acc_matrix") or []
        marks, hover = None, None  # each task's end on the curve: the accuracy then
        if task is None and matrix and bounds and not result.get("offline"):
            marks = accuracy_after_each_task(matrix)[: len(bounds)]
            hover = (
                f"{name}<br>{t('compare.overlay.task_end_hover')}"
                f"<br>{words['step']} %{{x}}<br>%{{y:.1f}}%<extra></extra>"
            )
        elif task is not None and matrix and bounds:
            marks = [row[task] if task < len(row) else None for row in matrix][: len(bounds)]
        if marks is not None:
            data.append(
                {
                    "type": "scatter",
                    "x": bounds[: len(marks)],
                    "y": marks,
                    "mode": "markers",
                    "name": t("compare.overlay.task_ends", run=name),
                    "legendgroup": name,
                    "showlegend": False,
                    "marker": {"color": style["color"], "size": 9, "symbol": i % 20},
                    "hovertemplate": hover,  # None: a task's own curve keeps plotly's default hover
                }
            )
        shapes += [
            {
                "type": "line",
                "x0": b,
                "x1": b,
                "y0": 0,
                "y1": 1,
                "xref": "x",
                "yref": "y domain",
                "line": {"color": style["color"], "dash": "dot", "width": 1},
                "opacity": 0.45,
            }
            for b in bounds[:-1]
        ]
    title = t("compare.overlay.average_title") if task is None else t("compare.overlay.task_title", task=task_label)
    layout = {
        "xaxis": {"title": {"text": words["training_step"]}},
        "yaxis": {"title": {"text": t("compare.overlay.y_title")}, "range": [0, 100]},
        "shapes": shapes,
    }
    return charts.figure(data, layout, title, height=420)


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


def runs_table(entries: list[Entry]) -> pd.DataFrame:
    rows = []
    for e in entries:
        s = e.summary or {}
        row = {"#": e.id, column("label"): e.label, column("status"): state_text(e.state)}
        for key in TABLE_KNOBS:
            row[column(key)] = fmt_value(e.config.get(key))
        row[column("params")] = ", ".join(f"{k}={fmt_value(v)}" for k, v in (e.config.get("params") or {}).items())
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
