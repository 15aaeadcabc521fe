"""Pieces several strategy views share: curves of per-step statistics, and the accuracies of a
strategy's several models side by side."""
from __future__ import annotations

import streamlit as st

from pages.shared import charts

NO_BAR = {"displayModeBar": False}


def stat_series(snap, names: dict) -> tuple[list, dict]:
    """(steps, {label: values}) of the per-step statistics `names` (stat key -> label) from the windows
    that report any of them, thinned for the browser."""
    rows = [(step, values) for step, values in snap.step_stats
            if isinstance(values, dict) and any(k in values for k in names)]
    idx = charts.thin_indices(len(rows))
    steps = [rows[i][0] for i in idx]
    return steps, {label: [rows[i][1].get(key) for i in idx] for key, label in names.items()}


def stat_curves(snap, names: dict, title: str, y_title: str, key: str, y_range=None,
                empty: str = "This chart fills in as training runs.") -> bool:
    """Draw `stat_series` as lines; returns False (and says `empty`) when nothing was reported yet."""
    steps, series = stat_series(snap, names)
    if not steps:
        st.info(empty)
        return False
    st.plotly_chart(charts.stat_curves(steps, series, title, y_title, snap.boundaries, y_range), key=key,
                    config=NO_BAR)
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
            seen = e.acc[m][:min(e.task + 1, snap.n_tasks)]
            values.append(sum(seen) / len(seen) if seen else None)
        curves[m] = values
    final = {m: (snap.matrix.get(m) or [[]])[-1] for m in snap.models}
    if not any(final.values()) and evals:
        final = {m: evals[-1].acc[m] for m in snap.models}
    st.plotly_chart(charts.model_accuracies([evals[i].step for i in idx], curves, final, snap.task_names,
                                            title=title, task_boundaries=snap.boundaries),
                    key=key, config=NO_BAR)
