"""What a real-browser session against the app needs, shared by tests/test_e2e_browser.py and
bench/app_speed.py: Debian's Chromium and a CJK font for the Chinese interface (installed from apt when
missing; never `playwright install`) and `streamlit run app.py` in its own process group on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CLCORE_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BrowserUnavailable(RuntimeError):
    pass


def _apt(*args: str) -> subprocess.CompletedProcess:
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else [])
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run([*prefix, "apt-get", *args], capture_output=True, text=True, env=env, timeout=600)


# Chromium, its driver, and a CJK font: without one the Chinese interface and its charts render as boxes.
APT_PACKAGES = ("chromium", "chromium-driver", "fonts-noto-cjk")


def has_cjk_font() -> bool:
    """Whether fontconfig (which Chromium uses) knows a font covering Chinese."""
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and bool(listed.stdout.strip())


def _ready() -> bool:
    return os.access(CHROMIUM, os.X_OK) and has_cjk_font()


def ensure_chromium() -> str:
    """The Chromium executable, installing it (and a CJK font) from apt first if either is missing."""
    if _ready():
        return CHROMIUM
    log = []
    for attempt in (("install", "-y", "-q", *APT_PACKAGES), ("update", "-q"), ("install", "-y", "-q", *APT_PACKAGES)):
        done = _apt(*attempt)
        log.append(f"$ apt-get {' '.join(attempt)} -> {done.returncode}\n{done.stderr[-2000:]}")
        if attempt[0] == "install" and done.returncode == 0 and _ready():
            return CHROMIUM
    raise BrowserUnavailable(
        "Chromium and a CJK font are required for the browser end-to-end test and could not be "
        f"installed from apt (run `apt-get install -y {' '.join(APT_PACKAGES)}` as root):\n" + "\n".join(log)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(store_path: Path, log_path: Path, extra_env: dict | None = None):
    """`streamlit run app.py` on a free port with the given run store; yields its URL; always killed."""
    port = _free_port()
    # MALLOC_ARENA_MAX: as `make run` starts the server (Makefile, SERVER_ENV)
    env = {
        **os.environ,
        "CLCORE_STORE": str(store_path),
        "PYTHONUNBUFFERED": "1",
        "MALLOC_ARENA_MAX": "2",
        **(extra_env or {}),
    }
    log = open(log_path, "w")  # noqa: SIM115 (the server writes to it until it stops)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("streamlit did not answer /_stcore/health within 60 s")
            time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own process group: the server and nothing else
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


@contextlib.contextmanager
def chromium():
    """A headless Chromium driven by Playwright."""
    executable = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
