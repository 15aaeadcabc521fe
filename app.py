"""Continual Learning Playground: `streamlit run app.py` (or `make run`).

Pages: Playground (live training), Learn, Compare (what-if across runs), About; their titles come from the
string catalogs (`nav.*`, pages/shared/i18n.py) in the language of `?lang=`. Every browser session gets a
workspace id kept in the URL (`?ws=...`), so reopening the URL finds the same runs.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from pages.shared import i18n, session  # noqa: E402
from pages.shared.i18n import t  # noqa: E402

session.workspace_id()
i18n.language()  # from ?lang= (kept in every page's URL); the titles below are in that language
st.set_page_config(page_title=t("nav.page_title"), layout="wide", page_icon=":material/school:")
session.prewarm_data()
session.import_optimizer_machinery()
st.navigation(
    [
        st.Page("pages/playground.py", title=t("nav.playground"), icon=":material/play_circle:", default=True),
        st.Page("pages/learn.py", title=t("nav.learn"), icon=":material/menu_book:"),
        st.Page("pages/compare.py", title=t("nav.compare"), icon=":material/compare_arrows:"),
        st.Page("pages/about.py", title=t("nav.about"), icon=":material/info:"),
    ]
).run()
