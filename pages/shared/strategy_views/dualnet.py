"""DualNet: the slow learner's self-supervised (Barlow Twins) loss, and how much the fast learner's
modulation changes the slow features it reads."""
from __future__ import annotations

import streamlit as st

from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import stat_curves


@view("dualnet")
def dualnet_views(snap, live) -> None:
    st.subheader("DualNet: slow (self-supervised) and fast (supervised) learners")
    stat_curves(snap, {"ssl_loss": "Barlow Twins loss (slow learner)", "supervised_loss": "supervised loss (fast)"},
                "The slow learner's self-supervised loss on buffer samples, and the fast learner's loss", "loss",
                key="pg_dualnet_losses", empty="The self-supervised loss appears once the buffer holds samples.")
    stat_curves(snap, {"slow_feature_norm": "slow feature h (norm)", "adapted_feature_norm": "adapted feature m = g * h (norm)",
                       "gate_mean": "fast gate g (mean value)"},
                "Fast and slow contributions at the last hidden layer", "mean over the batch",
                key="pg_dualnet_features")
    st.caption("The slow learner's features h are trained only by the self-supervised loss (two noisy views of "
               "each buffer sample should agree, with decorrelated dimensions). The fast learner multiplies "
               "them by its gates g, trained by the labels; the classifier reads the adapted features m.")
