# recdoc: `make demo` (install and run the main job on a bundled default) and `make test` (install and run tests);
# `make test-fast` (no training tests) and `make lint` (ruff) for contributors.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.recdoc-installed

.PHONY: demo test test-fast lint install clean-demo

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# MovieLens-100K ships inside this wheel; --no-deps keeps torch and ray out. The data is never committed.
	$(PY) -m pip install -q --no-deps recbole==1.2.1
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) bench/demo.py

test: $(STAMP)
	$(PY) -m pytest

# The suite without the tests that train a model (marked `slow`): the quick loop while editing.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
