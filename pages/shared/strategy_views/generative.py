"""Generative replay and generative negative replay: what the generator produces as it learns (samples
taken at every task end and every few hundred steps, grouped by the class the solver sees in them),
the VAE's two loss terms, and the solver's losses on real and generated data; for GNR also AR1*'s
layers (trainable vs frozen) and the examples behind each consolidated class (the latent view's charts)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from clcore import STRATEGIES
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import stat_curves
from pages.shared.strategy_views.latent import latent_views

GALLERY_ROWS = 6  # most recent snapshots shown
IMAGE_WIDTH = 44  # pixels per sample on screen


def _snapshots(snap) -> list[tuple[str, dict]]:
    """(label, gallery) in step order: every task end's, plus any periodic one taken since the last."""
    rows = [(f"after T{i + 1} (step {r['gallery']['step']})", r["gallery"])
            for i, r in enumerate(snap.reports) if isinstance(r, dict) and "gallery" in r]
    periodic = [values["gallery"] for _, values in snap.step_stats if isinstance(values, dict) and "gallery" in values]
    last_task_end = rows[-1][1]["step"] if rows else -1
    rows += [(f"step {g['step']} (T{len(rows) + 1})", g) for g in periodic if g["step"] > last_task_end]
    return rows[-GALLERY_ROWS:]


@view("generative_replay", "generative_negative_replay")
def generative_views(snap, live) -> None:
    name = snap.strategy
    st.subheader(f"{STRATEGIES[name].title}: what the generator replays")
    rows = _snapshots(snap)
    if rows:
        for label, gallery in rows:
            st.caption(label)
            st.image([np.asarray(image, dtype=np.uint8) for image in gallery["images"]],
                     caption=[snap.class_names[c] for c in gallery["classes"]], width=IMAGE_WIDTH)
        st.caption("Samples of the VAE as it stands, a few per class, labelled with the class the current "
                   "classifier sees in them. Each row is a later snapshot: old classes should stay recognisable."
                   + (" Permuted tasks show the scrambled pixels the network is fed." if "permuted" in snap.benchmark
                      else ""))
    else:
        st.info("Generated samples appear at the end of the first task.")
    stat_curves(snap, {"vae_reconstruction": "reconstruction (binary cross-entropy)", "vae_kl": "KL to the prior"},
                "The generator (VAE) on the current data, nats per image", "nats per image", key=f"pg_{name}_vae")
    replay_label = ("classifier loss on generated samples (negatives only)" if name == "generative_negative_replay"
                    else "classifier loss on generated samples")
    stat_curves(snap, {"current_loss": "classifier loss on the current data", "replay_loss": replay_label},
                "Classifier losses on real and on generated data", "cross-entropy", key=f"pg_{name}_losses")
    if name == "generative_negative_replay":
        st.caption("GNR is AR1*: CWR*'s output layer trains only the current task's classes and keeps the old "
                   "classes' weights consolidated. Generated samples only push the current classes below the old "
                   "classes' consolidated scores: poor samples cannot blur what the old classes learned, they only "
                   "keep the new classes off the old classes' inputs.")
        latent_views(snap, live)
