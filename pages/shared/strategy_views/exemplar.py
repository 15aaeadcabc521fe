"""Baselines and exemplar methods: what cumulative training streams per phase, which ensemble member
answers, GDumb's balanced buffer and its retraining from scratch, iCaRL's nearest-mean classifier and
the exemplars herding chose. All drawn at task ends from the strategies' task_end_report()."""
from __future__ import annotations

import streamlit as st

from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR


def _reports_with(snap, key: str) -> list[dict]:
    return [r for r in snap.reports if isinstance(r, dict) and key in r]


@view("cumulative", at_task_end=True)
def cumulative_views(snap, live) -> None:
    reports = _reports_with(snap, "samples_per_task")
    if not reports:
        return
    st.subheader("Cumulative: everything seen so far, every phase")
    phases = [f"phase {i + 1}" for i in range(len(reports))]
    series = {f"T{t + 1}: {name}": [r["samples_per_task"][t] for r in reports]
              for t, name in enumerate(snap.task_names) if any(r["samples_per_task"][t] for r in reports)}
    st.plotly_chart(charts.grouped_bars(phases, series, "Training samples streamed per phase, by task",
                                        "samples trained on", stacked=True),
                    key="pg_cumulative_samples", config=NO_BAR)
    st.caption("Phase i retrains on the data of tasks 1..i shuffled together, so its cost grows with "
               "every task: the memory is unbounded.")


@view("ensemble", at_task_end=True)
def ensemble_views(snap, live) -> None:
    reports = _reports_with(snap, "members_acc")
    if not reports:
        return
    last = reports[-1]
    st.subheader("Ensemble: one member per task")
    tasks = charts.task_labels(snap.n_tasks)
    members = {f"member {m + 1} (learnt T{m + 1})": accs for m, accs in enumerate(last["members_acc"])}
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.grouped_bars(tasks, members, "Each member's accuracy per task, given the task",
                                            "test accuracy (%)", y_range=(0, 102)),
                        key="pg_ensemble_members", config=NO_BAR)
    with right:
        answered = {name: [row[m] for row in last["answered"]] for m, name in enumerate(members)}
        st.plotly_chart(charts.grouped_bars(tasks, answered, "Which member answers without the task id",
                                            "% of the task's test samples", stacked=True, y_range=(0, 102)),
                        key="pg_ensemble_answers", config=NO_BAR)
    st.caption("Given the task, its own member answers (Task-IL): nothing is forgotten. Without it, the member "
               "with the most confident softmax answers; a member that never saw a digit can still be the most "
               "confident about it, which is where the ensemble loses accuracy.")


@view("gdumb", at_task_end=True)
def gdumb_views(snap, live) -> None:
    reports = _reports_with(snap, "retrain_loss")
    if not reports:
        return
    st.subheader("GDumb: a balanced memory, and a network retrained from scratch on it")
    left, right = st.columns(2)
    with left:
        counts = {f"after T{i + 1}": r["buffer_classes"] for i, r in enumerate(reports)}
        st.plotly_chart(charts.grouped_bars(snap.class_names, counts, "Memory per class at each task end",
                                            "samples in the memory"),
                        key="pg_gdumb_classes", config=NO_BAR)
    with right:
        losses = {f"after T{i + 1}": r["retrain_loss"] for i, r in enumerate(reports)}
        st.plotly_chart(charts.epoch_curves(losses, "Loss of each retraining from scratch", "mean training loss",
                                            log_y=True),
                        key="pg_gdumb_retrain", config=NO_BAR)
    st.caption("Nothing is learnt from the stream: at each task end the network is reset to its initial weights "
               "and trained only on the memory, whose classes the greedy sampler keeps balanced (a new class takes "
               "slots from the largest class).")
