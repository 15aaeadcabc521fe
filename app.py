"""Continual Learning Playground: `streamlit run app.py` (or `make run`).

Pages: Playground (live training), Learn, Compare (what-if across runs), About; their titles come from the
string catalogs (`nav.*`, pages/shared/i18n.py) in the language of `?lang=`. Every browser session gets a
workspace id kept in the URL (`?ws=...`), so reopening the URL finds the same runs. On every run,
`session.enter_app()` (pages/shared/session.py) sets up the session, the layout and the navigation, then the
page the URL names runs. `streamlit run` puts this folder on the import path, so the pages import `clcore`
and `pages.shared` as they are.
"""

from pages.shared import session

session.enter_app().run()
