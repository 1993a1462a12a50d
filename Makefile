# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build of torch that satisfies the project's range; installed first so that pip never
# pulls a CUDA build to satisfy `torch>=2.4`.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test lint serve worker

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: venv
	$(PY) -m app.demo

serve: venv
	$(VENV)/bin/zero-cost serve

worker: venv
	$(VENV)/bin/zero-cost worker

test: venv
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
