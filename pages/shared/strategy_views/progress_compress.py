"""Progress & Compress: the knowledge base (reported) and the active column side by side, and how far
each compress phase brought the knowledge base to the active column (KL on the task's data)."""

from __future__ import annotations

import streamlit as st

from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, model_accuracies


@view("progress_compress")
def progress_compress_views(snap, live) -> None:
    st.subheader(t("views.progress_compress.title"))
    model_accuracies(snap, t("views.progress_compress.models_chart"), key="pg_progress_compress_models")
    st.caption(t("views.progress_compress.caption"))
    reports = [r for r in snap.reports if r is not None]
    if reports:
        kl = {
            t("views.progress_compress.before"): [r.compress_kl_before for r in reports],
            t("views.progress_compress.after"): [r.compress_kl_after for r in reports],
        }
        st.plotly_chart(
            charts.grouped_bars(
                snap.task_names[: len(reports)],
                kl,
                t("views.progress_compress.kl_chart"),
                t("views.progress_compress.kl_axis"),
            ),
            key="pg_progress_compress_kl",
            config=NO_BAR,
        )
