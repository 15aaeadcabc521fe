"""EWC / SI: what the regulariser protects, drawn at each task end from the importance summaries their
reports carry (clcore.mechanics.importance.ImportanceReport): per-hidden-unit first-layer maps, per-pixel maps
per task, and per-tensor histograms."""

from __future__ import annotations

import dataclasses

import streamlit as st
import torch

from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, chart_text, strategy_title

TOP_UNITS = 16
WHICH = {"importance": "views.importance.accumulated", "task_importance": "views.importance.last_task"}


def _unpermute(live, task_index: int, grid):
    """Map a 28x28 importance map from a permuted task's input space back to the digit's pixels."""
    task = live.run.benchmark.tasks[task_index]
    if live.run.benchmark.info.kind != "permuted" or task.transform is None:
        return grid
    h, w = grid.shape[-2:]
    probe = torch.arange(h * w, dtype=torch.float64).view(1, 1, h, w)
    source = task.transform(probe).flatten().long()  # input position k shows original pixel source[k]
    out = torch.zeros(h * w, dtype=grid.dtype)
    out[source] = grid.flatten()
    return out.view(h, w)


@view("ewc", "si", at_task_end=True)
def importance_views(snap, live) -> None:
    reports = [r for r in snap.reports if r is not None]
    if not reports:
        return
    st.subheader(t("views.importance.title", method=strategy_title(snap.strategy)))
    permuted = live.run.benchmark.info.kind == "permuted"
    if st.session_state.get("pg_imp_which") not in WHICH:
        # permuted tasks scramble the pixels: only a single task's own maps map back onto the digits
        st.session_state["pg_imp_which"] = "task_importance" if permuted else "importance"
    labels = {w: t(key) for w, key in WHICH.items()}  # texts made now: AppTest formats options outside the run
    which = st.radio(
        t("views.importance.which"), list(labels), key="pg_imp_which", horizontal=True, format_func=labels.get
    )
    summary = reports[-1].importance if which == "importance" else reports[-1].task_importance
    last = len(reports) - 1
    if summary.unit_maps is not None:
        maps = summary.unit_maps
        totals = maps.flatten(1).sum(1)
        top = torch.argsort(totals, descending=True)[:TOP_UNITS].tolist()
        shown = [maps[u] for u in top]
        if permuted and which == "task_importance":
            shown = [_unpermute(live, last, m) for m in shown]
        st.plotly_chart(
            charts.importance_maps(
                shown,
                [t("views.importance.unit", unit=u) for u in top],
                t("views.importance.unit_maps", n=len(top), task=last + 1),
                text=chart_text(),
            ),
            key="pg_unit_maps",
            config=NO_BAR,
        )
        if permuted and which == "importance":
            st.caption(t("views.importance.permuted_caption", option=t(WHICH["task_importance"])))
        pixel = [
            _unpermute(live, i, r.task_importance.pixel_map) if permuted else r.task_importance.pixel_map
            for i, r in enumerate(reports)
            if r.task_importance.pixel_map is not None
        ]
        st.plotly_chart(
            charts.importance_maps(
                pixel,
                charts.task_labels(len(pixel)),
                t("views.importance.pixel_maps"),
                cols=min(5, max(1, len(pixel))),
                text=chart_text(),
            ),
            key="pg_pixel_maps",
            config=NO_BAR,
        )
    else:
        st.info(t("views.importance.no_maps"))
    st.plotly_chart(
        charts.importance_histograms(
            {name: dataclasses.asdict(h) for name, h in summary.layers.items()},
            t("views.importance.histograms"),
            text=chart_text(),
        ),
        key="pg_imp_hist",
        config=NO_BAR,
    )
