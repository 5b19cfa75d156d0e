# `make demo`: set up .venv and run the main job on the embedded default dataset.
# `make test`: set up .venv, lint (ruff), type-check the public API (mypy), then run the whole test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck venv clean

venv: $(STAMP)

# torch goes first and on its own: asking for the project first would let pip pick a CUDA build of torch.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q "torch>=2.4"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fitguard doctor --out runs/demo --overwrite

# ruff and mypy first: seconds, where the suite takes minutes
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# the package root and the modules behind its names (files in pyproject.toml's [tool.mypy]); ~15 s uncached
typecheck: $(STAMP)
	$(VENV)/bin/mypy

# the examples in the docstrings run too: a drifted example fails the suite
test: lint typecheck
	$(PY) -m pytest tests
	$(PY) -m pytest --doctest-modules fitguard

clean:
	rm -rf $(VENV) runs
