"""Latent replay, CWR* and AR1: which layers still learn once the network is cut (trainable vs frozen
parameters per layer), what the latent buffer costs next to raw images, how many examples each class's
consolidated output weights stand for (CWR*, AR1), and AR1's SI importance (the EWC / SI view's drawing).
Drawn at each task end from the reports of clcore.mechanics.latent."""

from __future__ import annotations

import streamlit as st

from clcore.strategies.cwr_star import CWRStarReport
from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, engine_name, strategy_title
from pages.shared.strategy_views.importance import importance_views


@view("latent_replay", "cwr_star", "ar1", at_task_end=True)
def latent_views(snap, live) -> None:
    reports = [r for r in snap.reports if r is not None]
    if not reports:
        return
    name = snap.strategy
    last = reports[-1]
    st.subheader(t("views.latent.title", method=strategy_title(name)))
    layers = last.layers
    split = {
        t("views.latent.trainable"): [row.trainable for row in layers],
        t("views.latent.frozen"): [row.params - row.trainable for row in layers],
    }
    st.plotly_chart(
        charts.grouped_bars(
            [engine_name(row.name) for row in layers],
            split,
            t("views.latent.layers_chart", task=len(reports), cut=last.cut),
            t("views.common.parameters"),
            stacked=True,
        ),
        key=f"pg_{name}_layers",
        config=NO_BAR,
    )
    if last.memory is not None:
        kib = {
            t("views.latent.latent_bytes"): [r.memory.latent_bytes / 1024 for r in reports],
            t("views.latent.raw_bytes"): [r.memory.raw_bytes / 1024 for r in reports],
        }
        st.plotly_chart(
            charts.grouped_bars(
                snap.task_names[: len(reports)], kib, t("views.latent.memory_chart"), t("views.latent.kib")
            ),
            key=f"pg_{name}_memory",
            config=NO_BAR,
        )
        shape = "x".join(map(str, last.memory.latent_shape))
        st.caption(t("views.latent.memory_caption", stored=last.memory.stored, shape=shape))
    if isinstance(last, CWRStarReport):
        counts = {t("views.latent.examples"): last.consolidated_counts}
        st.plotly_chart(
            charts.grouped_bars(snap.class_names, counts, t("views.latent.counts_chart"), t("views.latent.examples")),
            key=f"pg_{name}_counts",
            config=NO_BAR,
        )
    if name == "ar1":
        importance_views(snap, live)
