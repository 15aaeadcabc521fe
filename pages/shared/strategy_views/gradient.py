"""The gradient-based strategies: how often GEM / A-GEM had to project the gradient and the angle
between the current and the memory gradients; which buffer samples MIR retrieves (their interference
against the candidates'); LFD's update along vs orthogonal to its less-forgetting direction, and the
equilibrium coefficient it chose at each task end."""
from __future__ import annotations

import streamlit as st

from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, stat_curves

WAITING = "This chart fills in once the buffer holds samples of an earlier task (from the second task on)."


@view("gem", "agem")
def projection_views(snap, live) -> None:
    name = snap.strategy
    st.subheader("GEM: gradient projection" if name == "gem" else "A-GEM: gradient projection")
    memory = "each earlier task's memory gradient" if name == "gem" else "the reference gradient of a memory batch"
    if stat_curves(snap, {"projected": "steps projected"}, "How often the gradient was projected",
                   "fraction of steps", key=f"pg_{name}_projected", y_range=(0, 1.02), empty=WAITING):
        st.caption(f"A step is projected when the current gradient has a negative dot product with {memory}: "
                   "following it would increase that memory's loss.")
    if stat_curves(snap, {"angle": "current gradient", "angle_projected": "after projection"},
                   f"Angle between the gradient and {memory}", "degrees (mean)", key=f"pg_{name}_angle",
                   empty=WAITING):
        st.caption("Above 90 degrees the update would raise the memory loss; projection brings every angle back "
                   "to at most 90 degrees.")


@view("mir")
def mir_views(snap, live) -> None:
    st.subheader("MIR: the most interfered samples")
    if stat_curves(snap, {"retrieved": "retrieved (top-k)", "candidates": "random buffer samples (all candidates)"},
                   "Interference of the replayed samples", "loss increase of a virtual step (mean)",
                   key="pg_mir_interference", empty=WAITING):
        st.caption("Interference: how much a virtual SGD step on the current batch would raise a buffer sample's "
                   "loss. MIR replays the highest-scoring candidates; plain ER would replay random ones.")


@view("lfd")
def lfd_views(snap, live) -> None:
    st.subheader("LFD: the less-forgetting direction and the equilibrium point")
    if stat_curves(snap, {"offset_along": "along the direction", "offset_orthogonal": "orthogonal to it"},
                   "Parameter update since the last task, split along / orthogonal to the direction",
                   "norm", key="pg_lfd_offset", empty=WAITING):
        st.caption("Only the orthogonal part is penalised: the update may grow freely along the direction, "
                   "where the old tasks' memory loss rises least.")
    equilibria = [(k, r["equilibrium"]) for k, r in enumerate(snap.reports)
                  if isinstance(r, dict) and "equilibrium" in r]
    if not equilibria:
        st.info("The equilibrium coefficient is chosen at the end of every task from the second on.")
        return
    st.plotly_chart(charts.grouped_bars([f"T{k + 1}" for k, _ in equilibria],
                                        {"equilibrium coefficient": [e["alpha"] for _, e in equilibria]},
                                        "Chosen equilibrium coefficient per task (0: old parameters, 1: new)",
                                        "alpha", y_range=(0, 1.02)),
                    key="pg_lfd_alpha", config=NO_BAR)
    last_task, last = equilibria[-1]
    st.plotly_chart(charts.curves_over(last["alphas"], {"average over the learned tasks": last["criterion"],
                                                        "old tasks' memory": last["old_loss"],
                                                        "this task's memory": last["new_loss"]},
                                       f"Memory loss along the segment old -> new parameters "
                                       f"(end of T{last_task + 1})", "alpha", "cross-entropy",
                                       mark_x=last["alpha"]),
                    key="pg_lfd_equilibrium", config=NO_BAR)
