# Two commands for a newcomer: `make dev` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
PYTEST_ARGS ?=

.PHONY: setup dev test lint format bench bench-litellm bench-baseline lock bootstrap grant deploy deploy-platform push-config scheduler bundle clean chromium ui-vendor

setup: $(STAMP_PY) $(STAMP_NODE) chromium

# The hashed lock (`make lock`), so tests run with exactly the pins that are deployed.
$(STAMP_PY): requirements-dev.lock requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
	@touch $@

# After editing requirements*.txt: re-resolve both locks (every transitive pin, with hashes).
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import uv' 2>/dev/null || $(PY) -m pip install -q --disable-pip-version-check "$$(grep -E '^uv==' requirements-dev.txt)"
	$(PY) -m infra.lock

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The browser tests (tests/ui, tests/compat) drive Debian's chromium (Playwright's own
# download is unreachable here). Installed when missing; those tests skip, saying why, if it cannot be.
chromium:
	@test -x /usr/bin/chromium || (apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)) \
		|| echo "chromium could not be installed: the tests in tests/ui/ will skip"

# Refresh the admin panel's vendored JS/CSS (common/admin/ui/static/vendor/) from node_modules
# at the versions package-lock.json locks; tests/ui/test_serving.py checks they still match.
ui-vendor: $(STAMP_NODE)
	$(PY) -m common.admin.ui.vendor

# make dev needs no browser: only make test installs chromium.
dev: $(STAMP_PY) $(STAMP_NODE)
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
	$(PY) -m bench.sandbox_overhead
	$(PY) -m bench.sdk_cost

# LiteLLM's proxy and our OpenAI-compatible endpoint side by side (bench/litellm.py). LiteLLM
# lives in its own venv under .bench/, pinned here, never in the service's locks.
LITELLM_VERSION := 1.106.2
bench-litellm: setup
	@test -x .bench/litellm/bin/litellm || ($(PYTHON) -m venv .bench/litellm && \
		.bench/litellm/bin/pip install -q --disable-pip-version-check "litellm[proxy]==$(LITELLM_VERSION)")
	$(PY) -m bench.litellm --litellm .bench/litellm/bin/litellm

# This code against an earlier commit's (default: the one #14's figures were measured on),
# interleaved on one stack: the ratio survives this VM's drift where milliseconds do not.
bench-baseline: setup
	$(PY) -m bench.baseline $(if $(REF),--ref $(REF))

# Google Cloud (see docs/deploy.md). DRY_RUN=1 prints the gcloud commands.
bootstrap: setup
	$(PY) -m infra.deploy bootstrap --project "$(PROJECT)" --region "$(REGION)"

# IAM of one tenant (service accounts, roles, its JWT key): run by a human, never by CI.
grant: setup
	$(PY) -m infra.deploy grant --tenant "$(TENANT)"

# DEPLOY_IAM=0 (Cloud Build) deploys code only; otherwise this runs `grant` first.
deploy: setup
	$(PY) -m infra.deploy deploy --tenant "$(TENANT)"

deploy-platform: setup
	$(PY) -m infra.deploy deploy-platform

push-config: setup
	$(PY) -m infra.deploy push-config --tenant "$(TENANT)"

scheduler: setup
	$(PY) -m infra.deploy scheduler --tenant "$(TENANT)"

bundle: setup
	$(PY) -m infra.deploy bundle --tenant "$(TENANT)"

clean:
	rm -rf $(VENV) node_modules build .pytest_cache .mypy_cache .ruff_cache
