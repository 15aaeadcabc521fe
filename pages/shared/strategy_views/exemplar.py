"""Baselines and exemplar methods: what cumulative training streams per phase, which ensemble member
answers, GDumb's balanced buffer and its retraining from scratch, iCaRL's nearest-mean classifier and
the exemplars herding chose. All drawn at task ends from the strategies' task_end_report()."""

from __future__ import annotations

import streamlit as st
import torch

from pages.shared import charts
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import NO_BAR, chart_text, model_accuracies

SHOWN_TASK_ENDS = 3  # iCaRL: the exemplars herded at the last few task ends


def _reports(snap) -> list:
    """The strategy's typed task-end reports so far."""
    return [r for r in snap.reports if r is not None]


@view("cumulative", at_task_end=True)
def cumulative_views(snap, live) -> None:
    reports = _reports(snap)
    if not reports:
        return
    st.subheader(t("views.exemplar.cumulative_title"))
    phases = [t("views.exemplar.phase", i=i + 1) for i in range(len(reports))]
    series = {
        f"T{k + 1}: {name}": [r.samples_per_task[k] for r in reports]
        for k, name in enumerate(snap.task_names)
        if any(r.samples_per_task[k] for r in reports)
    }
    st.plotly_chart(
        charts.grouped_bars(
            phases, series, t("views.exemplar.cumulative_chart"), t("views.exemplar.cumulative_axis"), stacked=True
        ),
        key="pg_cumulative_samples",
        config=NO_BAR,
    )
    st.caption(t("views.exemplar.cumulative_caption"))


@view("ensemble", at_task_end=True)
def ensemble_views(snap, live) -> None:
    reports = _reports(snap)
    if not reports:
        return
    last = reports[-1]
    st.subheader(t("views.exemplar.ensemble_title"))
    tasks = charts.task_labels(snap.n_tasks)
    members = {t("views.exemplar.member", m=m + 1): accs for m, accs in enumerate(last.members_acc)}
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            charts.grouped_bars(
                tasks, members, t("views.exemplar.members_chart"), t("views.common.test_accuracy"), y_range=(0, 102)
            ),
            key="pg_ensemble_members",
            config=NO_BAR,
        )
    with right:
        answered = {name: [row[m] for row in last.answered] for m, name in enumerate(members)}
        st.plotly_chart(
            charts.grouped_bars(
                tasks,
                answered,
                t("views.exemplar.answers_chart"),
                t("views.exemplar.answers_axis"),
                stacked=True,
                y_range=(0, 102),
            ),
            key="pg_ensemble_answers",
            config=NO_BAR,
        )
    st.caption(t("views.exemplar.ensemble_caption"))


@view("gdumb", at_task_end=True)
def gdumb_views(snap, live) -> None:
    reports = _reports(snap)
    if not reports:
        return
    st.subheader(t("views.exemplar.gdumb_title"))
    left, right = st.columns(2)
    with left:
        counts = {t("views.common.after_task", task=i + 1): r.buffer_classes for i, r in enumerate(reports)}
        st.plotly_chart(
            charts.grouped_bars(
                snap.class_names,
                counts,
                t("views.exemplar.gdumb_classes_chart"),
                t("views.exemplar.gdumb_classes_axis"),
            ),
            key="pg_gdumb_classes",
            config=NO_BAR,
        )
    with right:
        losses = {t("views.common.after_task", task=i + 1): r.retrain_loss for i, r in enumerate(reports)}
        st.plotly_chart(
            charts.epoch_curves(
                losses,
                t("views.exemplar.gdumb_retrain_chart"),
                t("views.exemplar.gdumb_retrain_axis"),
                log_y=True,
                text=chart_text(),
            ),
            key="pg_gdumb_retrain",
            config=NO_BAR,
        )
    st.caption(t("views.exemplar.gdumb_caption"))


def _as_images(x: torch.Tensor, mean, std) -> list:
    """Normalised inputs (n x C x H x W) as images in [0, 1] for st.image (H x W, or H x W x C)."""
    x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    images = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return [img[:, :, 0] if img.shape[2] == 1 else img for img in images]


@view("icarl", at_task_end=True)
def icarl_views(snap, live) -> None:
    st.subheader(t("views.exemplar.icarl_title"))
    model_accuracies(snap, t("views.exemplar.icarl_models_chart"), key="pg_icarl_models")
    st.caption(t("views.exemplar.icarl_caption"))
    reports = _reports(snap)
    if not reports:
        return
    data = live.run.benchmark.data
    st.markdown(t("views.exemplar.herding", per_class=reports[-1].per_class))
    for i, report in list(enumerate(reports))[-SHOWN_TASK_ENDS:]:
        images, captions = [], []
        for c, shown in zip(report.herded_classes, report.herded_images):
            images += _as_images(shown, data.mean, data.std)
            captions += [f"{snap.class_names[c]} #{k + 1}" for k in range(len(shown))]
        if images:
            st.caption(t("views.common.after_task", task=i + 1))
            st.image(images, width=48, caption=captions)
