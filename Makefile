# smguard developer tasks. `make` lists them.

PY ?= python3
VENV = .venv
PYTEST_ARGS ?=
# Extra options for the local broker, e.g. KAFKA_ARGS="--port 19092 --controller-port 19093"
KAFKA_ARGS ?=

# infra/kafka/broker.py needs only the standard library: use the venv if there is one.
BROKER_PY = $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,$(PY))
BROKER = $(BROKER_PY) infra/kafka/broker.py
COMPOSE = docker compose -f infra/docker-compose.yml

.DEFAULT_GOAL := help
.PHONY: help venv browser promtool screenshots python-version kafka-up kafka-down kafka-status test faults run bench schemas up down clean

help: ## list the targets
	@echo "smguard: make <target>"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

python-version:
	@command -v $(PY) >/dev/null 2>&1 || { echo "smguard needs Python 3.11+: '$(PY)' not found (set PY=/path/to/python3.11)"; exit 1; }
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "smguard needs Python 3.11+, but $(PY) is $$($(PY) -c 'import platform; print(platform.python_version())') (set PY=/path/to/python3.11)"; exit 1; }

$(VENV)/bin/python:
	@$(MAKE) --no-print-directory python-version
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed ## create .venv and install smguard with dev extras (again when pyproject.toml changes)

# The broker is secured (TLS, SASL, ACLs) with the CA and keys made into .data/kafka-security once;
# `smguard run` then makes the services' principals. KAFKA_SECURITY=none starts it PLAINTEXT.
KAFKA_SECURITY ?= secured

kafka-up: venv ## start the local Kafka broker (from jars, no Docker; TLS + SASL + ACLs) in the background
ifeq ($(KAFKA_SECURITY),none)
	@$(BROKER) up $(KAFKA_ARGS)
else
	@$(VENV)/bin/python -m shared.kafka.tls .data/kafka-security >/dev/null
	@$(BROKER) up --security-dir .data/kafka-security $(KAFKA_ARGS)
endif

kafka-down: ## stop the local Kafka broker
	@$(BROKER) down $(KAFKA_ARGS)

kafka-status: ## show whether the local Kafka broker runs
	@$(BROKER) status $(KAFKA_ARGS) || [ $$? -eq 3 ]

# The console's browser tests drive Debian's Chromium (Playwright cannot download its own browser on a closed
# network), with CJK fonts so Japanese renders in screenshots; the alert-rule tests need promtool (Debian's
# prometheus). One apt-get for whatever is missing; skipped when all are present.
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)
AXE_VERSION = 4.14.1
AXE = .cache/axe-core-$(AXE_VERSION)/axe.min.js
browser: ## install Debian's Chromium and CJK fonts for the console's browser tests (skipped when present)
	@missing="$$(command -v chromium >/dev/null 2>&1 || echo chromium) $$([ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || echo fonts-noto-cjk) \
	  $$(command -v promtool >/dev/null 2>&1 || [ -n "$$SMGUARD_PROMTOOL" ] || echo prometheus)"; \
	if [ -n "$$(echo $$missing)" ]; then \
	  command -v apt-get >/dev/null 2>&1 || { echo "the tests need $$missing (Debian packages): install them, or set SMGUARD_CHROMIUM / SMGUARD_PROMTOOL"; exit 1; }; \
	  echo "installing $$missing for the browser and alert-rule tests (once)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# axe-core checks each page for accessibility problems (labels, contrast, roles) in the browser tests
	@[ -f $(AXE) ] || { command -v npm >/dev/null 2>&1 || { echo "the browser tests need npm to fetch axe-core $(AXE_VERSION)"; exit 1; }; \
	  mkdir -p .cache && (cd .cache && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && mkdir -p axe-core-$(AXE_VERSION) && \
	  tar xzf axe-core-$(AXE_VERSION).tgz -C axe-core-$(AXE_VERSION) --strip-components=1 && rm axe-core-$(AXE_VERSION).tgz); }

# The alert rules (infra/observability/alerts.yml) are checked and unit-tested with promtool, from Debian's
# prometheus package. Installed once; skipped when present.
promtool: ## install Debian's prometheus package for promtool, which checks the alert rules (skipped when present)
	@if command -v promtool >/dev/null 2>&1 || [ -n "$$SMGUARD_PROMTOOL" ]; then :; else \
	  command -v apt-get >/dev/null 2>&1 || { echo "the alert-rule tests need promtool: install Debian's prometheus package, or set SMGUARD_PROMTOOL"; exit 1; }; \
	  echo "installing Debian's prometheus package for promtool (once)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	fi

test: venv browser promtool ## run the tests (they start their own broker); PYTEST_ARGS="-k name -x" passes options
	$(VENV)/bin/pytest $(PYTEST_ARGS)

faults: venv ## inject faults (service kills, broker crash and hang) with the long variants; the results table to docs/reliability.md
	rm -f tests/faults/results/*.jsonl; SMGUARD_FAULTS_FULL=1 $(VENV)/bin/pytest tests/faults $(PYTEST_ARGS); status=$$?; \
	$(VENV)/bin/python -m tests.faults.render --out docs/reliability.md && exit $$status

run: venv ## start the local broker and all services
	$(VENV)/bin/smguard run

bench: venv ## measure the whole system as smguard run starts it, against the bare client loop and the goals (BENCH_ONLY, BENCH_SECONDS, BENCH_RATES, BENCH_METERS, BENCH_BURST, BENCH_FLEET, BENCH_BULK, BENCH_REPLAY_EVENTS); figures to bench/results/ and docs/performance.md
	$(VENV)/bin/python -m bench

screenshots: venv browser ## regenerate the console's screenshots in docs/images/ (the README shows them) from its browser tests
	$(VENV)/bin/pytest tests/console/test_story.py -q $(PYTEST_ARGS)
	mkdir -p docs/images
	cp tests/console/output/story-dashboard.png docs/images/console-dashboard.png
	cp tests/console/output/story-incident.png docs/images/console-incident.png

schemas: venv ## regenerate the event schemas and the ECS table of docs/soc-integration.md
	$(VENV)/bin/smguard schemas

up: ## docker compose: build and start Kafka and the services
	@command -v docker >/dev/null 2>&1 || { echo "'make up' needs Docker with the compose plugin; without Docker use 'make run'"; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "'make up' needs the Docker compose plugin ('docker compose'); without it use 'make run'"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "no Docker engine answers; start it, or use 'make run' (local broker from jars)"; exit 1; }
	$(COMPOSE) up --build

down: ## docker compose: stop and remove the containers
	@command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 || { echo "'make down' needs Docker with the compose plugin"; exit 1; }
	$(COMPOSE) down

clean: ## stop the local broker and delete .data (keeps the .cache of downloaded jars)
	-@$(BROKER) down
	rm -rf .data
