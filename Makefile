# realtalk developer entry points. Both targets create .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUNSTAMP := $(VENV)/.installed-run

.PHONY: demo test lint typecheck pytest sysdeps demo-sysdeps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNSTAMP)

demo: $(RUNSTAMP) demo-sysdeps
	$(BIN)/realtalk demo

# What the demo uses from the system: bubblewrap (the agent's commands run in its
# sandbox; without it they are refused) and espeak-ng (spoken answers; else a tone).
# Installed when we can (root with apt-get); otherwise one line says what is missing.
demo-sysdeps:
	@missing=""; \
	test -x /usr/bin/bwrap || command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing$$missing (the agent's sandbox, spoken answers)"; \
			apt-get update -qq && apt-get install -y -qq $$missing; \
		else \
			echo "note: not installed:$$missing (install with your package manager; the demo runs without them: commands are refused, answers are a tone)"; \
		fi; \
	fi

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
