"""Latent replay, CWR* and AR1: which layers still learn once the network is cut (trainable vs frozen
parameters per layer), what the latent buffer costs next to raw images, how many examples each class's
consolidated output weights stand for (CWR*, AR1), and AR1's SI importance (the EWC / SI view's drawing).
Drawn at each task end from the reports of clcore.latent."""
from __future__ import annotations

import streamlit as st

from clcore import STRATEGIES
from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR
from pages.shared.strategy_views.importance import importance_views


@view("latent_replay", "cwr_star", "ar1", at_task_end=True)
def latent_views(snap, live) -> None:
    reports = [r for r in snap.reports if isinstance(r, dict) and "layers" in r]
    if not reports:
        return
    name = snap.strategy
    last = reports[-1]
    st.subheader(f"{STRATEGIES[name].title}: what still learns")
    layers = last["layers"]
    split = {"trainable": [row["trainable"] for row in layers],
             "frozen": [row["params"] - row["trainable"] for row in layers]}
    st.plotly_chart(charts.grouped_bars([row["name"] for row in layers], split,
                                        f"Parameters per layer after T{len(reports)} (frozen below the cut at "
                                        f"block {last['cut']})", "parameters", stacked=True),
                    key=f"pg_{name}_layers", config=NO_BAR)
    if "memory" in last:
        kib = {"latent activations (stored)": [r["memory"]["latent_bytes"] / 1024 for r in reports],
               "the same examples as raw images": [r["memory"]["raw_bytes"] / 1024 for r in reports]}
        st.plotly_chart(charts.grouped_bars(snap.task_names[:len(reports)], kib,
                                            "Buffer size after each task", "KiB"),
                        key=f"pg_{name}_memory", config=NO_BAR)
        shape = "x".join(map(str, last["memory"]["latent_shape"]))
        st.caption(f"{last['memory']['stored']} examples stored as activations of shape {shape} (float32); "
                   "the frozen layers below the cut turn any new input into the same activations, so "
                   "stored ones never go stale.")
    if "consolidated_counts" in last:
        counts = {"examples": last["consolidated_counts"]}
        st.plotly_chart(charts.grouped_bars(snap.class_names, counts, "Examples behind each class's consolidated "
                                            "output weights (the weight of the past in CWR*'s average)",
                                            "examples"),
                        key=f"pg_{name}_counts", config=NO_BAR)
    if name == "ar1":
        importance_views(snap, live)
