"""Meta-continual learning: MER's gradient alignment between new and replayed samples (against the step ER
would take from the same weights), and La-MAML's learned per-weight learning rates (their spread over time,
and the first layer's as one image per hidden unit)."""

from __future__ import annotations

import streamlit as st

from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, chart_text, stat_curves


@view("mer")
def mer_views(snap, live) -> None:
    st.subheader(t("views.mer.title"))
    stat_curves(
        snap,
        {
            "alignment_before": t("views.mer.before"),
            "alignment_mer": t("views.mer.after_mer"),
            "alignment_er": t("views.mer.after_er"),
        },
        t("views.mer.chart"),
        t("views.mer.axis"),
        key="pg_mer_alignment",
        y_range=(-1.0, 1.0),
        empty=t("views.mer.waiting"),
    )
    st.caption(t("views.mer.caption"))


@view("lamaml")
def lamaml_views(snap, live) -> None:
    st.subheader(t("views.lamaml.title"))
    stat_curves(
        snap,
        {"lr_q10": t("views.lamaml.q10"), "lr_q50": t("views.lamaml.q50"), "lr_q90": t("views.lamaml.q90")},
        t("views.lamaml.spread_chart"),
        t("views.lamaml.spread_axis"),
        key="pg_lamaml_spread",
    )
    stat_curves(
        snap,
        {"lr_frozen": t("views.lamaml.frozen")},
        t("views.lamaml.frozen_chart"),
        t("views.lamaml.frozen_axis"),
        key="pg_lamaml_frozen",
        y_range=(0.0, 1.0),
    )
    reports = [r for r in snap.reports if r is not None]
    if not reports:
        st.info(t("views.lamaml.maps_waiting"))
        return
    last, task = reports[-1], len(reports)
    if last.unit_maps is not None:
        words = {**chart_text(), "importance": t("views.lamaml.rate")}  # the colour bar's title
        st.plotly_chart(
            charts.importance_maps(
                list(last.unit_maps),
                [t("views.lamaml.unit", unit=u) for u in last.units],
                t("views.lamaml.maps", task=task, n=len(last.units)),
                normalise=False,  # one colour scale for every unit: the rates are comparable across units
                text=words,
            ),
            key="pg_lamaml_maps",
            config=NO_BAR,
        )
    st.plotly_chart(
        charts.grouped_bars(
            list(last.median_by_tensor),
            {t("views.lamaml.q50"): list(last.median_by_tensor.values())},
            t("views.lamaml.medians", task=task),
            t("views.lamaml.spread_axis"),
        ),
        key="pg_lamaml_medians",
        config=NO_BAR,
    )
    st.caption(t("views.lamaml.caption"))
