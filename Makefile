# The two set-up commands of the README: `make demo` and `make test` (`make test-fast`: pure tests). Both create the
# environment from scratch when it is missing (uv is installed with pip if absent).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: env test test-fast lint typecheck demo dev clean

env:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

lint: env
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports

typecheck: env
	$(UV) run mypy
	# A throwaway DAGSTER_HOME: the production dagster.yaml at the root needs its Postgres.
	DAGSTER_HOME="$$(mktemp -d)" $(UV) run dagster definitions validate -w workspace.yaml

test: lint typecheck
	$(UV) run pytest --cov --cov-report=term:skip-covered

# Pure tests only (no PostgreSQL, no subprocesses, no server sockets): see README "Tests".
test-fast: env
	$(UV) run pytest --fast -q

demo: env
	$(UV) run prmon demo

dev: env
	$(UV) run prmon dev

clean:
	rm -rf .venv .prmon .pytest_cache .mypy_cache .ruff_cache .coverage
