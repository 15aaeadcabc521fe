"""DEN's view (clcore.strategies.den): how the network grew, drawn at each task end from the strategy's
DENReport. Per task and hidden layer, the units it had, stacked as those carried over, those dynamic
expansion added (and group sparsity kept) and those split off drifting units; the parameter count over
tasks against the fixed-size MLP; and each task's training loss after selective retraining against the
threshold tau above which the network expands."""

from __future__ import annotations

import streamlit as st

from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, engine_name


@view("den", at_task_end=True)
def growth_views(snap, live) -> None:
    reports = [r for r in snap.reports if r is not None]
    if not reports:
        return
    st.subheader(t("views.den.title"))
    tasks = charts.task_labels(len(reports))
    bars, carried, added, duplicated = [], [], [], []
    for task, report in zip(tasks, reports):
        for i, layer in enumerate(report.layers):
            bars.append(t("views.den.bar", task=task, layer=engine_name(layer)))
            carried.append(report.units[i] - report.added[i] - report.duplicated[i])
            added.append(report.added[i])
            duplicated.append(report.duplicated[i])
    st.plotly_chart(
        charts.grouped_bars(
            bars,
            {t("views.den.carried"): carried, t("views.den.added"): added, t("views.den.duplicated"): duplicated},
            t("views.den.units_chart"),
            t("views.den.units"),
            stacked=True,
        ),
        key="pg_den_units",
        config=NO_BAR,
    )
    counts = {
        t("views.architecture.this_strategy"): [r.param_count for r in reports],
        t("views.architecture.fixed_size"): [r.baseline_params for r in reports],
    }
    st.plotly_chart(
        charts.grouped_bars(tasks, counts, t("views.architecture.params_chart"), t("views.common.parameters")),
        key="pg_den_params",
        config=NO_BAR,
    )
    if any(r.loss is not None for r in reports):
        st.plotly_chart(
            charts.curves_over(
                list(range(1, len(reports) + 1)),
                {
                    t("views.den.loss"): [r.loss for r in reports],
                    t("views.den.threshold"): [r.threshold for r in reports],
                },
                t("views.den.loss_chart"),
                t("views.den.task"),
                t("views.den.loss_axis"),
            ),
            key="pg_den_loss",
            config=NO_BAR,
        )
    last = reports[-1]
    at_start = [u - a - d for u, a, d in zip(last.units, last.added, last.duplicated)]
    selected = ", ".join(f"{s}/{u}" for s, u in zip(last.selected, at_start))
    st.caption(t("views.den.last_task", task=tasks[-1], selected=selected, pruned=sum(last.pruned)))
