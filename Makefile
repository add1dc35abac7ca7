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
.PHONY: help env demo test lint typecheck pytest soak bench format clean test-torch

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

# PyTorch for `make test-torch`: a CPU wheel's path (PyPI's default Linux build pulls GPU packages)
TORCH_WHEEL ?= torch
TORCH_VENV := .venv-torch

test-torch: env ## the sentence-transformers tests, in .venv-torch (PyTorch: TORCH_WHEEL=path)
	test -x $(TORCH_VENV)/bin/python || $(UV) venv -q --python $(VENV)/bin/python $(TORCH_VENV)
	$(UV) pip install -q --no-config --python $(TORCH_VENV)/bin/python $(TORCH_WHEEL) \
		sentence-transformers "numpy==$$($(VENV)/bin/python -c 'import numpy; print(numpy.__version__)')"
	$(TORCH_VENV)/bin/python -c "import site, sys; open(site.getsitepackages()[0] + '/zz_project.pth', 'w').write('\n'.join(sys.argv[1:]))" \
		"$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" $(CURDIR)/src $(CURDIR)
	$(TORCH_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_embeddings.py -k sentence_transformers

soak: env ## longer reliability rounds (crash injection, concurrency)
	OMNIVECTOR_SOAK=1 $(RUN) pytest -q tests/reliability

bench: env ## quick run of every benchmark suite
	$(RUN) omnivector bench all --quick

format: env ## apply ruff formatting and safe fixes
	$(RUN) ruff format src tests
	$(RUN) ruff check --fix src tests

clean: ## remove the environments and caches
	rm -rf $(VENV) $(TORCH_VENV) $(BOOTSTRAP) .pytest_cache .mypy_cache .ruff_cache .hypothesis
