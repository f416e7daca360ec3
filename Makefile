# The two set-up commands (README): `make demo` and `make test`. Both work on a fresh
# machine with Python 3.11+; everything installs into .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every package of the dev environment at an exact version (see the file's header).
CONSTRAINTS := requirements/dev-constraints.txt
PIP_VERSION := 26.3

.PHONY: demo test lint typecheck pytest bench clean lock phoenix

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'pip==$(PIP_VERSION)'

$(VENV)/.installed-dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

## Record a simulated multi-agent run in ./.laptime (SQLite + local files) and print its report.
demo: $(VENV)/.installed-dev
	$(BIN)/laptime demo

# ccusage: the reference the Claude Code importer's numbers are tested against.
# 20.0.24 ships a linux-x64 binary; 20.0.26 does not.
node_modules/.bin/ccusage:
	npm install --no-save --no-audit --no-fund --loglevel=error ccusage@20.0.24

## The whole test suite: ruff, mypy --strict on src/, pytest.
test: $(VENV)/.installed-dev node_modules/.bin/ccusage
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

# Arize Phoenix, a real OTLP receiver that tests/test_phoenix.py starts on loopback (about
# 850 MB: a venv of its own, so that its dependencies never meet ours). .ci/run installs it;
# without it, that test is skipped outside CI.
PHOENIX_VENV := .venv-phoenix
$(PHOENIX_VENV)/.installed: requirements/phoenix-constraints.txt
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install --quiet 'pip==$(PIP_VERSION)'
	$(PHOENIX_VENV)/bin/python -m pip install --quiet -c requirements/phoenix-constraints.txt arize-phoenix
	touch $@

phoenix: $(PHOENIX_VENV)/.installed

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run_all.py

## Re-resolve the dev environment from pyproject.toml and write $(CONSTRAINTS) (review the diff).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet 'pip==$(PIP_VERSION)'
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ sed -n '/^#/p' $(CONSTRAINTS); .venv-lock/bin/python -m pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
