# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test e2e-deps test-e2e bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install only when requirements.txt changes.
$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run app.py --server.headless true

# The browser end-to-end test (tests/test_e2e_browser.py) drives Debian's Chromium through PyPI
# Playwright (never `playwright install`): install Chromium from apt when it is missing. Needs root
# (CI runs as root) or passwordless sudo; if apt fails the e2e test fails loudly rather than skipping.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
e2e-deps:
	@test -x $(CHROMIUM) || { \
	  echo "installing chromium from apt for the browser end-to-end test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q chromium chromium-driver >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium chromium-driver >/dev/null; } || \
	  echo "WARNING: could not install chromium; tests/test_e2e_browser.py will fail"; }

test: $(STAMP) e2e-deps
	$(PY) -m pytest -q --durations=15 tests

# Only the browser end-to-end test (screenshots land in artifacts/e2e/).
test-e2e: $(STAMP) e2e-deps
	$(PY) -m pytest -q tests/test_e2e_browser.py

bench: $(STAMP)
	$(PY) -m bench.split_mnist

clean:
	rm -rf $(VENV) .pytest_cache
