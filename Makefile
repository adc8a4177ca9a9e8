# Leadwire: `make up` runs the platform, `make test` runs every check. Both bootstrap uv
# (through pip) on a machine that has only Python 3.11+ and make.

PYTHON ?= python3
# Resolved when a recipe runs, i.e. after `bootstrap` may have installed uv.
UV = $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_LINK_MODE ?= copy
# Compile bytecode at install: this machine sets PYTHONDONTWRITEBYTECODE, so without it every
# process would recompile every module it imports (seconds per process start).
export UV_COMPILE_BYTECODE ?= 1

.PHONY: up test check lint format typecheck pytest bench bootstrap sync clean browser

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

pytest: sync browser
	$(UV) run pytest

# The dashboard's browser test drives Debian's chromium over the DevTools protocol. Install it
# when missing and possible (root with apt-get: about a minute); otherwise that test is skipped
# and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		  echo "installing chromium for the browser test" && \
		  apt-get update -qq >/dev/null && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		    chromium >/dev/null; } || \
		echo "chromium could not be installed: the dashboard browser test will be skipped"

format: sync
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: sync
	$(UV) run python benchmarks/run_all.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
