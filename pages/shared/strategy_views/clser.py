"""CLS-ER: which teacher (plastic / fast or stable / slow) each replayed buffer sample took, and the
three models' accuracies side by side."""

from __future__ import annotations

import streamlit as st

from clcore.strategies.clser import TeacherChoices
from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, chart_text, model_accuracies


@view("clser")
def clser_views(snap, live) -> None:
    st.subheader(t("views.clser.title"))
    stats = [(s, v) for s, v in snap.step_stats if isinstance(v, TeacherChoices)]
    if stats:
        idx = charts.thin_indices(len(stats))
        st.plotly_chart(
            charts.teacher_choices(
                [stats[i][0] for i in idx],
                [stats[i][1].plastic for i in idx],
                [stats[i][1].stable for i in idx],
                snap.task_names,
                title=t("views.clser.teachers_chart"),
                task_boundaries=snap.boundaries,
                text=chart_text(),
            ),
            key="pg_teachers",
            config=NO_BAR,
        )
    else:
        st.info(t("views.clser.waiting"))
    model_accuracies(snap, t("views.clser.models_chart"), key="pg_models")
    st.caption(t("views.clser.caption"))
