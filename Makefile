# Two commands for a newcomer: `make run` and `make test`. Both set up .venv first.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run console test lint bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU wheel; a looser pin pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	HF_HUB_OFFLINE=1 $(PY) run_bot.py

console: setup
	HF_HUB_OFFLINE=1 $(PY) run_bot.py --console

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q
	$(PY) -m ruff check .

lint: setup
	$(PY) -m ruff check .

bench: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/quality.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/speed.py
