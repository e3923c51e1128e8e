# Two commands on a fresh machine: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
# Worker processes sharing the port (`python -m echo.server --workers N`); 1 serves from one process.
WORKERS ?= 1
BIN := $(VENV)/bin
# Twisted endpoint strings escape colons, so an IPv6 HOST such as ::1 works too.
ENDPOINT := tcp:port=$(PORT):interface=$(subst :,\:,$(HOST)):backlog=4096

.PHONY: run static pushpin test test-plain test-postgres lint typecheck pytest node-deps migrate superuser install install-dev bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

static: install
	$(BIN)/python manage.py collectstatic --noinput -v0

run: migrate static
	@echo "Serving on http://$(HOST):$(PORT)/ - try: curl -N 'http://$(HOST):$(PORT)/sse2?message=hello'"
	@echo "Stream sessions are in the admin at http://$(HOST):$(PORT)/admin/ - create a user with"
	@echo "  make superuser    (or: $(BIN)/python manage.py createsuperuser)"
	$(BIN)/python -m echo.server --workers $(WORKERS) -e '$(ENDPOINT)' sse_project.asgi:application

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy echo sse_project

pytest: install-dev node-deps
	PYTHONDEVMODE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# The official AsyncAPI validators (@asyncapi/specs, @asyncapi/parser), pinned by the committed
# lockfile. Without npm the schema validation tests skip (fail under ECHO_REQUIRE_SERVICES=1).
NODE_DIR := tests/contract/node
node-deps: $(NODE_DIR)/node_modules/.package-lock.json

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
		SCARF_ANALYTICS=false npm ci --prefix $(NODE_DIR) --no-audit --no-fund --ignore-scripts; \
	else echo "npm not found: the AsyncAPI validation tests will skip"; fi

test: migrate lint typecheck pytest

# The suite with every server optimisation off (ECHO_OPTIMISATIONS=off, see tests/settings.py), on
# the stdlib loop (ECHO_LOOP=asyncio, echo.server.loop).
# The optimisations live in the server processes: the live tests of the toolkit, the server adapter and
# broadcast exercise them (the long load tests run in `make test`).
test-plain: install-dev
	ECHO_OPTIMISATIONS=off ECHO_LOOP=asyncio PYTHONDEVMODE=1 $(BIN)/python -m pytest -m "live and not slow" \
		tests/sse tests/server tests/broadcast $(PYTEST_ARGS)

# The suite against PostgreSQL (not the long load tests): Debian's server, started by the suite
# itself in a temporary folder on a free loopback port and stopped by its pid (tests/postgres.py).
test-postgres: install-dev node-deps
	PYTHONDEVMODE=1 $(BIN)/python -m tests.postgres -m "not slow and not postgres" $(PYTEST_ARGS)

# Pushpin in front of `make run` (echo.broadcast's Pushpin mode): Debian's `pushpin`, configured from
# deploy/pushpin/. Then, in another terminal: GRIP_URL=http://127.0.0.1:5561 make run
PUSHPIN_PORT ?= 7999
PUSHPIN_PUBLISH_PORT ?= 5561
pushpin:
	PUSHPIN_PORT=$(PUSHPIN_PORT) PUSHPIN_PUBLISH_PORT=$(PUSHPIN_PUBLISH_PORT) ORIGIN=$(HOST):$(PORT) \
		exec bash deploy/pushpin/start

superuser: migrate
	$(BIN)/python manage.py createsuperuser

# The bench (bench/README.md): about 30 minutes on 2 cores, results in bench/RESULTS.md. The
# workers comparison: make bench BENCH_ARGS="workers-churn workers-throughput20 workers-capacity workers-fanout"
bench: install
	@echo "make bench: about 30 minutes; results in bench/RESULTS.md"
	$(BIN)/pip install -r bench/requirements.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The soak (bench/soak.py): an hour of held streams, churn, publishing, terminates and slow readers
# against one server; fails on any error or a rising trend. CI runs it for two minutes:
#   make soak SOAK_ARGS="--minutes 2"
soak: install
	$(BIN)/pip install -r bench/requirements.txt
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .venv-django6 .mypy_cache .pytest_cache .ruff_cache $(NODE_DIR)/node_modules

# The same checks on Django 6.x (Python 3.12+), in a venv of their own, against a database of
# their own: migrations, makemigrations --check, mypy (echo/) and the whole pytest suite.
# PYTHON312 is the first of `python3.12` (if it runs: a pyenv shim may exist and refuse) or
# pyenv's newest 3.12.x; set it to use another interpreter.
VENV6 ?= .venv-django6
BIN6 := $(VENV6)/bin
PYTHON312 ?= $(shell if python3.12 --version >/dev/null 2>&1; then command -v python3.12; \
	else ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -n 1; fi)

.PHONY: test-django6

$(BIN6)/python:
	@test -n "$(PYTHON312)" || { echo "No Python 3.12 found: make test-django6 PYTHON312=/path/to/python3.12"; exit 1; }
	$(PYTHON312) -m venv $(VENV6)
	echo '*' > $(VENV6)/.gitignore  # as Python 3.13+ venvs do: git ignores the venv
	$(BIN6)/python -m pip install --upgrade pip

$(VENV6)/.installed: requirements-django6.txt | $(BIN6)/python
	$(BIN6)/pip install -r requirements-django6.txt
	touch $@

test-django6: $(VENV6)/.installed
	@$(BIN6)/python -c 'import sys, django; print("Python", sys.version.split()[0], "Django", django.get_version())'
	ECHO_SQLITE_PATH=$(abspath $(VENV6))/db.sqlite3 $(BIN6)/python manage.py migrate --noinput
	ECHO_SQLITE_PATH=$(abspath $(VENV6))/db.sqlite3 $(BIN6)/python manage.py makemigrations --check --dry-run
	$(BIN6)/mypy --cache-dir $(VENV6)/.mypy_cache echo
	PYTHONDEVMODE=1 $(BIN6)/python -m pytest -m "not slow" $(PYTEST_ARGS)
