# Leadwire: `make up` runs the platform, `make test` runs every check. Both bootstrap uv
# (through pip) on a machine that has only Python 3.11+ and make.

PYTHON ?= python3
# Resolved when a recipe runs, i.e. after `bootstrap` may have installed uv.
UV = $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_LINK_MODE ?= copy
# Compile bytecode at install: this machine sets PYTHONDONTWRITEBYTECODE, so without it every
# process would recompile every module it imports (seconds per process start).
export UV_COMPILE_BYTECODE ?= 1

.PHONY: up test check lint format typecheck pytest bench bootstrap sync clean

bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		$(PYTHON) -m pip install --quiet uv || \
		$(PYTHON) -m pip install --quiet --user uv || \
		$(PYTHON) -m pip install --quiet --break-system-packages uv

sync: bootstrap
	$(UV) sync --locked

up: sync
	$(UV) run leadwire up

test: sync check pytest

check: lint typecheck

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: sync
	$(UV) run mypy

pytest: sync
	$(UV) run pytest

format: sync
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: sync
	$(UV) run python benchmarks/run_all.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
