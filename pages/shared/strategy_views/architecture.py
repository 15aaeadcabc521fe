"""The architectural family (multi-head, PNN, PackNet, HAT): how the network's capacity is carved up
between tasks, drawn at each task end from the family's shared report (clcore.task_models.capacity_report):
per layer the share each task owns (stacked bars), the parameter count against a fixed-size network,
and for PackNet and HAT each task's first-layer mask as an image."""
from __future__ import annotations

import streamlit as st

from clcore import STRATEGIES
from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, stat_curves


@view("multihead", "pnn", "packnet", "hat", at_task_end=True)
def capacity_views(snap, live) -> None:
    reports = [r for r in snap.reports if isinstance(r, dict) and "capacity" in r]
    if not reports:
        return
    name = snap.strategy
    st.subheader(f"{STRATEGIES[name].title}: how the network's capacity is shared between tasks")
    last = len(reports)
    capacity = reports[-1]["capacity"]
    layers = list(capacity["layers"])
    shares = {owner: [capacity["layers"][layer][k] for layer in layers] for k, owner in enumerate(capacity["owners"])}
    st.plotly_chart(charts.grouped_bars(layers, shares, f"Share of each layer's {capacity['unit']} per task "
                                                        f"(after T{last})", "fraction", stacked=True,
                                        y_range=(0, 1)),
                    key=f"pg_{name}_capacity", config=NO_BAR)
    tasks = [f"T{i + 1}" for i in range(last)]
    counts = {"this strategy": [r["param_count"] for r in reports],
              "fixed-size network (fine-tune, EWC, SI, replay)": [r["baseline_params"] for r in reports]}
    st.plotly_chart(charts.grouped_bars(tasks, counts, "Parameters after each task", "parameters"),
                    key=f"pg_{name}_params", config=NO_BAR)
    masks = reports[-1].get("first_layer_masks")
    if masks:
        st.plotly_chart(charts.importance_maps(masks, [f"T{i + 1}" for i in range(len(masks))],
                                               reports[-1]["masks_caption"], cols=min(5, len(masks))),
                        key=f"pg_{name}_masks", config=NO_BAR)
    if name == "hat":
        stat_curves(snap, {"regulariser": "attention regulariser R"}, "HAT: attention-sparsity regulariser",
                    "R", key="pg_hat_regulariser")
