"""EWC / SI: what the regulariser protects, drawn at each task end from the importance summaries their
reports carry (clcore.importance.importance_report): per-hidden-unit first-layer maps, per-pixel maps
per task, and per-tensor histograms."""
from __future__ import annotations

import streamlit as st
import torch

from clcore import STRATEGIES
from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR

TOP_UNITS = 16


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
    reports = [r for r in snap.reports if isinstance(r, dict) and "importance" in r]
    if not reports:
        return
    title = STRATEGIES[snap.strategy].title
    st.subheader(f"{title}: what the regulariser protects")
    permuted = live.run.benchmark.info.kind == "permuted"
    if st.session_state.get("pg_imp_which") not in ("importance", "task_importance"):
        # permuted tasks scramble the pixels: only a single task's own maps map back onto the digits
        st.session_state["pg_imp_which"] = "task_importance" if permuted else "importance"
    which = st.radio("Importance", ["importance", "task_importance"], key="pg_imp_which", horizontal=True,
                     format_func=lambda w: {"importance": "accumulated over the tasks so far",
                                            "task_importance": "the last finished task's own"}[w])
    summary = reports[-1][which]
    last = len(reports) - 1
    if "unit_maps" in summary:
        maps = summary["unit_maps"]
        totals = maps.flatten(1).sum(1)
        top = torch.argsort(totals, descending=True)[:TOP_UNITS].tolist()
        shown = [maps[u] for u in top]
        if permuted and which == "task_importance":
            shown = [_unpermute(live, last, m) for m in shown]
        st.plotly_chart(charts.importance_maps(shown, [f"unit {u}" for u in top],
                                               f"First-layer importance of the {len(top)} most important hidden "
                                               f"units (after T{last + 1}), as 28x28 images"),
                        key="pg_unit_maps", config=NO_BAR)
        if permuted and which == "importance":
            st.caption("Accumulated maps are in the network's input space: every permuted task scrambles the "
                       "pixels differently, so they look like noise. Choose 'the last finished task's own' to see "
                       "them mapped back onto the digit's pixels.")
        pixel = [_unpermute(live, i, r["task_importance"]["pixel_map"]) if permuted else
                 r["task_importance"]["pixel_map"] for i, r in enumerate(reports)
                 if "pixel_map" in r["task_importance"]]
        st.plotly_chart(charts.importance_maps(pixel, [f"T{i + 1}" for i in range(len(pixel))],
                                               "Per-input-pixel importance each task created (its own Fisher / "
                                               "path integral)", cols=min(5, max(1, len(pixel)))),
                        key="pg_pixel_maps", config=NO_BAR)
    else:
        st.info("Per-unit and per-pixel maps need the MLP (its first layer sees the pixels directly); "
                "the histograms below work for every model.")
    st.plotly_chart(charts.importance_histograms(summary["layers"]), key="pg_imp_hist", config=NO_BAR)
