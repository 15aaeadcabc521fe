"""CLS-ER: which teacher (plastic / fast or stable / slow) each replayed buffer sample took, and the
three models' accuracies side by side."""
from __future__ import annotations

import streamlit as st

from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, model_accuracies


@view("clser")
def clser_views(snap, live) -> None:
    st.subheader("CLS-ER: fast and slow teachers")
    stats = [(s, v) for s, v in snap.step_stats if isinstance(v, dict) and "plastic" in v]
    if stats:
        idx = charts.thin_indices(len(stats))
        st.plotly_chart(charts.teacher_choices([stats[i][0] for i in idx], [stats[i][1]["plastic"] for i in idx],
                                               [stats[i][1]["stable"] for i in idx], snap.task_names,
                                               task_boundaries=snap.boundaries),
                        key="pg_teachers", config=NO_BAR)
    else:
        st.info("Teacher choices appear once the buffer has samples to replay.")
    model_accuracies(snap, "Working, plastic and stable models side by side", key="pg_models")
    st.caption("The stable (slow) model is the one CLS-ER reports; the plastic (fast) one adapts quickly "
               "to the current task; the working model is the one trained by gradient descent.")
