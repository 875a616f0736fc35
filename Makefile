# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
ROOT := $(CURDIR)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin

export AIRFLOW_HOME ?= $(ROOT)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export PYTHONPATH := $(ROOT)

DEMO_LEADS ?= 2000
# The demo's hourly run: the start of the current hour (UTC), fixed once per make call; its data is generated
# relative to it. `make demo DEMO_DATE=2026-11-25T10:00:00+00:00` replays a chosen hour.
ifndef DEMO_DATE
DEMO_DATE := $(shell date -u +%Y-%m-%dT%H:00:00+00:00)
endif
# The local UI (`make airflow`): one variable sets the API server's port and the base URL its tasks call back.
AIRFLOW_PORT ?= 8080

.PHONY: demo test bootstrap venv airflow-init db-upgrade db-stop bench clean airflow browser

venv: $(BIN)/.installed

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# Airflow's own metadata database (SQLite under .airflow/) and the settings file loaded into it.
$(AIRFLOW_HOME)/.settings-loaded: $(BIN)/.installed airflow_settings.yaml
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/campaigns settings load
	touch $@

airflow-init: $(AIRFLOW_HOME)/.settings-loaded

db-upgrade: venv
	$(BIN)/campaigns db upgrade

# Headless Chromium for the browser tests of the Campaigns page (Debian's package: Playwright's own browser
# download needs the internet). Tried with apt-get when missing; where it cannot be installed those tests skip,
# saying why, and nothing else depends on it.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then echo "chromium: $(CHROMIUM)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing chromium with apt-get (browser tests)"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/tmp/campaigns-chromium.log 2>&1 || \
	   (apt-get update -q >>/tmp/campaigns-chromium.log 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >>/tmp/campaigns-chromium.log 2>&1)) || \
	  echo "chromium could not be installed (see /tmp/campaigns-chromium.log): the browser tests will skip"; \
	else echo "no $(CHROMIUM) and no root apt-get: the browser tests will skip (apt-get install chromium)"; fi

bootstrap: venv airflow-init db-upgrade browser

demo: bootstrap
	$(BIN)/campaigns demo load --leads $(DEMO_LEADS) --reference-time $(DEMO_DATE)
	$(BIN)/campaigns admins grant admin 1 2 3
	$(BIN)/airflow dags test campaign_executor $(DEMO_DATE) > $(AIRFLOW_HOME)/demo-run.log 2>&1 || (tail -50 $(AIRFLOW_HOME)/demo-run.log; exit 1)
	@grep -E "DagRun Finished|state=" $(AIRFLOW_HOME)/demo-run.log | tail -1 || true
	$(BIN)/campaigns stats

test: bootstrap
	$(BIN)/pytest

# Airflow's UI and scheduler on this machine (`airflow standalone`: api-server, scheduler, dag-processor,
# triggerer, LocalExecutor). standalone starts its children as `airflow ...`, so the venv's bin goes first on PATH;
# tasks reach the API server at AIRFLOW__API__BASE_URL, so it follows the port.
airflow: export PATH := $(BIN):$(PATH)
airflow: export AIRFLOW__API__HOST := 127.0.0.1
airflow: export AIRFLOW__API__PORT := $(AIRFLOW_PORT)
airflow: export AIRFLOW__API__BASE_URL := http://localhost:$(AIRFLOW_PORT)
airflow: bootstrap
	@echo "Airflow UI: http://localhost:$(AIRFLOW_PORT)   login: admin / $$($(BIN)/campaigns airflow password admin)   (Ctrl-C stops it)"
	exec $(BIN)/airflow standalone

bench: bootstrap
	$(BIN)/python -m bench.run $(BENCH_ARGS)

db-stop:
	$(BIN)/campaigns db stop

clean: db-stop
	rm -rf $(VENV) $(AIRFLOW_HOME) .pgdata
