# Two commands for a newcomer: `make dev` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
PYTEST_ARGS ?=

.PHONY: setup dev test lint format bench bootstrap deploy push-config scheduler bundle clean

setup: $(STAMP_PY) $(STAMP_NODE)

$(STAMP_PY): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

dev: setup
	$(PY) -m devserver

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# FIRESTORE_RTT_MS=10 make bench adds the Firestore round trips on each endpoint's critical path.
bench: setup
	$(PY) -m bench.run
	@if [ -n "$(FIRESTORE_RTT_MS)" ]; then $(PY) -m bench.rtt --rtt-ms "$(FIRESTORE_RTT_MS)"; fi

# Google Cloud (see README "Deploy to Google Cloud"). DRY_RUN=1 prints the gcloud commands.
bootstrap: setup
	$(PY) -m infra.deploy bootstrap --project "$(PROJECT)" --region "$(REGION)"

deploy: setup
	$(PY) -m infra.deploy deploy --tenant "$(TENANT)"

push-config: setup
	$(PY) -m infra.deploy push-config --tenant "$(TENANT)"

scheduler: setup
	$(PY) -m infra.deploy scheduler --tenant "$(TENANT)"

bundle: setup
	$(PY) -m infra.deploy bundle --tenant "$(TENANT)"

clean:
	rm -rf $(VENV) node_modules build .pytest_cache .mypy_cache .ruff_cache
