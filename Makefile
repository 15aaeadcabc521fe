# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint format e2e-deps test-e2e bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install only when requirements.txt changes.
$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# glibc gives the server's many threads (a training each, a script thread per session) malloc arenas of their own
# and keeps what they free: two arenas leave far less memory behind after a classroom (bench/LOAD.md, Memory).
SERVER_ENV := MALLOC_ARENA_MAX=2

run: $(STAMP)
	$(SERVER_ENV) $(PY) -m streamlit run app.py --server.headless true

# The browser end-to-end test (tests/test_e2e_browser.py) drives Debian's Chromium through PyPI
# Playwright (never `playwright install`): install Chromium from apt when it is missing, and a CJK font
# (fonts-noto-cjk) so that the Chinese interface and its charts render. Needs root (CI runs as root) or
# passwordless sudo; if apt fails the e2e test fails loudly rather than skipping.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
E2E_PACKAGES := chromium chromium-driver fonts-noto-cjk
e2e-deps:
	@{ test -x $(CHROMIUM) && fc-list :lang=zh | grep -q . ; } || { \
	  echo "installing $(E2E_PACKAGES) from apt for the browser end-to-end test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q $(E2E_PACKAGES) >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q $(E2E_PACKAGES) >/dev/null; } || \
	  echo "WARNING: could not install $(E2E_PACKAGES); tests/test_e2e_browser.py will fail"; }

# Style first (pyproject.toml configures ruff): CI fails on a lint error or an unformatted file.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Rewrite the tree into the house style (what `make lint` checks).
format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint e2e-deps
	$(PY) -m pytest -q --durations=15 tests

# Only the browser end-to-end test (screenshots land in artifacts/e2e/).
test-e2e: $(STAMP) e2e-deps
	$(PY) -m pytest -q tests/test_e2e_browser.py

bench: $(STAMP)
	$(PY) -m bench.split_mnist

clean:
	rm -rf $(VENV) .pytest_cache
