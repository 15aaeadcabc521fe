"""Opening the app in AppTest, as a browser does: app.py runs first (layout, workspace, st.navigation) and
opens the page the URL names. AppTest sessions never close, so the trainings they started are stopped
after each test (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from pages.shared import session

APP = str(Path(__file__).resolve().parent.parent / "app.py")
OPENED: list[AppTest] = []


def open_app(query: dict | None = None, *, page: str | None = None, timeout: float = 60) -> AppTest:
    """app.py run once with the URL parameters `query`, on `page` (its path beside app.py, e.g.
    "pages/compare.py"; default: the Playground); fails on an exception in the page."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    OPENED.append(at)
    if page:
        at.switch_page(page)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def stop_trainings() -> None:
    """Stop the trainings of every session opened so far, so that no thread keeps training or waiting."""
    while OPENED:
        at = OPENED.pop()
        for live_run in at.session_state.get(session.LIVE_KEY, []):
            live_run.bg.stop()
            live_run.bg.join(5)
