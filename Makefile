# Marketing Pulse: `make run` (demo end to end) and `make test` (whole suite) on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export MPULSE_CONFIG ?= $(CURDIR)/demo/config.yaml

.PHONY: install run demo dev test lint format bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[connectors,ui,dev,bench]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mpulse demo --out demo

run: demo
	$(BIN)/mpulse run
	@echo
	@echo "Daily standup: $$(ls -1 reports/daily/*.md | tail -n 1)"
	@echo "Warehouse:     data/warehouse.duckdb (schemas raw, staging, marts)"
	@echo "Dagster UI:    make dev, then open http://127.0.0.1:3000"

dev: $(STAMP)
	@test -f $(MPULSE_CONFIG) || $(BIN)/mpulse demo --out demo
	$(BIN)/dg dev

test: $(STAMP)
	$(BIN)/python -m pytest -q

BENCH_SIZE ?= large
bench: $(STAMP)
	$(BIN)/python bench/run.py --size $(BENCH_SIZE) --runs 3 --out docs/benchmarks.md

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data demo reports .dagster_home .pytest_cache .ruff_cache bench_out
