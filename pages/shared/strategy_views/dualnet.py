"""DualNet: the slow learner's self-supervised (Barlow Twins) loss, and how much the fast learner's
modulation changes the slow features it reads."""

from __future__ import annotations

import streamlit as st

from pages.shared.i18n import t
from pages.shared.strategy_views import view
from pages.shared.strategy_views.common import stat_curves


@view("dualnet")
def dualnet_views(snap, live) -> None:
    st.subheader(t("views.dualnet.title"))
    stat_curves(
        snap,
        {"ssl_loss": t("views.dualnet.ssl_loss"), "supervised_loss": t("views.dualnet.supervised_loss")},
        t("views.dualnet.losses_chart"),
        t("views.dualnet.losses_axis"),
        key="pg_dualnet_losses",
        empty=t("views.dualnet.waiting"),
    )
    stat_curves(
        snap,
        {
            "slow_feature_norm": t("views.dualnet.slow_feature"),
            "adapted_feature_norm": t("views.dualnet.adapted_feature"),
            "gate_mean": t("views.dualnet.gate"),
        },
        t("views.dualnet.features_chart"),
        t("views.dualnet.features_axis"),
        key="pg_dualnet_features",
    )
    st.caption(t("views.dualnet.caption"))
