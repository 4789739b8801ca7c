# Thin targets over the `labkit` command. `make demo` and `make test` are the two commands of the README.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LABKIT := $(BIN)/labkit

.PHONY: install demo test check lint lab bench up down status c-start c-status c-tail c-stop clean

# Everything into .venv (re-run when pyproject.toml changes), plus the Kafka jars and the schema registry via Maven.
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml services/kafka/pom.xml services/registry/pom.xml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "labkit needs Python 3.11+ (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps 'quixstreams==3.28.1'  # its confluent-kafka pin: pyproject.toml
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (labkit)" >/dev/null
	$(LABKIT) cluster fetch
	$(LABKIT) registry fetch
	touch $@

demo: install
	$(LABKIT) demo

# Lint first (seconds), then every test: unit, integration, notebooks, faults, the browser test.
test: lint
	$(BIN)/python -m pytest

# The edit loop, under a minute: lint, types and the unit tests (no cluster).
check: lint
	$(BIN)/python -m pytest -m unit -q

lint: install
	$(BIN)/ruff check labkit tests bench
	$(BIN)/ruff format --check labkit tests bench
	$(BIN)/mypy

up: install
	$(LABKIT) cluster up

down:
	$(LABKIT) cluster down

status:
	$(LABKIT) cluster status

# The spec's consumer management: 4 ticketing + 4 seat-reservation processes for EVENT_ID (default 1).
c-start: install
	$(LABKIT) consumers start --ticketing 4 --seat-reservation 4

c-status:
	$(LABKIT) consumers status

c-tail:
	$(LABKIT) consumers tail

c-stop:
	$(LABKIT) consumers stop

# A benchmark, not a test: bookings/s end to end against a raw Kafka round trip on the same cluster.
bench: install
	$(BIN)/python -m bench.bench $(BENCH_ARGS)

lab: install
	$(LABKIT) cluster up
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)
