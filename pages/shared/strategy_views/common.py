"""Pieces several strategy views share: curves of per-step statistics, the accuracies of a strategy's
several models side by side, strategy titles, and the engine's English names of layers and owners
(in task-end reports) in the interface's language."""

from __future__ import annotations

import re

import streamlit as st

from pages.shared import charts
from pages.shared.i18n import t

NO_BAR = charts.NO_BAR

# Names the engine writes into task-end reports (clcore.mechanics.task_aware.CapacityReport, clcore.mechanics.latent):
# exact names and numbered ones, with the catalog key of each. A name not listed is shown as the engine wrote it.
ENGINE_NAMES = {
    "heads": "views.common.engine.heads",
    "output (heads)": "views.common.engine.output_heads",
    "classifier": "views.common.engine.classifier",
    "free": "views.common.engine.free",
    "shared": "views.common.engine.shared",
    "no mask": "views.common.engine.no_mask",
    "hypernetwork and embeddings": "views.common.engine.hypernetwork",
}
ENGINE_NUMBERED = (
    (re.compile(r"layer (\d+)"), "views.common.engine.layer"),
    (re.compile(r"block (\d+) \(no parameters\)"), "views.common.engine.empty_block"),
)


def engine_name(name: str) -> str:
    """A layer or owner name from an engine report, translated where the catalog knows it."""
    if name in ENGINE_NAMES:
        return t(ENGINE_NAMES[name])
    for pattern, key in ENGINE_NUMBERED:
        if match := pattern.fullmatch(name):
            return t(key, n=match.group(1))
    return name


# Models some strategies evaluate beside the reported one (CLS-ER's three are named by the charts' words).
MODEL_KEYS = ("nme", "linear", "knowledge_base", "active")


def chart_text() -> dict[str, str]:
    """The words charts.py's builders write themselves, and the strategies' model names, in the
    interface's language (the builders' `text=`)."""
    return {**charts.translated(t), **{f"model_{m}": t(f"views.common.model.{m}") for m in MODEL_KEYS}}


def strategy_title(name: str) -> str:
    """The strategy's title in the interface's language."""
    return t(f"strategy_ui.{name}.title")


def stat_series(snap, names: dict) -> tuple[list, dict]:
    """(steps, {label: values}) of the per-step statistics `names` (stat key -> label) from the windows
    that report any of them, thinned for the browser."""
    rows = [
        (step, values)
        for step, values in snap.step_stats
        if isinstance(values, dict) and any(k in values for k in names)
    ]
    idx = charts.thin_indices(len(rows))
    steps = [rows[i][0] for i in idx]
    return steps, {label: [rows[i][1].get(key) for i in idx] for key, label in names.items()}


def stat_curves(snap, names: dict, title: str, y_title: str, key: str, y_range=None, empty: str | None = None) -> bool:
    """Draw `stat_series` as lines; returns False (and says `empty`, or that the chart fills in as
    training runs) when nothing was reported yet."""
    steps, series = stat_series(snap, names)
    if not steps:
        st.info(empty or t("views.common.empty"))
        return False
    st.plotly_chart(
        charts.stat_curves(steps, series, title, y_title, snap.boundaries, y_range, text=chart_text()),
        key=key,
        config=NO_BAR,
    )
    return True


def model_accuracies(snap, title: str, key: str) -> None:
    """Each evaluated model's average accuracy over the tasks seen so far (live evaluations), and its
    accuracy per task after the last finished task."""
    evals = snap.evals
    idx = charts.thin_indices(len(evals))
    curves = {}
    for m in snap.models:
        values = []
        for i in idx:
            e = evals[i]
            seen = e.acc[m][: min(e.task + 1, snap.n_tasks)]
            values.append(sum(seen) / len(seen) if seen else None)
        curves[m] = values
    final = {m: (snap.matrix.get(m) or [[]])[-1] for m in snap.models}
    if not any(final.values()) and evals:
        final = {m: evals[-1].acc[m] for m in snap.models}
    st.plotly_chart(
        charts.model_accuracies(
            [evals[i].step for i in idx],
            curves,
            final,
            snap.task_names,
            title=title,
            task_boundaries=snap.boundaries,
            text=chart_text(),
        ),
        key=key,
        config=NO_BAR,
    )
