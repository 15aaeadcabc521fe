"""The architectural family (multi-head, PNN, PackNet, HAT, Piggyback, SupSup, hypernetwork): how the
network's capacity is carved up between tasks, drawn at each task end from the family's shared report
(clcore.mechanics.task_aware.CapacityReport): per layer the share each task owns (stacked bars), the parameter
count against a fixed-size network, and for the masking methods (PackNet, HAT, Piggyback, SupSup) each
task's first-layer mask as an image; for Piggyback and SupSup the fraction of weights each task's mask
keeps, for the hypernetwork how far the weights it generates for earlier tasks have moved.

The report's English words (what a layer's share counts, the masks' caption) are the engine's; the view
shows each strategy's own catalog text for them (views.architecture.unit.<strategy>, .masks.<strategy>)."""

from __future__ import annotations

import streamlit as st

from clcore.mechanics.masks import MaskedCapacityReport
from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, chart_text, engine_name, stat_curves, strategy_title


@view("multihead", "pnn", "packnet", "hat", "piggyback", "supsup", "hypernetwork", at_task_end=True)
def capacity_views(snap, live) -> None:
    reports = [r for r in snap.reports if r is not None]
    if not reports:
        return
    name = snap.strategy
    st.subheader(t("views.architecture.title", method=strategy_title(name)))
    last = len(reports)
    last_report = reports[-1]
    capacity = last_report.capacity
    layers = list(capacity.layers)
    shares = {
        engine_name(owner): [capacity.layers[layer][k] for layer in layers] for k, owner in enumerate(capacity.owners)
    }
    st.plotly_chart(
        charts.grouped_bars(
            [engine_name(layer) for layer in layers],
            shares,
            t("views.architecture.capacity_chart", unit=t(f"views.architecture.unit.{name}"), task=last),
            t("views.architecture.fraction"),
            stacked=True,
            y_range=(0, 1),
        ),
        key=f"pg_{name}_capacity",
        config=NO_BAR,
    )
    counts = {
        t("views.architecture.this_strategy"): [r.param_count for r in reports],
        t("views.architecture.fixed_size"): [r.baseline_params for r in reports],
    }
    st.plotly_chart(
        charts.grouped_bars(
            charts.task_labels(last), counts, t("views.architecture.params_chart"), t("views.common.parameters")
        ),
        key=f"pg_{name}_params",
        config=NO_BAR,
    )
    masks = last_report.first_layer_masks
    if masks:
        titles = last_report.masks_titles or charts.task_labels(len(masks))
        st.plotly_chart(
            charts.importance_maps(
                masks, titles, t(f"views.architecture.masks.{name}"), cols=min(5, len(masks)), text=chart_text()
            ),
            key=f"pg_{name}_masks",
            config=NO_BAR,
        )
    if name == "hat":
        stat_curves(
            snap,
            {"regulariser": t("views.architecture.hat_regulariser")},
            t("views.architecture.hat_chart"),
            t("views.architecture.hat_axis"),
            key="pg_hat_regulariser",
        )
    density = last_report.mask_density if isinstance(last_report, MaskedCapacityReport) else None
    if density and density.tasks:
        layer_names = list(density.layers)
        st.plotly_chart(
            charts.grouped_bars(
                [engine_name(layer) for layer in layer_names],
                {task: [density.layers[layer][k] for layer in layer_names] for k, task in enumerate(density.tasks)},
                t("views.architecture.density_chart"),
                t("views.architecture.kept"),
                y_range=(0, 1),
            ),
            key=f"pg_{name}_density",
            config=NO_BAR,
        )
    if name == "piggyback":
        stat_curves(
            snap,
            {"mask_density": t("views.architecture.piggyback_kept")},
            t("views.architecture.piggyback_chart"),
            t("views.architecture.kept"),
            key="pg_piggyback_mask",
        )
    if name == "hypernetwork":
        drift = last_report.weight_drift
        if drift:
            change = t("views.architecture.relative_change")
            st.plotly_chart(
                charts.grouped_bars(
                    charts.task_labels(len(drift)), {change: drift}, t("views.architecture.drift_chart"), change
                ),
                key="pg_hypernetwork_drift",
                config=NO_BAR,
            )
        stat_curves(
            snap,
            {"regulariser": t("views.architecture.hnet_regulariser")},
            t("views.architecture.hnet_chart"),
            t("views.architecture.hnet_axis"),
            key="pg_hypernetwork_regulariser",
        )
