# omnivector developer commands. `make help` lists them.
PYTHON ?= python3
BOOTSTRAP := .bootstrap
UV := $(BOOTSTRAP)/bin/uv
UV_VERSION := 0.13.8
VENV := .venv
RUN := $(UV) run --frozen --no-sync
export UV_PYTHON_DOWNLOADS := never
# Ray workers use the project's environment as it is (no `uv run` re-launch per worker)
export RAY_ENABLE_UV_RUN_RUNTIME_ENV := 0
export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help env demo test lint typecheck pytest soak bench format clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --inexact --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced ## create or update the virtual environment (uv, locked)

demo: env ## build a store from the Python standard library's docstrings and search it
	$(RUN) omnivector demo --store .data/demo-store

lint: env ## ruff lint and format check, and the import contract of docs/architecture.md
	$(RUN) ruff check src tests
	$(RUN) ruff format --check src tests
	$(RUN) lint-imports

typecheck: env ## mypy --strict on src/
	$(RUN) mypy

pytest: env ## run the test suite
	$(RUN) pytest -q

test: lint typecheck pytest ## lint, type-check and run the tests (what CI runs)

soak: env ## longer reliability rounds (crash injection, concurrency)
	OMNIVECTOR_SOAK=1 $(RUN) pytest -q tests/reliability

bench: env ## quick run of every benchmark suite
	$(RUN) omnivector bench all --quick

format: env ## apply ruff formatting and safe fixes
	$(RUN) ruff format src tests
	$(RUN) ruff check --fix src tests

clean: ## remove the environments and caches
	rm -rf $(VENV) $(BOOTSTRAP) .pytest_cache .mypy_cache .ruff_cache .hypothesis
