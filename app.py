"""Continual Learning Playground: `streamlit run app.py` (or `make run`).

Pages: Playground (live training), Compare (what-if across runs), About. Every browser session gets a
workspace id kept in the URL (`?ws=...`), so reopening the URL finds the same runs.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="Continual Learning Playground", layout="wide", page_icon=":material/school:")

from pages.shared import i18n, session  # noqa: E402

session.workspace_id()
i18n.language()  # from ?lang= (kept in every page's URL)
session.prewarm_data()
st.navigation([
    st.Page("pages/playground.py", title="Playground", icon=":material/play_circle:", default=True),
    st.Page("pages/learn.py", title="Learn", icon=":material/menu_book:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/about.py", title="About", icon=":material/info:"),
]).run()
