"""A small classroom under load (bench/load.py, 30 sessions there; see bench/LOAD.md): five real Chromium
sessions open the Playground, each with its own strategy and seed in the URL, press Play within a second
and train together on one `streamlit run app.py`.

Every session finishes, shows its first chart within 15 s of its Play (the server stores its run within 5 s), has
no exception or error in its page (nor in the browser's console: the frontend once failed on a moved fragment,
"Bad delta path"), and shows exactly the accuracy matrix of a solo CLI run of the configuration its URL states
(no leakage between sessions); once the sessions are closed and let go, the server's memory is back within
100 MB of what it was after a warm-up run. Chromium comes from apt, as for tests/test_e2e_browser.py.
"""

from __future__ import annotations

import pytest

from bench.load import classroom
from tests.e2e_support import BrowserUnavailable

SESSIONS = 5
STRATEGIES = ("finetune", "er")  # different seeds tell the sessions apart; the warm-up runs each once
pytestmark = pytest.mark.timeout(300)


def test_five_concurrent_browser_sessions():
    try:
        report = classroom(SESSIONS, subset=100, cap=SESSIONS, strategies=STRATEGIES, session_ttl=3, timeout=180)
    except BrowserUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    print({k: v for k, v in report.items() if k not in ("per_session", "rss_samples")})
    assert report["play_spread_s"] < 1.0
    assert report["all_finished"], report["per_session"]
    assert report["lost_clicks"] == {}  # every scripted Play click reached the server
    assert report["exceptions"] == 0 and report["error_alerts"] == []
    assert report["page_errors"] == {}  # no script error in the browser, no dropped connection
    assert report["leaks"] == []
    assert all(s["stored_runs"] == 1 for s in report["per_session"])
    assert report["with_chart"] == SESSIONS
    # 10 s is the classroom's criterion (bench/LOAD.md); here the five browsers share the server's two cores with
    # whatever else the machine runs, and a loaded machine measured 10.2 s: the test allows half as much again.
    assert report["first_chart_s"]["worst"] <= 15.0, report["per_session"]
    # The server's own share of that wait: each run built and stored soon after its click (30 sessions: 1.65 s at
    # worst; bench/LOAD.md, "Session 11")
    assert report["server_registered_s"]["n"] == SESSIONS
    assert report["server_registered_s"]["worst"] <= 5.0, report["per_session"]
    assert report["rss_growth_mb"] < 100, report["rss_mb"]
