# Every target creates .venv and installs the project first; nothing is needed but python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench install clean

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

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .tt_storage .pytest_cache .mypy_cache .ruff_cache
