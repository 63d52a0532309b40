# SFE front door. `make run` sets everything up and serves the apps; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
export SFE_LAKE_DIR ?= $(CURDIR)/lake

.PHONY: help setup setup-browser run build serve test test-fast test-slow bench lint format docs clean clean-lake

help:
	@echo "make run        set up, build the demo lakehouse if there is none, serve app :8501, API :8000, Dagster :3000"
	@echo "make test       run the test suite (CI also runs 'make test-slow')"
	@echo "make build      generate demo data if absent, ingest, dbt build + tests, publish (non-interactive)"
	@echo "make serve      serve the three UIs on the current lake"
	@echo "make bench      benchmarks (ratios against baselines measured in the same run)"
	@echo "make lint       ruff check + format check"
	@echo "make setup-browser  install Debian's chromium for the browser test (needs root)"

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required (python3.11 not found)"; exit 1; }
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "SFE needs Python 3.11, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# constraints.txt pins every package to the versions the project was tested with.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
setup-browser:
	@if command -v chromium >/dev/null; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "install Debian's chromium package (apt-get install chromium) for the browser tests"; exit 1; fi

build: setup
	@if [ -z "$$(ls -A $(SFE_LAKE_DIR)/landing 2>/dev/null)" ]; then \
		echo "no data in $(SFE_LAKE_DIR)/landing: generating the demo (sfe generate)"; \
		$(BIN)/sfe generate; \
	fi
	@# Demo accounts and registrations (idempotent) when the lake holds the generated demo.
	@if [ -f $(SFE_LAKE_DIR)/generated/fleet.csv ]; then $(BIN)/sfe seed-demo; fi
	$(BIN)/sfe build

run: setup
	@if [ ! -f $(SFE_LAKE_DIR)/warehouse/sfe.duckdb ]; then $(MAKE) --no-print-directory build; fi
	$(BIN)/sfe serve

serve: setup
	$(BIN)/sfe serve

test: setup
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf dbt/target dbt/logs .pytest_cache .ruff_cache

clean-lake:
	find $(SFE_LAKE_DIR) -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
