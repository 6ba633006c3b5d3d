# Switchboard: `make demo` runs a whole call on the embedded defaults; `make test` runs the suite.
# Both run `make setup` first: idempotent and cached (a second run rebuilds nothing).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
CACHE_DIR ?= $(HOME)/.cache/switchboard
TEMPORAL_CLI := $(CACHE_DIR)/bin/temporal
TEMPORAL_CLI_VERSION := v1.5.1
STAMP := $(VENV)/.installed

export SWITCHBOARD_TEMPORAL__CLI_PATH ?= $(TEMPORAL_CLI)

.PHONY: setup demo test lint bench clean system-packages node-emulators

setup: system-packages $(STAMP) $(TEMPORAL_CLI) node-emulators
	@echo "setup: ready (venv $(VENV), Temporal CLI $(TEMPORAL_CLI))"

system-packages:
	@scripts/ensure-system-packages.sh

$(STAMP): pyproject.toml
	@echo "setup: creating the virtualenv and installing the project (cached in $(VENV))"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --upgrade pip
	@$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

node-emulators:
	@scripts/ensure-node-emulators.sh "$(CACHE_DIR)/node"

$(TEMPORAL_CLI):
	@scripts/build-temporal-cli.sh "$(CACHE_DIR)/bin" "$(TEMPORAL_CLI_VERSION)"

demo: setup
	@$(VENV)/bin/switchboard demo

test: setup
	@$(VENV)/bin/pytest -q -p no:cacheprovider

bench: setup
	@$(VENV)/bin/python -m bench.answer_latency --calls 100 --rate 2 --record
	@$(VENV)/bin/python -m bench.realtime --engines fake,embedded --write-docs

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .switchboard
