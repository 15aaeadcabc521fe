"""Proof under load: a classroom of real browsers on one server, and one long browser session.

    python -m bench.load classroom [--sessions 30] [--subset 200] [--cap 30] [--rounds 1] [--out ...]
    python -m bench.load long [--runs 50] [--subset 200] [--out bench/results/load-long.json]
    python -m bench.load engine [--sessions 30] [--subset 200] [--cap 30] [--out bench/results/load-engine.json]

classroom: `streamlit run app.py` (tests/e2e_support.py) and one headless Chromium with one browser context per
student (its own cookies and Streamlit session). Every page opens the Playground first, each with its own
strategy and seed in the URL (`?strategy=er&seed=3&train_subset=200`: the strategy's recommended settings, then
the URL's values); then Play is clicked in every page within a second, and the pages train together. Per page:
- time to first chart: from its Play click to its forgetting-curves chart showing a point past step 0 (the
  first live evaluation of its own run), timed inside the page (a 100 ms timer, so the browser's clock for both);
- time to first response: from its Play click to its status line showing the new run (running or queued);
- server registration: from its Play click to its run's row in the store (the server built the run and started
  it); the page's and the server's clocks are this machine's one clock, so this splits the page's wait into
  the server's part and the browser's;
- no exception element (`stException`) and no error alert in the page at the end;
- no leakage: the final accuracy matrix in the page's heatmap equals, to the CSV's two decimals, a solo CLI run
  (`clcore run --no-recommended` with every setting given) of the configuration the page's own URL states, and
  the run stored for the page's workspace has that configuration.
The server's RSS (its process tree, /proc) is sampled throughout; it is taken after a warm-up (imports, MNIST,
each strategy's first run: one run of each in one session) once that session is let go, and again after all
the classroom's browser contexts are closed and let go (with `--rounds N`, after each of N classes in a row).
Streamlit keeps a closed tab's session for `server.disconnectedSessionTTL` (120 s by default) in case it
reconnects, and drops expired ones the next time a session disconnects; the bench sets that TTL to
`--session-ttl` seconds, waits it out and opens and closes one page. The server's CPU time over the wall time
from the first Play to the last run's end is its CPU share (2 = both cores of a 2-core machine). The
browser's processes run at the lowest priority once the pages are open (nice 19, and nice 19 for their
scheduling autogroup: see lowest_priority): in a lecture the students' browsers run on their own laptops, here
they share the server's cores.

long: one browser session plays `--runs` runs in a row (Play, wait for the end, choose the next strategy
and the examples per task, Play...), the server's RSS after each run.

engine: the classroom's runs (same strategies, seeds, settings) played at once through one RunQueue in this
process, without Streamlit or browsers: the engine's own share of the classroom's times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from clcore.runs.store import RunStore
from pages.shared import controls, i18n
from tests.cli_support import run_cli
from tests.e2e_support import ROOT, app_server, chromium

from ._common import RESULTS_DIR, environment, write_json

STRATEGIES = ("finetune", "er", "der", "derpp", "ewc", "lwf", "si", "agem")  # a classroom's mix, cycled
LOG_DIR = ROOT / "artifacts" / "load"
MB = 1024 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")

# Run in a page before each Play: records, in the page's own clock, when its run first shows a chart point
# past step 0 (meaningful for a page's first run: later ones start with the previous run's chart), its queued
# badge, its end. `play` is set by the same script that clicks Play.
WATCH_PAGE = """() => {
    window.__load = {play: null, started: null, first_chart: null, queued: null, finished: null, failed: null,
                     visibility: document.visibilityState};
    if (window.__watching) return;
    window.__watching = true;
    setInterval(() => {
        const rec = window.__load;
        if (rec.play === null) return;
        const now = Date.now();
        const status = document.querySelector('.st-key-pg_status');
        const text = status ? status.innerText : '';
        // the page shows the new run once its status line changed (a first run may show "finished" at once)
        if (rec.started === null && text && text !== rec.before) rec.started = now;
        if (rec.started === null) return;
        const curves = document.querySelector('.st-key-pg_curves .js-plotly-plot');
        const xs = curves && curves.data && curves.data[0] ? curves.data[0].x || [] : [];
        if (rec.first_chart === null && xs.length && xs[xs.length - 1] > 0) rec.first_chart = now;
        if (rec.queued === null && text.includes('queued')) rec.queued = now;
        // over once the status says so and the heatmap has drawn its last row (the two redraw apart)
        const heat = document.querySelector('.st-key-pg_heatmap .js-plotly-plot');
        const z = heat && heat.data ? heat.data[0].z || [] : [];
        const drawn = z.length && z[z.length - 1].every(v => v !== null);
        if (rec.finished === null && text.includes('finished') && drawn) rec.finished = now;
        if (rec.failed === null && (text.includes('failed') || document.querySelector('[data-testid="stException"]')))
            rec.failed = now;
    }, 100);
}"""
PRESS_PLAY = """() => {
    const status = document.querySelector('.st-key-pg_status');
    const button = document.querySelector('.st-key-pg_play button');
    const running = document.querySelector('[data-testid="stStatusWidget"]');
    window.__load.before = status ? status.innerText : '';
    // what the click met: a disabled button ignores it; a page mid-rerun sends it into that rerun
    window.__load.click = {disabled: button.disabled, page_running: running ? running.innerText : ''};
    button.click();
    window.__load.play = Date.now();
}"""
READ_END = """() => {
    const heat = document.querySelector('.st-key-pg_heatmap .js-plotly-plot');
    return {
        z: heat && heat.data ? heat.data[0].z : null,
        exceptions: [...document.querySelectorAll('[data-testid="stException"]')].map(e => e.innerText),
        errors: [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText),
        status: (document.querySelector('.st-key-pg_status') || {innerText: ''}).innerText,
    };
}"""


# --------------------------------------------------------------------------------------------------
# the server process, from /proc
# --------------------------------------------------------------------------------------------------
def server_pid(url: str) -> int:
    """The pid of the `streamlit run` listening on `url`'s port (app_server starts it)."""
    port = str(urlsplit(url).port)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"streamlit" in b" ".join(args) and port.encode() in args:
                return int(entry.name)
    raise RuntimeError(f"no streamlit process listens on port {port}")


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the fields after the command name


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def _autogroup(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().split()[0]
    except (OSError, IndexError):
        return None  # a kernel without autogroup scheduling, or the process is gone


def lowest_priority(pids: list[int]) -> list[str]:
    """nice 19 for each process and for each scheduling autogroup among them but the bench's own; returns the
    groups lowered. With autogroup scheduling (Linux's default for desktop and server kernels alike) the CPU is
    first shared equally between sessions, and a process's nice only ranks it inside its own session: the
    server and the browser each start a session, so without lowering the browser's group the 30 pages take
    a fair half of the cores whatever their nice."""
    own = _autogroup(os.getpid())
    lowered = []
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, 19)
        except ProcessLookupError:
            continue
        group = _autogroup(pid)
        if group is not None and group != own and group not in lowered:
            try:
                Path(f"/proc/{pid}/autogroup").write_text("19\n")
            except OSError:  # not allowed here (some containers): the group keeps its share
                continue
            lowered.append(group)
    return lowered


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants, MB."""
    total = 0
    for p in process_tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError):
            continue
    return total / MB


def cpu_s(pids) -> float:
    """User + system CPU seconds of these processes (their finished children included)."""
    total = 0
    for p in pids:
        try:
            fields = _stat(p)
        except OSError:
            continue
        total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    return total / TICKS


class RssSampler(threading.Thread):
    """The server's RSS every `every` seconds, as (seconds since start, MB)."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.every, self.t0 = pid, every, time.time()
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append((round(time.time() - self.t0, 2), round(rss_mb(self.pid), 1)))
            self.done.wait(self.every)

    def since(self, t: float) -> list[float]:
        return [mb for at, mb in self.samples if at >= t - self.t0]


# --------------------------------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------------------------------
@dataclass
class Student:
    strategy: str
    seed: int
    workspace: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    context: object = None
    page: object = None
    page_errors: list = field(default_factory=list)  # uncaught errors and console errors in the page
    sockets: list = field(default_factory=list)  # websockets the page opened
    media_misses: int = 0  # images the page asked for after the server had replaced them (see _console_error)

    def query(self, subset: int) -> str:
        return f"ws={self.workspace}&strategy={self.strategy}&seed={self.seed}&train_subset={subset}"


# Console errors that are not the page's: this machine has no internet (the frontend's requests for outside
# resources fail), and an image replaced by the next redraw before the browser fetched it is gone from the server's
# media store (a thumbnail missing until the next redraw, 0.8 s later): counted apart as media misses.
NO_INTERNET = "ERR_NAME_NOT_RESOLVED"
MEDIA_MISS = ("status of 404 (Not Found)", "Image source error")


def _console_error(student: Student, text: str) -> None:
    if NO_INTERNET in text:
        return
    if any(sign in text for sign in MEDIA_MISS):
        student.media_misses += 1
        return
    student.page_errors.append(f"console: {text}"[:2000])


def open_playground(browser, url: str, student: Student, subset: int) -> Student:
    """A browser context of its own (cookies, Streamlit session) with the Playground for `student`."""
    student.context = browser.new_context(viewport={"width": 1300, "height": 1000})
    student.page = student.context.new_page()
    student.page.on("pageerror", lambda error: student.page_errors.append(f"pageerror: {error}"))
    student.page.on("console", lambda m: m.type == "error" and _console_error(student, m.text))
    student.page.on("crash", lambda _: student.page_errors.append("crash: the page's renderer crashed"))
    # a Streamlit page whose websocket closes reconnects and may miss redraws: count the sockets it opened
    student.page.on(
        "websocket",
        lambda ws: (
            student.sockets.append(ws.url)
            or ws.on("close", lambda _: student.page_errors.append(f"websocket closed: {ws.url}"))
        ),
    )
    student.page.goto(f"{url}/?{student.query(subset)}", wait_until="domcontentloaded")
    student.page.locator(".st-key-pg_play button").first.wait_for(timeout=120_000)
    return student


def settle(student: Student) -> None:
    """Wait until the page has written all its settings into its URL (its first run is over), then watch it."""
    deadline = time.time() + 120
    while url_setting(student.page, "batch_size") is None:
        if time.time() > deadline:
            raise RuntimeError(f"the page never showed its settings in its URL: {student.page.url}")
        student.page.wait_for_timeout(200)
    student.page.evaluate(WATCH_PAGE)


def records(students: list[Student]) -> list[dict]:
    return [s.page.evaluate("() => window.__load") for s in students]


# A click still unanswered this long after it was sent counts as lost. Under a classroom's load a page's click reaches
# the server late (its renderer shares 2 cores with 29 others): first responses took up to 84 s, and a 11:43 run that
# looked sooner flagged 19 pages whose Play callbacks the server log showed arriving later (bench/LOAD.md).
LOST_AFTER_S = 180


def lost_clicks(students: list[Student], seen: list[dict], store_path: Path) -> list[int]:
    """The pages whose Play click never reached the server: no new run shown LOST_AFTER_S after the click while
    every other page has ended, and no run stored for the page's workspace (the app stores a run as it starts)."""
    now_ms = time.time() * 1000
    waiting = [i for i, r in enumerate(seen) if r["started"] is None and now_ms - r["play"] > LOST_AFTER_S * 1000]
    if not waiting or any(not (r["finished"] or r["failed"]) for r in seen if r["started"] is not None):
        return []
    store = RunStore(store_path)
    try:
        return [i for i in waiting if not store.list_summaries(students[i].workspace)]
    finally:
        store.close()


def wait_for_ends(students: list[Student], timeout: float, store_path: Path | None = None) -> list[dict]:
    """Every page's record once its run has ended. With `store_path`, a click that never reached the server
    (lost_clicks) is recorded in the page's record (`lost_click`: what the click met) and Play is pressed
    again, as a student would, by Playwright (which waits until the button takes clicks)."""
    deadline = time.time() + timeout
    lost = {}
    while True:
        seen = records(students)
        for i in lost_clicks(students, seen, store_path) if store_path else []:
            if i in lost:  # pressed again already: its second click is on its way
                continue
            lost[i] = seen[i]["click"]
            students[i].page.locator(".st-key-pg_play button").first.click(timeout=60_000)
        for i, click in lost.items():
            seen[i]["lost_click"] = click
        if all(r["finished"] or r["failed"] for r in seen):
            return seen
        if time.time() > deadline:
            late = [i for i, r in enumerate(seen) if not (r["finished"] or r["failed"])]
            # what each late page shows, to tell a page that missed its last redraw from a wrong bench condition
            dump = LOG_DIR / "late-pages.json"
            pages = []
            for i in late:
                page = students[i].page
                page.screenshot(path=str(LOG_DIR / f"late-page-{i}.png"), full_page=True)
                text = page.evaluate("() => (document.querySelector('section.stMain') || document.body).innerText")
                pages.append(
                    {
                        "session": i,
                        "url": page.url,
                        "record": seen[i],
                        "page": page.evaluate(READ_END),
                        "text": text,
                        "errors": students[i].page_errors,
                    }
                )
            write_json(dump, pages)
            raise RuntimeError(f"sessions {late} did not finish within {timeout:.0f} s (their pages: {dump})")
        time.sleep(1.0)


def page_config(page_url: str) -> dict:
    """The run configuration the page's URL states (the Playground keeps every setting in it)."""
    query = {k: v for k, v in parse_qsl(urlsplit(page_url).query) if k not in ("ws", "lang")}
    state, messages = controls.parse_url(query)
    if messages:
        raise RuntimeError(f"the page's URL has ignored parameters: {messages}")
    config, errors = controls.validate(controls.settings_from_state(state))
    if config is None:
        raise RuntimeError(f"the page's URL is not a valid configuration: {errors}")
    return config.to_dict()


def cli_flags(config: dict) -> list[str]:
    """`clcore run` options giving every setting of `config` (and no recommended settings)."""
    flags = ["--no-recommended"]
    for name, value in config.items():
        if name == "params" or value is None:
            continue
        if isinstance(value, list):
            value = ",".join(map(str, value))
        flags += ["--" + name.replace("_", "-"), str(value)]
    for name, value in config["params"].items():
        flags += ["--param", f"{name}={value}"]
    return flags


def solo_cli_run(config: dict, out: Path) -> dict:
    code, stderr = run_cli(["run", *cli_flags(config), "--quiet", "--out", str(out)])
    if code != 0:
        raise RuntimeError(f"clcore run failed ({code}): {stderr}")
    return json.loads(out.read_text())


def rounded(matrix) -> list[list]:
    return [[None if v is None else round(v, 2) for v in row] for row in matrix or []]


def leakage_check(end: dict, play_ms: float, store: RunStore, workspace: str, out: Path) -> dict:
    """Whether the page (`end`: READ_END and its URL) shows exactly the solo CLI run of the configuration its URL
    states, and its workspace stored that one run (else what each stored run was, timed from the Play click)."""
    config = page_config(end["url"])
    cli = solo_cli_run(config, out)
    summaries = store.list_summaries(workspace)
    stored = store.get(summaries[0].id, workspace).result if len(summaries) == 1 else None

    def comparable(c):
        return {k: v for k, v in (c or {}).items() if k != "device"}

    same = rounded(end["z"]) == rounded(cli["acc_matrix"])
    return {
        "strategy": config["strategy"],
        "seed": config["seed"],
        "stored_runs": len(summaries),
        "stored_config_matches": stored is not None and comparable(stored["config"]) == comparable(cli["config"]),
        "page_matrix_matches_cli": same,
        "cli_avg_acc": cli["avg_acc"],
        **({} if same else {"page_matrix": end["z"], "cli_matrix": cli["acc_matrix"]}),
        # more (or fewer) runs than the one Play: what each stored run was, to tell how it came to be
        **(
            {}
            if len(summaries) == 1
            else {
                "stored": [
                    {
                        "id": run.id,
                        "status": str(run.status),
                        "created_after_play_s": round(run.created - play_ms / 1000, 2),
                        "config_differs": {
                            k: [v, cli["config"].get(k)]
                            for k, v in comparable(run.config).items()
                            if v != cli["config"].get(k)
                        },
                    }
                    for run in summaries
                ]
            }
        ),
    }


def server_registered_s(store: RunStore, workspace: str, play_ms: float) -> float | None:
    """Seconds from a page's Play click (the page's clock) to its run's row in the store (the server's clock; one
    machine, one clock): the server has received the click, built the run and handed it to its trainer."""
    runs = store.list_summaries(workspace)
    return round(runs[-1].created - play_ms / 1000, 2) if runs else None


def let_go(browser, url: str, session_ttl: float) -> None:
    """Wait until the server has dropped the sessions of closed tabs: their TTL, then one page opened and
    closed (a disconnect is when Streamlit drops expired sessions), then a few seconds."""
    time.sleep(session_ttl + 1)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{url}/about", wait_until="domcontentloaded")
    page.locator("[data-testid='stSidebarNav']").first.wait_for(timeout=60_000)
    context.close()
    time.sleep(5)


def since_play(record: dict, event: str) -> float | None:
    """Seconds from a page's Play click to `event` in its record (the page's clock), None if not seen."""
    return (record[event] - record["play"]) / 1000 if record[event] else None


def summary(values: list[float]) -> dict:
    values = sorted(values)
    return {"median": round(statistics.median(values), 2), "worst": round(values[-1], 2), "n": len(values)}


def play_one(student: Student, timeout: float = 300) -> dict:
    """Press Play in one page and wait for its run to end; its record."""
    student.page.evaluate(PRESS_PLAY)
    return wait_for_ends([student], timeout)[0]


def url_setting(page, name: str) -> str | None:
    return dict(parse_qsl(urlsplit(page.url).query)).get(name)


def choose_strategy(page, strategy: str, subset: int) -> None:
    """Pick `strategy` in the sidebar (which loads its recommended settings), then set the examples per task;
    done once the page's URL says both."""
    title = i18n.catalog("en")[f"strategy_ui.{strategy}.title"]
    page.locator(".st-key-pg_strategy").get_by_role("combobox").click()
    page.keyboard.type(title)  # the menu draws only the options in view: filter it down to this one
    page.get_by_role("option", name=title, exact=True).click()
    deadline = time.time() + 60
    while url_setting(page, "strategy") != strategy:
        if time.time() > deadline:
            raise RuntimeError(f"the page did not switch to {strategy}")
        page.wait_for_timeout(200)
    field_ = page.locator(".st-key-pg_train_subset input")
    while url_setting(page, "train_subset") != str(subset):
        if time.time() > deadline:
            raise RuntimeError(f"could not set the examples per task for {strategy}")
        field_.fill(str(subset))
        field_.press("Enter")
        page.wait_for_timeout(500)


def consecutive_runs(student: Student, strategies, subset: int, timeout_per_run: float = 300):
    """Play one run of each strategy in turn in the student's page (its first one is the page's own):
    yields (strategy, the page's record, what the page shows at the end)."""
    for k, strategy in enumerate(strategies):
        if k:
            choose_strategy(student.page, strategy, subset)
            student.page.evaluate(WATCH_PAGE)
        record = play_one(student, timeout_per_run)
        yield strategy, record, student.page.evaluate(READ_END)


# --------------------------------------------------------------------------------------------------
# the classroom
# --------------------------------------------------------------------------------------------------
def classroom(
    sessions: int,
    subset: int,
    cap: int,
    strategies=STRATEGIES,
    session_ttl: float = 10,
    timeout: float = 900,
    rounds: int = 1,
) -> dict:
    """Everything measured for `sessions` concurrent browser sessions, cycling through `strategies` (see the
    module's docstring). The warm-up plays one run of each strategy in one session first. With `rounds` > 1 the
    same class comes back to the same server that many times, one after the other (a day of lectures): the report
    is the first round's, and `rounds` lists every round's times and memory."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {"CLCORE_MAX_TRAININGS": str(cap), "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(int(session_ttl))}
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        store_path = Path(tmp) / "runs.sqlite"
        with app_server(store_path, LOG_DIR / "classroom-server.log", env) as url:
            pid = server_pid(url)
            sampler = RssSampler(pid)
            sampler.start()
            warm = open_playground(browser, url, Student(strategies[0], seed=10_000), subset)
            settle(warm)
            for _ in consecutive_runs(warm, strategies, subset):
                pass
            warm.context.close()
            let_go(browser, url, session_ttl)
            reports = []
            for _ in range(rounds):
                students = [Student(strategies[i % len(strategies)], seed=i) for i in range(sessions)]
                report = one_class(browser, url, pid, sampler, students, subset, session_ttl, timeout, store_path)
                reports.append((students, report))
            sampler.done.set()
        store = RunStore(store_path)
        for round_, (students, report) in enumerate(reports):
            ends = report.pop("ends")
            report["per_session"] = [
                leakage_check(page, r["play"], store, s.workspace, Path(tmp) / f"cli{round_}-{i}.json")
                for i, (s, page, r) in enumerate(zip(students, report.pop("pages"), ends))
            ]
            registered = [server_registered_s(store, s.workspace, r["play"]) for s, r in zip(students, ends)]
            report["server_registered_s"] = summary([t for t in registered if t is not None])
            report["leaks"] = [
                c for c in report["per_session"] if not (c["page_matrix_matches_cli"] and c["stored_config_matches"])
            ]
            for entry, r, t in zip(report["per_session"], ends, registered):
                entry.update(
                    first_chart_s=since_play(r, "first_chart"),
                    first_response_s=since_play(r, "started"),
                    server_registered_s=t,
                )
    first = reports[0][1]
    result = {
        "sessions": sessions,
        "train_subset": subset,
        "max_trainings": cap,
        "session_ttl_s": session_ttl,
        **first,
        "rss_samples": sampler.samples,
    }
    if rounds > 1:
        result["rounds"] = [report for _, report in reports]
        result["rss_growth_over_rounds_mb"] = round(reports[-1][1]["rss_mb"]["end"] - first["rss_mb"]["start"], 1)
    return result


def one_class(browser, url, pid, sampler, students, subset, session_ttl, timeout, store_path) -> dict:
    """One class on a warmed-up server: open every page, Play in all within a second, wait for the ends, close
    every page and let the sessions go. The pages' final state and their timings are returned for `classroom` to
    check against the store and solo CLI runs ("pages", "ends")."""
    rss_start = rss_mb(pid)
    t_open = time.time()
    for student in students:
        open_playground(browser, url, student, subset)
    for student in students:
        settle(student)
    opened_s = time.time() - t_open
    bench_pid = os.getpid()
    browser_pids = [p for p in process_tree(bench_pid) if p not in process_tree(pid) and p != bench_pid]
    lowered_groups = lowest_priority(browser_pids)  # students' browsers run on their own laptops
    cpu_server, cpu_browser, t_play = cpu_s(process_tree(pid)), cpu_s(browser_pids), time.time()
    for student in students:
        student.page.evaluate(PRESS_PLAY)
    ends = wait_for_ends(students, timeout, store_path)
    wall = max(r["finished"] or r["failed"] for r in ends) / 1000 - min(r["play"] for r in ends) / 1000
    cpu_server = cpu_s(process_tree(pid)) - cpu_server
    cpu_browser = cpu_s(browser_pids) - cpu_browser
    rss_peak = max(sampler.since(t_play))
    pages = [dict(s.page.evaluate(READ_END), url=s.page.url, page_errors=list(s.page_errors)) for s in students]
    for student in students:
        student.context.close()
    let_go(browser, url, session_ttl)
    rss_end = rss_mb(pid)
    first_chart = [since_play(r, "first_chart") for r in ends if r["first_chart"]]
    return {
        "open_all_pages_s": round(opened_s, 1),
        "play_spread_s": (max(r["play"] for r in ends) - min(r["play"] for r in ends)) / 1000,
        "all_finished": all(r["finished"] for r in ends),
        "with_chart": len(first_chart),
        "first_chart_s": summary(first_chart),
        "first_response_s": summary([since_play(r, "started") for r in ends if r["started"]]),
        "play_to_end_s": summary([(r["finished"] or r["failed"]) / 1000 - r["play"] / 1000 for r in ends]),
        "queued_sessions": sum(1 for r in ends if r["queued"]),
        # Play clicks that never reached the server (pressed again; their times count from the first click)
        "lost_clicks": {i: r["lost_click"] for i, r in enumerate(ends) if "lost_click" in r},
        "exceptions": sum(len(p["exceptions"]) for p in pages),
        "media_misses": sum(s.media_misses for s in students),
        "page_errors": {i: p["page_errors"] for i, p in enumerate(pages) if p["page_errors"]},  # before they closed
        "error_alerts": [e for p in pages for e in p["errors"]],
        "wall_s": round(wall, 2),
        "server_cpu_s": round(cpu_server, 1),
        "server_cores_busy": round(cpu_server / wall, 2),
        "browser_cores_busy": round(cpu_browser / wall, 2),
        "browser_autogroups_lowered": lowered_groups,
        "rss_mb": {"start": round(rss_start, 1), "peak": rss_peak, "end": round(rss_end, 1)},
        "rss_growth_mb": round(rss_end - rss_start, 1),
        "visibility": sorted({r["visibility"] for r in ends}),
        "pages": pages,
        "ends": ends,
    }


# --------------------------------------------------------------------------------------------------
# the classroom's runs without browsers
# --------------------------------------------------------------------------------------------------
def engine_only(sessions: int, subset: int, cap: int, strategies=STRATEGIES) -> dict:
    """The classroom's runs (same strategies, seeds and recommended settings as the pages) played at once through
    one RunQueue in this process, as the server's trainer threads play them, without Streamlit or browsers: what
    the engine alone needs, to tell it apart from the pages' and the browsers' share of the classroom's times.
    Per run: seconds from the common start to its first task end (the page's first chart point past step 0)."""
    from clcore.runs.events import TaskEnd
    from clcore.runs.queue import RunQueue
    from clcore.runs.run import Run
    from clcore.settings.recommended import with_recommended

    runs = [
        Run(with_recommended(dict(strategy=strategies[i % len(strategies)], seed=i, train_subset=subset, params={})))
        for i in range(sessions)
    ]
    first_task_end: dict[int, float] = {}
    queue = RunQueue(cap)
    began, cpu_began = time.perf_counter(), time.process_time()
    for i, run in enumerate(runs):
        run.subscribe(
            lambda event, i=i: isinstance(event, TaskEnd) and first_task_end.setdefault(i, time.perf_counter() - began)
        )
    for run in runs:
        queue.submit(run)
    queue.wait()
    wall = time.perf_counter() - began
    return {
        "sessions": sessions,
        "train_subset": subset,
        "max_trainings": cap,
        "first_task_end_s": summary(list(first_task_end.values())),
        "wall_s": round(wall, 2),
        "cores_busy": round((time.process_time() - cpu_began) / wall, 2),
        "all_finished": all(run.status == "finished" for run in runs),
    }


# --------------------------------------------------------------------------------------------------
# the long session
# --------------------------------------------------------------------------------------------------
def long_session(runs: int, subset: int, timeout_per_run: float = 300) -> dict:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        chromium() as browser,
        app_server(Path(tmp) / "runs.sqlite", LOG_DIR / "long-server.log") as url,
    ):
        pid = server_pid(url)
        student = open_playground(browser, url, Student(STRATEGIES[0], seed=0), subset)
        settle(student)
        cycle = [STRATEGIES[k % len(STRATEGIES)] for k in range(runs)]
        for k, (strategy, record, end) in enumerate(consecutive_runs(student, cycle, subset, timeout_per_run)):
            rows.append(
                {
                    "run": k + 1,
                    "strategy": strategy,
                    "finished": bool(record["finished"]),
                    "play_to_end_s": ((record["finished"] or record["failed"]) - record["play"]) / 1000,
                    "exceptions": len(end["exceptions"]),
                    "rss_mb": round(rss_mb(pid), 1),
                }
            )
            print(f"run {k + 1:2d} {strategy:8s} rss {rows[-1]['rss_mb']:.0f} MB", flush=True)
        student.context.close()
    after_warmup = [r["rss_mb"] for r in rows[5:]] or [rows[-1]["rss_mb"]]
    return {
        "runs": runs,
        "train_subset": subset,
        "all_finished": all(r["finished"] for r in rows),
        "exceptions": sum(r["exceptions"] for r in rows),
        "rss_after_run5_mb": rows[min(4, len(rows) - 1)]["rss_mb"],
        "rss_growth_after_run5_mb": round(max(after_warmup) - rows[min(4, len(rows) - 1)]["rss_mb"], 1),
        "rows": rows,
    }


SVG_COLOURS = ("#1f77b4", "#aaaaaa", "#d62728")


def rss_svg(series: dict[str, list[dict]], path: Path, width: int = 640, height: int = 260) -> None:
    """Long sessions' RSS after each run ({label: rows}), as a small hand-written SVG line chart."""
    ys = [r["rss_mb"] for rows in series.values() for r in rows]
    last = max(r["run"] for rows in series.values() for r in rows)
    low, high = min(ys) - 20, max(ys) + 20
    left, bottom, top, right = 50, height - 30, 30, width - 15

    def px(x, y):
        fx = left + (x - 1) / max(1, last - 1) * (right - left)
        return f"{fx:.1f},{bottom - (y - low) / (high - low) * (bottom - top):.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#888"/>',
        f'<text x="{(left + right) / 2}" y="{height - 6}" text-anchor="middle">run in the session (1-{last})</text>',
        f'<text x="12" y="{(top + bottom) / 2}" transform="rotate(-90 12 {(top + bottom) / 2})" '
        'text-anchor="middle">server RSS, MB</text>',
    ]
    for i in range(5):
        value = low + i / 4 * (high - low)
        parts.append(
            f'<text x="{left - 6}" y="{bottom - i / 4 * (bottom - top) + 4:.0f}" text-anchor="end">{value:.0f}</text>'
        )
    for k, (label, rows) in enumerate(series.items()):
        colour = SVG_COLOURS[k % len(SVG_COLOURS)]
        points = " ".join(px(r["run"], r["rss_mb"]) for r in rows)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{left + 10 + 250 * k}" y="16" fill="{colour}">&#9632; {label}</text>')
    path.write_text("\n".join(parts) + "\n</svg>\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    room = sub.add_parser("classroom", help="concurrent browser sessions")
    room.add_argument("--sessions", type=int, default=30)
    room.add_argument("--subset", type=int, default=200, help="training examples per task")
    room.add_argument("--cap", type=int, default=30, help="CLCORE_MAX_TRAININGS for the server")
    room.add_argument("--session-ttl", type=float, default=10, help="server.disconnectedSessionTTL, seconds")
    room.add_argument("--timeout", type=float, default=900, help="seconds from Play until every page must be over")
    room.add_argument("--rounds", type=int, default=1, help="classes in a row on the same server")
    room.add_argument("--out", default=str(RESULTS_DIR / "load-classroom.json"))
    engine = sub.add_parser("engine", help="the classroom's runs in one process, without Streamlit or browsers")
    engine.add_argument("--sessions", type=int, default=30)
    engine.add_argument("--subset", type=int, default=200, help="training examples per task")
    engine.add_argument("--cap", type=int, default=30, help="training slots of the run queue")
    engine.add_argument("--out", default=str(RESULTS_DIR / "load-engine.json"))
    long_ = sub.add_parser("long", help="consecutive runs in one browser session")
    long_.add_argument("--runs", type=int, default=50)
    long_.add_argument("--subset", type=int, default=200, help="training examples per task")
    long_.add_argument("--out", default=str(RESULTS_DIR / "load-long.json"))
    long_.add_argument("--also-plot", nargs="*", default=[], help="earlier results (JSON) drawn in the same SVG")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    if args.what == "classroom":
        report = classroom(
            args.sessions, args.subset, args.cap, session_ttl=args.session_ttl, timeout=args.timeout, rounds=args.rounds
        )
        hidden = ("per_session", "rss_samples")  # in the JSON file only
        shown = {k: v for k, v in report.items() if k not in hidden}
        if "rounds" in shown:
            shown["rounds"] = [{k: v for k, v in r.items() if k not in hidden} for r in shown["rounds"]]
        print(json.dumps(shown, indent=1))
    elif args.what == "engine":
        report = engine_only(args.sessions, args.subset, args.cap)
        print(json.dumps(report, indent=1))
    else:
        report = long_session(args.runs, args.subset)
        series = {"this measurement": report["rows"]}
        for other in args.also_plot:
            series[Path(other).stem] = json.loads(Path(other).read_text())["rows"]
        rss_svg(series, Path(args.out).with_suffix(".svg"))
        print({k: v for k, v in report.items() if k != "rows"})
    write_json(
        Path(args.out),
        {
            **report,
            "load_avg_before": load_before,
            "environment": environment(0),
            "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
