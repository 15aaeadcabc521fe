"""Generative replay and generative negative replay: what the generator produces as it learns (samples
taken at every task end and every few hundred steps, grouped by the class the solver sees in them),
the VAE's two loss terms, and the solver's losses on real and generated data; for GNR also AR1*'s
layers (trainable vs frozen) and the examples behind each consolidated class (the latent view's charts)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from clcore.strategies.generative_replay import Gallery
from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import stat_curves, strategy_title
from pages.shared.strategy_views.latent import latent_views

GALLERY_ROWS = 6  # most recent snapshots shown
IMAGE_WIDTH = 44  # pixels per sample on screen


def _snapshots(snap) -> list[tuple[str, Gallery]]:
    """(label, gallery) in step order: every task end's, plus any periodic one taken since the last."""
    rows = [
        (t("views.generative.task_end", task=i + 1, step=r.gallery.step), r.gallery)
        for i, r in enumerate(snap.reports)
        if r is not None
    ]
    periodic = [values["gallery"] for _, values in snap.step_stats if "gallery" in values]
    last_task_end = rows[-1][1].step if rows else -1
    rows += [
        (t("views.generative.periodic", step=g.step, task=len(rows) + 1), g) for g in periodic if g.step > last_task_end
    ]
    return rows[-GALLERY_ROWS:]


@view("generative_replay", "generative_negative_replay")
def generative_views(snap, live) -> None:
    name = snap.strategy
    st.subheader(t("views.generative.title", method=strategy_title(name)))
    rows = _snapshots(snap)
    if rows:
        for label, gallery in rows:
            st.caption(label)
            st.image(
                [np.asarray(image, dtype=np.uint8) for image in gallery.images],
                caption=[snap.class_names[c] for c in gallery.classes],
                width=IMAGE_WIDTH,
            )
        permuted = "permuted" in snap.benchmark
        st.caption(t("views.generative.samples_caption_permuted" if permuted else "views.generative.samples_caption"))
    else:
        st.info(t("views.generative.waiting"))
    stat_curves(
        snap,
        {"vae_reconstruction": t("views.generative.reconstruction"), "vae_kl": t("views.generative.kl")},
        t("views.generative.vae_chart"),
        t("views.generative.vae_axis"),
        key=f"pg_{name}_vae",
    )
    replay_label = t(f"views.generative.replay_loss_{name}")
    stat_curves(
        snap,
        {"current_loss": t("views.generative.current_loss"), "replay_loss": replay_label},
        t("views.generative.losses_chart"),
        t("views.common.cross_entropy"),
        key=f"pg_{name}_losses",
    )
    if name == "generative_negative_replay":
        st.caption(t("views.generative.gnr_caption"))
        latent_views(snap, live)
