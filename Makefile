# Two entry points, each self-contained on a fresh machine with only Python 3:
#   make demo   sets up .venv, then runs the study (scratchnn compare, quick preset) on the embedded MNIST digits
#   make test   sets up .venv, then runs ruff and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scratchnn compare --preset quick

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/scratchnn bench

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
