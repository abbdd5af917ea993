# make run   : install (once) and run the default job      (ARGS="--config configs/X.yaml key=value")
# make test  : install (once), check the code with ruff (pyproject.toml's rules) and run the whole test suite
# make test-fast : the tests that take about a minute (no end-to-end runs)
# make docs  : regenerate the configuration reference and serve the documentation site on http://127.0.0.1:8000
VENV := .venv
PY := $(VENV)/bin/python
TARGET ?= cpu

.PHONY: setup run test test-fast docs
setup: $(VENV)/.installed-$(TARGET)

$(VENV)/.installed-$(TARGET): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(TARGET)
	touch $@

run: setup
	$(PY) launch.py $(ARGS)

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

docs: setup
	$(PY) -m core.config_help > docs/reference/config.md
	$(VENV)/bin/mkdocs serve
