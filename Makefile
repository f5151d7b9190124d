# The two commands a newcomer needs: `make run` and `make test`.
# Everything installs from this repository's own files: requirements.lock pins
# every third-party package by version and hash; the three workspace packages
# are installed editable on top. Everything is compiled to bytecode at install: where
# PYTHONDONTWRITEBYTECODE is set (as on these machines), Python would otherwise compile every
# module from source at each process start (the projector's imports: 4.7 s, 1.8 s
# compiled).
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3
export UV_NO_PROGRESS := 1

.PHONY: install system-deps run demo test test-unit test-integration test-e2e-5times lint format typecheck lock bench soak soak-fuzz clean

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: requirements.lock shared/pyproject.toml services/ingest/pyproject.toml services/projector/pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e shared -e services/ingest -e services/projector
	$(PY) -m compileall -q shared/src services/ingest/src services/projector/src
	touch $@

install: $(VENV)/.installed

# The benchmarks' peer (Quix Streams) in a venv of its own: it pins pydantic below the
# services' version, so it never shares theirs. bench/peer/requirements.lock pins it.
PEER_VENV := .venv-peer
$(PEER_VENV)/.installed: bench/peer/requirements.lock | $(UV)
	$(UV) venv --quiet --allow-existing $(PEER_VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(PEER_VENV)/bin/python bench/peer/requirements.lock
	touch $@

## system-deps: Debian packages the tests need (promtool, chromium, chromedriver), when missing
system-deps:
	bash tests/system-deps.sh

## run: the whole system locally (embedded broker, SQLite, ingest on :8080, projector on :8081)
run: install
	$(VENV)/bin/basewatch dev

## demo: the same, with simulated traffic and churn after seconds (page on :8081, key dev-read-key)
demo: install
	$(VENV)/bin/basewatch dev --demo

# Tests run two at a time (pytest-xdist): most of a test's time is waiting for a broker,
# a database or a clock, and every test owns its topics, schema, files and ports.
# TEST_WORKERS=0 runs them one at a time, in this process.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist worksteal

## test: lint, types, then every test: unit, integration, e2e and fuzz (PostgreSQL at 127.0.0.1:5432)
test: install system-deps lint
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)

## test-unit: the pure-logic tests (tests/unit, marker unit): no broker, database or process
test-unit: install
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

## test-integration: the tests against the real broker and databases (tests/integration, marker integration)
test-integration: install system-deps
	$(VENV)/bin/pytest tests/integration $(XDIST) $(PYTEST_ARGS)

## test-e2e-5times: the end-to-end and fault tests five times in a row, stopping at the first failure
test-e2e-5times: install system-deps
	for run in 1 2 3 4 5; do echo "run $$run of 5"; $(VENV)/bin/pytest tests/e2e $(XDIST) $(PYTEST_ARGS) || exit 1; done

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## bench: the benchmarks (each starts its own broker; PostgreSQL at 127.0.0.1:5432)
bench: install $(PEER_VENV)/.installed
	$(PY) -m bench.ingest
	$(PY) -m bench.projector
	$(PY) -m bench.read_api
	$(PY) -m bench.replay

## soak: the end-to-end fault scenarios, histories ten times bigger and more faults (PostgreSQL at 127.0.0.1:5432)
soak: install
	BASEWATCH_SOAK=1 $(VENV)/bin/pytest tests/e2e/test_faults.py -s -p no:cacheprovider $(PYTEST_ARGS)

## soak-fuzz: the fuzzers at length (1000 schemathesis examples per operation, 400 live-projector histories per database; about 30 minutes)
soak-fuzz: install
	BASEWATCH_SOAK=1 $(VENV)/bin/pytest tests/fuzz $(XDIST) -o timeout=1500 -p no:cacheprovider $(PYTEST_ARGS)

## lock: re-resolve dependencies after editing a pyproject.toml
lock: | $(UV)
	$(UV) lock
	$(UV) export --frozen --no-emit-workspace --all-groups --no-header --quiet -o requirements.lock
	$(UV) pip compile --quiet --generate-hashes --python-version 3.11 --no-header \
		bench/peer/requirements.in -o bench/peer/requirements.lock

clean:
	rm -rf $(VENV) $(PEER_VENV) .tools .basewatch .mypy_cache .ruff_cache .pytest_cache
