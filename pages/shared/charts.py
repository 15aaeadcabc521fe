"""Plotly figures for the app's views: pure functions from plain data (lists, dicts) to a Figure.

No Streamlit here, so every chart can be built and checked in a test or a notebook. Colours are
colour-blind safe throughout: Okabe & Ito's qualitative palette for tasks and models, Viridis for
accuracies (fixed 0-100 scale) and Cividis for importance; never a red-green scale.

Figures are assembled as plain dicts in one go (subplots laid out by hand, task boundaries as layout
shapes) and wrapped without plotly's per-property validation: the live views redraw several figures
every half second while a training thread shares the interpreter, and validation made each figure
cost 50-400 ms instead of a few. Set VALIDATE = True (the tests do) to have plotly check every property.

The words a figure writes itself (axis titles, legend and hover words, default titles) come from TEXT,
in English; every builder takes `text=`, a dict of the active language's words, which the pages make with
`charts.translated(i18n.t)` (catalog table `charts`, one key per TEXT entry).
"""

from __future__ import annotations

import math
import unicodedata

import plotly.graph_objects as go

VALIDATE = False

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
ACCURACY_SCALE = "Viridis"
IMPORTANCE_SCALE = "Cividis"
MODEL_COLOURS = {"student": "#009E73", "plastic": "#E69F00", "stable": "#0072B2"}
TEACHER_COLOURS = {"plastic": "#E69F00", "stable": "#0072B2"}
BOUNDARY_LINE = {"color": "#777777", "width": 1, "dash": "dash"}
NO_BAR = {"displayModeBar": False}

# The figures' own words, English; `translated(t)` gives the same keys in the active language.
TEXT = {
    "training_step": "training step",
    "step": "step",
    "epoch": "epoch",
    "accuracy": "accuracy",
    "test_accuracy": "test accuracy (%)",
    "all_tasks": "all tasks",
    "acc_percent": "acc %",
    "evaluated_on_task": "evaluated on task",
    "after_training_task": "after training task",
    "after_training": "after training",
    "evaluated_on": "evaluated on",
    "loss_title": "Training loss",
    "loss": "loss",
    "mean_loss": "mean loss over the last steps",
    "buffer_title": "Replay buffer composition",
    "samples_in_buffer": "samples in the buffer",
    "samples": "samples",
    "relative": "relative",
    "importance": "importance",
    "histogram_title": "Importance per parameter tensor (log10)",
    "log10_importance": "log10 importance",
    "weights": "weights",
    "teacher_title": "CLS-ER: which teacher each replayed buffer sample took",
    "teacher_share_panel": "share taking the stable teacher, by the sample's task",
    "teacher_totals_panel": "all steps so far: samples per teacher",
    "took_stable": "took the stable teacher",
    "all_buffer_samples": "all buffer samples",
    "teacher_plastic": "plastic (fast) teacher",
    "teacher_stable": "stable (slow) teacher",
    "task_share": "% of the task's buffer samples",
    "buffer_samples": "buffer samples",
    "models_title": "Working, plastic and stable models side by side",
    "models_average_panel": "average accuracy on the tasks seen so far",
    "models_final_panel": "accuracy per task after the last finished task",
    "mean": "mean",
    "model_student": "working model (student)",
    "model_plastic": "plastic (fast) model",
    "model_stable": "stable (slow) model",
}


def translated(lookup) -> dict[str, str]:
    """TEXT in another language: `lookup` is the pages' `i18n.t` (key `charts.<name>` for each word)."""
    return {name: lookup(f"charts.{name}") for name in TEXT}


def _words(text) -> dict[str, str]:
    return {**TEXT, **(text or {})}


def model_name(model: str, text=None) -> str:
    """A CLS-ER model's legend name ('student' -> 'working model (student)'); other names unchanged."""
    return _words(text).get(f"model_{model}", model)


def _plain(value):
    """Tensors / arrays to nested lists; everything else unchanged."""
    return value.tolist() if hasattr(value, "tolist") else value


def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def task_style(index: int) -> dict:
    """Line colour and dash of task `index` (beyond 8 tasks the dash pattern changes too)."""
    return {"color": PALETTE[index % len(PALETTE)], "dash": DASHES[(index // len(PALETTE)) % len(DASHES)]}


def task_labels(n: int) -> list[str]:
    return [f"T{j + 1}" for j in range(n)]


def thin_indices(n: int, keep=(), limit: int = 600) -> list[int]:
    """Indices of at most `limit` evenly spread items of n (plus the last one and `keep`): what a curve
    sends to the browser."""
    if n <= limit:
        return list(range(n))
    stride = math.ceil(n / limit)
    return sorted(set(range(0, n, stride)) | {n - 1} | set(keep))


# Margins that already hold the axes' tick labels and titles and the legend. Streamlit mounts a new chart at
# every live redraw, and a label that does not fit its margin makes plotly widen the margin (automargin) and draw
# the whole figure a second time: with 10 px margins every redraw was drawn twice, most of a playing page's
# browser time (bench/LOAD.md, session 10). automargin stays on for labels wider than these. The right margin holds
# half of a step axis's last tick label when it falls on the plot's right edge ("5000" needed 24 px).
MARGIN = {"l": 84, "r": 30, "t": 50, "b": 76}
LEGEND_GAP_PX = 72  # from the plot area's bottom to the legend: the x tick labels and the axis title
LEGEND_ROW_PX = 24
LEGEND_PAD_PX = 20
LEGEND_WIDTH_PX = 300  # the plot area of a live chart in the Playground's two columns on a laptop screen


def _text_px(text: str) -> float:
    """About how wide `text` is in the legend's 11 px font: East Asian characters are twice as wide."""
    return sum(11.5 if unicodedata.east_asian_width(c) in "WF" else 6.2 for c in text)


def legend_rows(names) -> int:
    """Rows a horizontal legend of `names` takes in LEGEND_WIDTH_PX, laid out as plotly's legend/draw.js does:
    an entry is 40 px (line sample and gaps) plus its text, 5 px apart; a legend that does not fit in one row is
    a grid whose cells are as wide as its widest entry."""
    widths = [40 + _text_px(name) for name in names]
    if sum(widths) + 5 * (len(widths) - 1) < LEGEND_WIDTH_PX:
        return 1
    per_row = max(1, int((LEGEND_WIDTH_PX + 5) // (max(widths) + 5)))
    return math.ceil(len(widths) / per_row)


def figure(data: list, layout: dict, title: str, height: int, legend: bool = True) -> go.Figure:
    """A figure with this module's shared layout: margins that hold its labels, the legend below the plot area
    (the figure grows by a row's height for each legend row after the first), no plotly template."""
    layout = dict(layout)  # the caller's layout stays as given
    margin = {**MARGIN, **layout.pop("margin", {})}
    legend_layout = {"orientation": "h", "yanchor": "top", "x": 0, "font": {"size": 11}}
    names = [str(trace["name"]) for trace in data if trace.get("name") and trace.get("showlegend", True)]
    if legend and names:
        rows = legend_rows(names)
        margin["b"] = LEGEND_GAP_PX + rows * LEGEND_ROW_PX + LEGEND_PAD_PX
        height += (rows - 1) * LEGEND_ROW_PX  # the plot area keeps its height however long the legend
    # the legend's y is in plot-area heights below the plot area
    legend_layout["y"] = -LEGEND_GAP_PX / max(1, height - margin["t"] - margin["b"])
    base = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "height": height,
        "margin": margin,
        "showlegend": legend,
        "legend": legend_layout,
        # No plotly template: Streamlit's theme styles the chart, and copying plotly's default
        # template into every figure costs ~10 ms.
        "template": {},
    }
    base.update(layout)
    return go.Figure(data=data, layout=base, _validate=VALIDATE)


def _boundary_shapes(task_boundaries, xref: str = "x", yref: str = "y domain") -> list[dict]:
    return [
        {
            "type": "line",
            "x0": s,
            "x1": s,
            "y0": 0,
            "y1": 1,
            "xref": xref,
            "yref": yref,
            "line": BOUNDARY_LINE,
            "layer": "below",
        }
        for s in (task_boundaries or [])
    ]


def _unit(v: float) -> float:
    """A paper coordinate in [0, 1] (sums of floats overshoot: 1.0000000000000002)."""
    return min(1.0, max(0.0, round(v, 6)))


def _grid(rows: int, cols: int, hspace: float, vspace: float, titles=(), col_widths=None, top: float = 1.0):
    """Hand-made subplots: layout axes, title annotations and the (xaxis, yaxis) names of each cell,
    row-major. Cheaper than make_subplots."""
    widths = col_widths or [1.0 / cols] * cols
    scale = (1.0 - hspace * (cols - 1)) / sum(widths)
    widths = [w * scale for w in widths]
    height = (top - vspace * (rows - 1)) / rows
    layout, annotations, names = {}, [], []
    for r in range(rows):
        y1 = top - r * (height + vspace)
        y0 = y1 - height
        x0 = 0.0
        for c in range(cols):
            k = r * cols + c + 1
            suffix = "" if k == 1 else str(k)
            x1 = x0 + widths[c]
            layout[f"xaxis{suffix}"] = {"domain": [_unit(x0), _unit(x1)], "anchor": f"y{suffix}"}
            layout[f"yaxis{suffix}"] = {"domain": [_unit(y0), _unit(y1)], "anchor": f"x{suffix}"}
            names.append((f"x{suffix}", f"y{suffix}"))
            if k - 1 < len(titles):
                annotations.append(
                    {
                        "text": str(titles[k - 1]),
                        "x": (x0 + x1) / 2,
                        "y": y1,
                        "xref": "paper",
                        "yref": "paper",
                        "xanchor": "center",
                        "yanchor": "bottom",
                        "showarrow": False,
                        "font": {"size": 11},
                    }
                )
            x0 = x1 + hspace
    return layout, annotations, names


# ------------------------------------------------------------------------------------------------
# Accuracy
# ------------------------------------------------------------------------------------------------
def accuracy_heatmap(matrix, task_names, title: str, offline: bool = False, text=None) -> go.Figure:
    """R[i][j] = accuracy (%) on task j (columns) after training task i (rows), on a fixed 0-100 scale.

    The figure is always N x N (one row for offline / joint training); rows not trained yet stay empty,
    so the matrix visibly fills in row by row. Values are written in the cells."""
    words = _words(text)
    matrix = [list(_plain(row)) for row in (_plain(matrix) or [])]
    n = len(task_names)
    labels = task_labels(n)
    rows = [words["all_tasks"]] if offline else labels
    z = [[None] * n for _ in rows]
    for i, row in enumerate(matrix[: len(rows)]):
        z[i] = [_num(v) for v in row[:n]] + [None] * max(0, n - len(row))
    cells = [["" if v is None else f"{v:.0f}" for v in row] for row in z]
    names = [[str(task_names[j]) for j in range(n)] for _ in rows]
    trace = {
        "type": "heatmap",
        "z": z,
        "x": labels,
        "y": rows,
        "zmin": 0,
        "zmax": 100,
        "colorscale": ACCURACY_SCALE,
        "text": cells,
        "texttemplate": "%{text}",
        "textfont": {"size": 13 if n <= 10 else 9},
        "customdata": names,
        "xgap": 2,
        "ygap": 2,
        "hoverongaps": False,
        "colorbar": {"title": {"text": words["acc_percent"]}, "thickness": 12},
        "hovertemplate": f"{words['after_training']}: %{{y}}<br>{words['evaluated_on']}: %{{x}} "
        f"(%{{customdata}})<br>{words['accuracy']}: %{{z:.1f}}%<extra></extra>",
    }
    layout = {
        "xaxis": {"title": {"text": words["evaluated_on_task"]}, "type": "category", "showgrid": False},
        "yaxis": {
            "title": {"text": words["after_training_task"]},
            "type": "category",
            "autorange": "reversed",
            "showgrid": False,
        },
        "plot_bgcolor": "#f2f2f2",
        "margin": {"r": 96, **({"l": 110} if offline else {})},  # the colour bar; the row label "all tasks"
    }
    return figure([trace], layout, title, height=max(320, min(640, 150 + 34 * len(rows))), legend=False)


def forgetting_curves(steps, accs, task_boundaries, task_names, title: str, text=None) -> go.Figure:
    """One line per task: its test accuracy over training steps; dashed lines at task boundaries.
    `accs[j]` holds task j's accuracy at each of `steps`."""
    words = _words(text)
    steps = list(_plain(steps) or [])
    data = []
    for j, name in enumerate(task_names):
        values = [_num(v) for v in (_plain(accs[j]) if j < len(accs) else [])]
        data.append(
            {
                "type": "scatter",
                "x": steps[: len(values)],
                "y": values,
                "mode": "lines",
                "name": f"T{j + 1}: {name}",
                "line": {"width": 2, **task_style(j)},
                "hovertemplate": f"T{j + 1} ({name})<br>{words['step']} %{{x}}<br>"
                f"{words['accuracy']} %{{y:.1f}}%<extra></extra>",
            }
        )
    layout = {
        "yaxis": {"title": {"text": words["test_accuracy"]}, "range": [0, 102]},
        "xaxis": {"title": {"text": words["training_step"]}, "rangemode": "tozero"},
        "shapes": _boundary_shapes(task_boundaries),
    }
    return figure(data, layout, title, height=400)


def loss_curve(steps, loss, task_boundaries=None, title: str | None = None, text=None) -> go.Figure:
    words = _words(text)
    data = [
        {
            "type": "scatter",
            "x": list(_plain(steps) or []),
            "y": [_num(v) for v in _plain(loss) or []],
            "mode": "lines",
            "name": words["loss"],
            "line": {"color": PALETTE[0], "width": 1.5},
            "hovertemplate": f"{words['step']} %{{x}}<br>{words['loss']} %{{y:.3f}}<extra></extra>",
        }
    ]
    layout = {
        "yaxis": {"title": {"text": words["mean_loss"]}, "rangemode": "tozero"},
        "xaxis": {"title": {"text": words["training_step"]}, "rangemode": "tozero"},
        "shapes": _boundary_shapes(task_boundaries),
    }
    return figure(data, layout, title or words["loss_title"], height=320, legend=False)


def stat_curves(
    steps, series: dict, title: str, y_title: str, task_boundaries=None, y_range=None, height: int = 340, text=None
) -> go.Figure:
    """Lines of per-step statistics a strategy reports (e.g. how often A-GEM projected), one per entry of
    `series` (label -> values aligned with `steps`; None leaves a gap)."""
    words = _words(text)
    steps = list(_plain(steps) or [])
    data = [
        {
            "type": "scatter",
            "x": steps,
            "y": [_num(v) for v in _plain(values)],
            "mode": "lines",
            "name": str(label),
            "line": {"width": 2, **task_style(k)},
            "hovertemplate": f"{label}<br>{words['step']} %{{x}}<br>%{{y:.3g}}<extra></extra>",
        }
        for k, (label, values) in enumerate(series.items())
    ]
    layout = {
        "yaxis": {"title": {"text": y_title}, **({"range": list(y_range)} if y_range else {"rangemode": "tozero"})},
        "xaxis": {"title": {"text": words["training_step"]}, "rangemode": "tozero"},
        "shapes": _boundary_shapes(task_boundaries),
    }
    return figure(data, layout, title, height=height, legend=len(data) > 1)


def grouped_bars(
    categories, series: dict, title: str, y_title: str, stacked: bool = False, y_range=None, height: int = 340
) -> go.Figure:
    """Bars per category, one colour per entry of `series` (label -> one value per category), grouped
    side by side or stacked."""
    categories = [str(c) for c in _plain(categories)]
    data = [
        {
            "type": "bar",
            "x": categories,
            "y": [_num(v) for v in _plain(values)],
            "name": str(label),
            "marker": {"color": PALETTE[k % len(PALETTE)]},
            "hovertemplate": f"{label}<br>%{{x}}: %{{y:.3g}}<extra></extra>",
        }
        for k, (label, values) in enumerate(series.items())
    ]
    layout = {
        "margin": {"r": 50},  # half of the last category's label, which can be a long task name
        "barmode": "stack" if stacked else "group",
        "yaxis": {"title": {"text": y_title}, **({"range": list(y_range)} if y_range else {"rangemode": "tozero"})},
        "xaxis": {"type": "category"},
    }
    return figure(data, layout, title, height=height, legend=len(data) > 1)


def buffer_composition(
    steps, counts, group_names, title: str | None = None, task_boundaries=None, text=None
) -> go.Figure:
    """Stacked areas: how many buffer samples belong to each group (task or class) over training.
    `counts[k][g]` is the count of group g at `steps[k]`."""
    words = _words(text)
    steps = list(_plain(steps) or [])
    counts = _plain(counts) or []
    data = []
    for g, name in enumerate(group_names):
        data.append(
            {
                "type": "scatter",
                "x": steps,
                "y": [row[g] if g < len(row) else 0 for row in counts],
                "name": str(name),
                "mode": "lines",
                "stackgroup": "buffer",
                "line": {"width": 0.5, "color": task_style(g)["color"]},
                "hovertemplate": f"{name}<br>{words['step']} %{{x}}<br>%{{y}} {words['samples']}<extra></extra>",
            }
        )
    layout = {
        "yaxis": {"title": {"text": words["samples_in_buffer"]}, "rangemode": "tozero"},
        "xaxis": {"title": {"text": words["training_step"]}, "rangemode": "tozero"},
        "shapes": _boundary_shapes(task_boundaries),
    }
    return figure(data, layout, title or words["buffer_title"], height=380)


# ------------------------------------------------------------------------------------------------
# EWC / SI importance
# ------------------------------------------------------------------------------------------------
def importance_maps(maps, titles, title: str, cols: int = 4, normalise: bool = True, text=None) -> go.Figure:
    """A grid of 2-D maps (e.g. 28x28 first-layer importance per hidden unit, or per input pixel per
    task), drawn as images on the Cividis scale. With `normalise` each map is scaled to its own maximum,
    so the pattern of every map is visible whatever its total."""
    maps = [_plain(m) for m in maps]
    n = len(maps)
    if n == 0:
        return figure([], {}, title, height=120, legend=False)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    cell = 150 if cols >= 4 else 190
    height = 70 + rows * cell
    vspace = 30 / height if rows > 1 else 0.0
    layout, annotations, names = _grid(rows, cols, 0.02, vspace, titles, top=1.0 - 22 / height)
    data = []
    for k, m in enumerate(maps):
        if normalise:
            peak = max((max(r) for r in m), default=0.0) or 1.0
            m = [[v / peak for v in r] for r in m]
        xa, ya = names[k]
        data.append(
            {
                "type": "heatmap",
                "z": m,
                "coloraxis": "coloraxis",
                "xaxis": xa,
                "yaxis": ya,
                "name": str(titles[k]) if k < len(titles) else "",
                "hovertemplate": "x %{x}, y %{y}: %{z:.3g}<extra></extra>",
            }
        )
        layout["xaxis" + xa[1:]].update({"visible": False, "constrain": "domain"})
        layout["yaxis" + ya[1:]].update(
            {"visible": False, "autorange": "reversed", "scaleanchor": xa, "constrain": "domain"}
        )
    layout["annotations"] = annotations
    layout["margin"] = {"r": 120}  # the colour bar and its title
    layout["coloraxis"] = {
        "colorscale": IMPORTANCE_SCALE,
        "colorbar": {"title": {"text": _words(text)["relative" if normalise else "importance"]}, "thickness": 10},
    }
    return figure(data, layout, title, height=height, legend=False)


def importance_histograms(
    layers: dict, title: str | None = None, max_layers: int = 12, cols: int = 3, text=None
) -> go.Figure:
    """One histogram of log10(importance) per parameter tensor; `layers[name]` has 'log10_counts' and
    'log10_edges' (bins). Weight tensors first; at most `max_layers` panels."""
    words = _words(text)
    title = title or words["histogram_title"]
    order = list(layers)
    names = sorted(order, key=lambda k: (not k.endswith("weight"), order.index(k)))[:max_layers]
    if not names:
        return figure([], {}, title, height=120, legend=False)
    cols = max(1, min(cols, len(names)))
    rows = math.ceil(len(names) / cols)
    height = 80 + rows * 190
    layout, annotations, cells = _grid(rows, cols, 0.06, 70 / height if rows > 1 else 0.0, names, top=1.0 - 22 / height)
    data = []
    for k, name in enumerate(names):
        h = layers[name]
        edges = list(_plain(h["log10_edges"]))
        counts = list(_plain(h["log10_counts"]))
        centres = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
        width = (edges[1] - edges[0]) if len(edges) > 1 else 1.0
        xa, ya = cells[k]
        data.append(
            {
                "type": "bar",
                "x": centres,
                "y": counts,
                "width": width,
                "name": name,
                "xaxis": xa,
                "yaxis": ya,
                "marker": {"color": PALETTE[0]},
                "hovertemplate": f"{words['log10_importance']} %{{x:.2f}}<br>%{{y}} {words['weights']}<extra></extra>",
            }
        )
        layout["xaxis" + xa[1:]]["title"] = {"text": words["log10_importance"], "font": {"size": 10}}
    layout["annotations"] = annotations
    return figure(data, layout, title, height=height, legend=False)


# ------------------------------------------------------------------------------------------------
# CLS-ER
# ------------------------------------------------------------------------------------------------
def teacher_choices(
    steps, plastic, stable, task_names, title: str | None = None, task_boundaries=None, text=None
) -> go.Figure:
    """Left: over training, the share of buffer samples from each task whose consistency target came
    from the stable (slow) teacher; the rest took the plastic (fast) one. Right: totals per task.
    `plastic[k][t]` / `stable[k][t]`: counts of buffer samples of task t in the window ending at steps[k]."""
    words = _words(text)
    steps = list(_plain(steps) or [])
    plastic, stable = _plain(plastic) or [], _plain(stable) or []
    n = len(task_names)
    layout, annotations, cells = _grid(
        1, 2, 0.1, 0.0, [words["teacher_share_panel"], words["teacher_totals_panel"]], col_widths=[0.64, 0.36], top=0.92
    )
    data = []
    for t in range(n):
        share = []
        for p, s in zip(plastic, stable):
            total = p[t] + s[t]
            share.append(100.0 * s[t] / total if total else None)
        if any(v is not None for v in share):
            data.append(
                {
                    "type": "scatter",
                    "x": steps,
                    "y": share,
                    "mode": "lines",
                    "name": f"T{t + 1}: {task_names[t]}",
                    "line": {"width": 1.8, **task_style(t)},
                    "hovertemplate": f"T{t + 1}<br>{words['step']} %{{x}}<br>%{{y:.0f}}% "
                    f"{words['took_stable']}<extra></extra>",
                }
            )
    all_share = []
    for p, s in zip(plastic, stable):
        total = sum(p) + sum(s)
        all_share.append(100.0 * sum(s) / total if total else None)
    if steps:
        data.append(
            {
                "type": "scatter",
                "x": steps,
                "y": all_share,
                "mode": "lines",
                "name": words["all_buffer_samples"],
                "line": {"width": 3, "color": "#888888"},
                "opacity": 0.6,
            }
        )
    labels = task_labels(n)
    for key, counts in (("plastic", plastic), ("stable", stable)):
        totals = [sum(row[t] for row in counts) for t in range(n)]
        data.append(
            {
                "type": "bar",
                "x": labels,
                "y": totals,
                "name": words[f"teacher_{key}"],
                "marker": {"color": TEACHER_COLOURS[key]},
                "xaxis": "x2",
                "yaxis": "y2",
            }
        )
    layout["xaxis"].update({"title": {"text": words["training_step"]}})
    layout["yaxis"].update({"title": {"text": words["task_share"]}, "range": [0, 102]})
    layout["yaxis2"].update({"title": {"text": words["buffer_samples"]}})
    layout.update(
        {"barmode": "stack", "annotations": annotations, "shapes": _boundary_shapes(task_boundaries, "x", "y domain")}
    )
    return figure(data, layout, title or words["teacher_title"], height=430)


def model_accuracies(
    steps, curves: dict, final: dict, task_names, title: str | None = None, task_boundaries=None, text=None
) -> go.Figure:
    """Left: each model's average accuracy over the tasks seen so far, along training (live evaluations).
    Right: each model's accuracy per task after the last finished task (grouped bars, and their mean).
    `curves[model]` aligns with `steps`; `final[model]` is one accuracy per task."""
    words = _words(text)
    steps = list(_plain(steps) or [])
    layout, annotations, cells = _grid(
        1, 2, 0.1, 0.0, [words["models_average_panel"], words["models_final_panel"]], col_widths=[0.55, 0.45], top=0.92
    )
    data = []
    for k, (model, values) in enumerate(curves.items()):
        colour = MODEL_COLOURS.get(model, PALETTE[k % len(PALETTE)])
        data.append(
            {
                "type": "scatter",
                "x": steps,
                "y": [_num(v) for v in _plain(values)],
                "mode": "lines",
                "legendgroup": model,
                "name": model_name(model, words),
                "line": {"color": colour, "width": 2},
            }
        )
    labels = task_labels(len(task_names))
    for k, (model, values) in enumerate(final.items()):
        values = [_num(v) for v in _plain(values)]
        seen = [v for v in values if v is not None]
        colour = MODEL_COLOURS.get(model, PALETTE[k % len(PALETTE)])
        data.append(
            {
                "type": "bar",
                "x": labels[: len(values)] + [words["mean"]],
                "y": values + [sum(seen) / len(seen) if seen else None],
                "legendgroup": model,
                "name": model_name(model, words),
                "marker": {"color": colour},
                "showlegend": model not in curves,
                "xaxis": "x2",
                "yaxis": "y2",
                "hovertemplate": f"{model_name(model, words)}<br>%{{x}}: %{{y:.1f}}%<extra></extra>",
            }
        )
    layout["xaxis"].update({"title": {"text": words["training_step"]}})
    layout["yaxis"].update({"title": {"text": words["test_accuracy"]}, "range": [0, 102]})
    layout["yaxis2"].update({"range": [0, 102]})
    layout.update(
        {"barmode": "group", "annotations": annotations, "shapes": _boundary_shapes(task_boundaries, "x", "y domain")}
    )
    return figure(data, layout, title or words["models_title"], height=430)


def curves_over(x, series: dict, title: str, x_title: str, y_title: str, mark_x=None, height: int = 340) -> go.Figure:
    """Lines of `series` (label -> values aligned with `x`) over any x quantity (not training steps),
    with an optional dashed vertical line at `mark_x` (e.g. the chosen value)."""
    x = list(_plain(x) or [])
    data = [
        {
            "type": "scatter",
            "x": x,
            "y": [_num(v) for v in _plain(values)],
            "mode": "lines+markers",
            "name": str(label),
            "line": {"width": 2, **task_style(k)},
            "marker": {"size": 5},
            "hovertemplate": f"{label}<br>{x_title} %{{x:.3g}}<br>%{{y:.3g}}<extra></extra>",
        }
        for k, (label, values) in enumerate(series.items())
    ]
    shapes = (
        []
        if mark_x is None
        else [
            {
                "type": "line",
                "xref": "x",
                "yref": "y domain",
                "x0": mark_x,
                "x1": mark_x,
                "y0": 0,
                "y1": 1,
                "line": BOUNDARY_LINE,
            }
        ]
    )
    layout = {
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "xaxis": {"title": {"text": x_title}},
        "shapes": shapes,
    }
    return figure(data, layout, title, height=height, legend=len(data) > 1)


def epoch_curves(
    series: dict, title: str, y_title: str, log_y: bool = False, height: int = 340, text=None
) -> go.Figure:
    """Lines over epochs 1..n, one per entry of `series` (label -> one value per epoch), e.g. the loss of
    each retraining from scratch (GDumb)."""
    words = _words(text)
    data = [
        {
            "type": "scatter",
            "x": list(range(1, len(values) + 1)),
            "y": [_num(v) for v in _plain(values)],
            "mode": "lines",
            "name": str(label),
            "line": {"width": 2, **task_style(k)},
            "hovertemplate": f"{label}<br>{words['epoch']} %{{x}}<br>%{{y:.3g}}<extra></extra>",
        }
        for k, (label, values) in enumerate(series.items())
    ]
    layout = {
        "yaxis": {"title": {"text": y_title}, **({"type": "log"} if log_y else {"rangemode": "tozero"})},
        "xaxis": {"title": {"text": words["epoch"]}, "rangemode": "tozero"},
    }
    return figure(data, layout, title, height=height, legend=len(data) > 1)
