"""About: what continual learning is, how to read every chart, the metrics, presets and data attribution.

Every visible text comes from the string catalogs (pages/shared/i18n.py, table `about`); the strategies'
names and summaries from `strategy_ui`, the lecture presets' titles from pages/shared/presets.py. The
metrics' formulas (LaTeX) do not depend on the language and live here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clcore import STRATEGIES
from pages.shared import i18n, session
from pages.shared.i18n import t

# The metrics, in the order the page explains them: (catalog key under about.metrics, formula).
METRICS = (
    ("acc", r"\mathrm{ACC} = \frac{1}{T}\sum_{j=1}^{T} R_{T,j}"),
    ("forgetting", r"\mathrm{F} = \frac{1}{T-1}\sum_{j=1}^{T-1} \Big(\max_{i \in [j, T-1]} R_{i,j} - R_{T,j}\Big)"),
    ("bwt", r"\mathrm{BWT} = \frac{1}{T-1}\sum_{j=1}^{T-1} \big(R_{T,j} - R_{j,j}\big)"),
    ("fwt", r"\mathrm{FWT} = \frac{1}{T-1}\sum_{j=2}^{T} \big(R_{j-1,j} - b_j\big)"),
)


def strategy_table() -> pd.DataFrame:
    """One row per strategy the engine registers."""
    column = {
        name: t(f"about.strategies.column.{name}") for name in ("strategy", "name", "summary", "buffer", "parameters")
    }
    return pd.DataFrame(
        [
            {
                column["strategy"]: name,
                column["name"]: t(f"strategy_ui.{name}.title"),
                column["summary"]: t(f"strategy_ui.{name}.summary"),
                column["buffer"]: t("about.strategies.yes" if cls.uses_buffer else "about.strategies.no"),
                column["parameters"]: ", ".join(p.name for p in cls.params) or "–",
            }
            for name, cls in STRATEGIES.items()
        ]
    )


def lecture_preset_table() -> pd.DataFrame | None:
    """The Playground's lecture presets (pages/shared/presets.py) with the times measured for them."""
    try:
        from pages.shared.presets import LECTURE_PRESETS, lecture_settings, lecture_title, lecture_wall_s
    except Exception:  # noqa: BLE001 - the About page must render even without the Playground's module
        return None
    column = {
        name: t(f"about.presets.column.{name}")
        for name in ("preset", "strategy", "benchmark", "tasks", "examples", "wall_s")
    }
    rows = []
    for name in LECTURE_PRESETS:
        settings, measured = lecture_settings(name), lecture_wall_s(name)
        rows.append(
            {
                column["preset"]: lecture_title(name),
                column["strategy"]: settings["strategy"],
                column["benchmark"]: settings["benchmark"],
                column["tasks"]: str(settings.get("n_tasks") or t("about.presets.default")),
                column["examples"]: str(settings.get("train_subset") or t("about.presets.all")),
                column["wall_s"]: t("about.presets.not_measured") if measured is None else f"{measured:.1f}",
            }
        )
    return pd.DataFrame(rows) if rows else None


def page() -> None:
    session.run_through_app()
    i18n.language_switch()
    st.title(t("about.title"))
    st.subheader(t("about.intro.heading"))
    st.markdown(t("about.intro.body"))

    st.subheader(t("about.strategies.heading"))
    st.dataframe(strategy_table(), hide_index=True, width="stretch")

    st.subheader(t("about.charts.heading"))
    st.markdown(t("about.charts.body"))

    st.subheader(t("about.metrics.heading"))
    st.markdown(t("about.metrics.intro"))
    for name, formula in METRICS:
        st.markdown(t(f"about.metrics.{name}"))
        st.latex(formula)
    st.caption(t("about.metrics.caption"))

    st.subheader(t("about.presets.heading"))
    table = lecture_preset_table()
    if table is not None:
        st.dataframe(table, hide_index=True, width="stretch")
        st.caption(t("about.presets.caption"))
    else:
        st.info(t("about.presets.fallback"))

    st.subheader(t("about.privacy.heading"))
    st.markdown(t("about.privacy.body"))

    st.subheader(t("about.data.heading"))
    st.markdown(t("about.data.body"))


page()
