"""Baselines and exemplar methods: what cumulative training streams per phase, which ensemble member
answers, GDumb's balanced buffer and its retraining from scratch, iCaRL's nearest-mean classifier and
the exemplars herding chose. All drawn at task ends from the strategies' task_end_report()."""
from __future__ import annotations

import streamlit as st
import torch

from pages.shared import charts
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, model_accuracies

SHOWN_TASK_ENDS = 3  # iCaRL: the exemplars herded at the last few task ends


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


def _as_images(x: torch.Tensor, mean, std) -> list:
    """Normalised inputs (n x C x H x W) as images in [0, 1] for st.image (H x W, or H x W x C)."""
    x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    images = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return [img[:, :, 0] if img.shape[2] == 1 else img for img in images]


@view("icarl", at_task_end=True)
def icarl_views(snap, live) -> None:
    st.subheader("iCaRL: nearest mean of exemplars vs the network's own head")
    model_accuracies(snap, "Nearest-mean-of-exemplars (NME) and linear-head accuracy", key="pg_icarl_models")
    st.caption("NME (reported) classifies by the nearest class mean of the exemplars' normalised features; the "
               "linear head is the network's own output layer, trained with sigmoid cross-entropy and distillation.")
    reports = _reports_with(snap, "herded_images")
    if not reports:
        return
    data = live.run.benchmark.data
    st.markdown(f"**Exemplars chosen by herding**, most representative first (now {reports[-1]['per_class']} "
                "per class; reducing a set keeps its first ones)")
    for i, report in list(enumerate(reports))[-SHOWN_TASK_ENDS:]:
        images, captions = [], []
        for c, shown in zip(report["herded_classes"], report["herded_images"]):
            images += _as_images(shown, data.mean, data.std)
            captions += [f"{snap.class_names[c]} #{k + 1}" for k in range(len(shown))]
        if images:
            st.caption(f"after T{i + 1}")
            st.image(images, width=48, caption=captions)
