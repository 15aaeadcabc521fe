"""The architectural family (multi-head, PNN, PackNet, HAT, Piggyback, SupSup, hypernetwork): how the
network's capacity is carved up between tasks, drawn at each task end from the family's shared report
(clcore.task_models.capacity_report): per layer the share each task owns (stacked bars), the parameter
count against a fixed-size network, and for the masking methods (PackNet, HAT, Piggyback, SupSup) each
task's first-layer mask as an image; for Piggyback and SupSup the fraction of weights each task's mask
keeps, for the hypernetwork how far the weights it generates for earlier tasks have moved."""
from __future__ import annotations

import streamlit as st

from clcore import STRATEGIES
from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, stat_curves


@view("multihead", "pnn", "packnet", "hat", "piggyback", "supsup", "hypernetwork", at_task_end=True)
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
        titles = reports[-1].get("masks_titles") or [f"T{i + 1}" for i in range(len(masks))]
        st.plotly_chart(charts.importance_maps(masks, titles,
                                               reports[-1]["masks_caption"], cols=min(5, len(masks))),
                        key=f"pg_{name}_masks", config=NO_BAR)
    if name == "hat":
        stat_curves(snap, {"regulariser": "attention regulariser R"}, "HAT: attention-sparsity regulariser",
                    "R", key="pg_hat_regulariser")
    density = reports[-1].get("mask_density")
    if density and density["tasks"]:
        layer_names = list(density["layers"])
        st.plotly_chart(charts.grouped_bars(layer_names, {task: [density["layers"][layer][k] for layer in layer_names]
                                                          for k, task in enumerate(density["tasks"])},
                                            "Fraction of each layer's weights that each task's mask keeps",
                                            "fraction kept", y_range=(0, 1)),
                        key=f"pg_{name}_density", config=NO_BAR)
    if name == "piggyback":
        stat_curves(snap, {"mask_density": "weights kept by the current task's mask"},
                    "Piggyback: the training task's binarised mask", "fraction kept", key="pg_piggyback_mask")
    if name == "hypernetwork":
        drift = reports[-1].get("weight_drift") or []
        if drift:
            st.plotly_chart(charts.grouped_bars([f"T{i + 1}" for i in range(len(drift))], {"relative change": drift},
                                                "How far each task's generated weights moved since its training "
                                                "ended, ||h(e_t) - h*(e_t)|| / ||h*(e_t)||", "relative change"),
                            key="pg_hypernetwork_drift", config=NO_BAR)
        stat_curves(snap, {"regulariser": "output regulariser"}, "Hypernetwork: output regulariser on earlier "
                    "tasks' generated weights", "regulariser", key="pg_hypernetwork_regulariser")
