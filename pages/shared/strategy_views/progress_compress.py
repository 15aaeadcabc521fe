"""Progress & Compress: the knowledge base (reported) and the active column side by side, and how far
each compress phase brought the knowledge base to the active column (KL on the task's data)."""
from __future__ import annotations

import streamlit as st

from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, model_accuracies


@view("progress_compress")
def progress_compress_views(snap, live) -> None:
    st.subheader("Progress & Compress: active column and knowledge base")
    model_accuracies(snap, "Knowledge base and active column side by side", key="pg_progress_compress_models")
    st.caption("The active column learns each task from scratch (reading the knowledge base through lateral "
               "adaptors); at the task's end it is compressed into the knowledge base, which online EWC "
               "protects, and the knowledge base is what the run reports.")
    reports = [r for r in snap.reports if isinstance(r, dict) and "compress_kl_before" in r]
    if reports:
        kl = {"before compress": [r["compress_kl_before"] for r in reports],
              "after compress": [r["compress_kl_after"] for r in reports]}
        st.plotly_chart(charts.grouped_bars(snap.task_names[:len(reports)], kl,
                                            "KL(active column || knowledge base) on each task's training data",
                                            "KL (nats)"),
                        key="pg_progress_compress_kl", config=NO_BAR)
