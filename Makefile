# Two commands on a fresh machine: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin
# Twisted endpoint strings escape colons, so an IPv6 HOST such as ::1 works too.
ENDPOINT := tcp:port=$(PORT):interface=$(subst :,\:,$(HOST)):backlog=4096

.PHONY: run test lint typecheck pytest migrate superuser install install-dev bench clean

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

run: migrate
	@echo "Serving on http://$(HOST):$(PORT)/ - try: curl -N 'http://$(HOST):$(PORT)/sse2?message=hello'"
	@echo "Stream sessions are in the admin at http://$(HOST):$(PORT)/admin/ - create a user with"
	@echo "  make superuser    (or: $(BIN)/python manage.py createsuperuser)"
	$(BIN)/daphne -e '$(ENDPOINT)' sse_project.asgi:application

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy echo sse_project

pytest: install-dev
	PYTHONDEVMODE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

test: migrate lint typecheck pytest

superuser: migrate
	$(BIN)/python manage.py createsuperuser

bench: install
	$(BIN)/pip install -r bench/requirements.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
