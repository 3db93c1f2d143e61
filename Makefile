# Every target creates .venv and installs the project first; nothing is needed but python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# A second venv with the oldest versions pyproject.toml allows (constraints/lowest.txt).
LOWEST_VENV ?= .venv-lowest
LOWEST_STAMP := $(LOWEST_VENV)/.installed-lowest

.PHONY: demo test test-lowest lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

install: $(STAMP)

## The main job: the example bot, offline, on the embedded PostgreSQL.
demo: $(STAMP)
	$(BIN)/python examples/demo.py

## The test suite on real PostgreSQL (TT_STORAGE_TEST_DB_URL, else 127.0.0.1:5432, else embedded).
test: $(STAMP)
	$(BIN)/pytest

$(LOWEST_STAMP): pyproject.toml constraints/lowest.txt
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/pip install -q --upgrade pip
	$(LOWEST_VENV)/bin/pip install -q -c constraints/lowest.txt -e '.[dev,bench]'
	touch $@

## The test suite once more on the oldest aiogram, Tortoise, aerich and asyncpg allowed.
test-lowest: $(LOWEST_STAMP)
	$(LOWEST_VENV)/bin/pip list 2>/dev/null | grep -iE '^(aiogram|tortoise-orm|aerich|asyncpg) '
	$(LOWEST_VENV)/bin/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(LOWEST_VENV) .tt_storage .pytest_cache .mypy_cache .ruff_cache
