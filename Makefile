# realtalk developer entry points. Both targets create .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUNSTAMP := $(VENV)/.installed-run

.PHONY: demo test lint typecheck pytest sysdeps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNSTAMP)

demo: $(RUNSTAMP)
	$(BIN)/realtalk demo

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

# System tools the tests use: the openssl CLI (TRUSTED CERTIFICATE fixtures),
# bubblewrap (the agent's sandbox; its tests run the real bwrap), espeak-ng (the
# emulator's spoken answers, and spoken-question fixtures), Debian's Chromium and
# its WebDriver (the browser page test), and tmux (the console's tests read
# `realtalk talk` off a real terminal).
sysdeps:
	@command -v openssl >/dev/null 2>&1 || { \
		echo "installing openssl (needed by the TLS tests)"; \
		apt-get update -qq && apt-get install -y -qq openssl; }
	@test -x /usr/bin/bwrap || { \
		echo "installing bubblewrap (needed by the sandbox tests)"; \
		apt-get update -qq && apt-get install -y -qq bubblewrap; }
	@command -v espeak-ng >/dev/null 2>&1 || { \
		echo "installing espeak-ng (the emulator's offline speech)"; \
		apt-get update -qq && apt-get install -y -qq espeak-ng; }
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
		echo "installing chromium and chromium-driver (needed by the browser page test)"; \
		apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }
	@command -v tmux >/dev/null 2>&1 || { \
		echo "installing tmux (the console tests run talk in a real terminal)"; \
		apt-get update -qq && apt-get install -y -qq tmux; }

pytest: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build dist
