"""The gradient-based strategies: how often GEM / A-GEM had to project the gradient and the angle
between the current and the memory gradients; which buffer samples MIR retrieves (their interference
against the candidates'); LFD's update along vs orthogonal to its less-forgetting direction, and the
equilibrium coefficient it chose at each task end."""

from __future__ import annotations

import streamlit as st

from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, stat_curves

METHOD_NAMES = {"gem": "GEM", "agem": "A-GEM"}


@view("gem", "agem")
def projection_views(snap, live) -> None:
    name = snap.strategy
    waiting = t("views.gradient.waiting")
    st.subheader(t("views.gradient.projection_title", method=METHOD_NAMES[name]))
    memory = t(f"views.gradient.memory_{name}")
    if stat_curves(
        snap,
        {"projected": t("views.gradient.projected")},
        t("views.gradient.projected_title"),
        t("views.gradient.projected_axis"),
        key=f"pg_{name}_projected",
        y_range=(0, 1.02),
        empty=waiting,
    ):
        st.caption(t("views.gradient.projected_caption", memory=memory))
    if stat_curves(
        snap,
        {"angle": t("views.gradient.angle_current"), "angle_projected": t("views.gradient.angle_projected")},
        t("views.gradient.angle_title", memory=memory),
        t("views.gradient.angle_axis"),
        key=f"pg_{name}_angle",
        empty=waiting,
    ):
        st.caption(t("views.gradient.angle_caption"))


@view("mir")
def mir_views(snap, live) -> None:
    st.subheader(t("views.gradient.mir_title"))
    if stat_curves(
        snap,
        {"retrieved": t("views.gradient.mir_retrieved"), "candidates": t("views.gradient.mir_candidates")},
        t("views.gradient.mir_chart"),
        t("views.gradient.mir_axis"),
        key="pg_mir_interference",
        empty=t("views.gradient.waiting"),
    ):
        st.caption(t("views.gradient.mir_caption"))


@view("lfd")
def lfd_views(snap, live) -> None:
    st.subheader(t("views.gradient.lfd_title"))
    if stat_curves(
        snap,
        {"offset_along": t("views.gradient.lfd_along"), "offset_orthogonal": t("views.gradient.lfd_orthogonal")},
        t("views.gradient.lfd_offset_chart"),
        t("views.gradient.lfd_offset_axis"),
        key="pg_lfd_offset",
        empty=t("views.gradient.waiting"),
    ):
        st.caption(t("views.gradient.lfd_offset_caption"))
    equilibria = [(k, r.equilibrium) for k, r in enumerate(snap.reports) if r is not None and r.equilibrium]
    if not equilibria:
        st.info(t("views.gradient.lfd_waiting"))
        return
    st.plotly_chart(
        charts.grouped_bars(
            [t("common.task_short", n=k + 1) for k, _ in equilibria],
            {t("views.gradient.lfd_alpha"): [e.alpha for _, e in equilibria]},
            t("views.gradient.lfd_alpha_chart"),
            t("views.gradient.lfd_alpha_axis"),
            y_range=(0, 1.02),
        ),
        key="pg_lfd_alpha",
        config=NO_BAR,
    )
    last_task, last = equilibria[-1]
    st.plotly_chart(
        charts.curves_over(
            last.alphas,
            {
                t("views.gradient.lfd_criterion"): last.criterion,
                t("views.gradient.lfd_old_loss"): last.old_loss,
                t("views.gradient.lfd_new_loss"): last.new_loss,
            },
            t("views.gradient.lfd_segment_chart", task=last_task + 1),
            t("views.gradient.lfd_alpha_axis"),
            t("views.common.cross_entropy"),
            mark_x=last.alpha,
        ),
        key="pg_lfd_equilibrium",
        config=NO_BAR,
    )
