# The two commands:
#   make run   creates .venv, installs, migrates, seeds the demo and starts web + worker + beat
#              (honcho, Procfile.dev) on the embedded defaults; Ctrl-C stops everything.
#   make test  runs the whole suite; uses DATABASE_URL / CELERY_BROKER_URL when set, SQLite and the
#              filesystem broker otherwise.
# Only Python 3.11+ and git are needed. Override the interpreter with `make run PYTHON=python3.12`.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& echo $$p && break; done)
PORT ?= 8000
# The development commands ask for DEBUG (the settings default to off, as in production).
export DEBUG ?= 1
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

.PHONY: run test install demo migrate clean-var

$(STAMP): requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required (none found on PATH)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	cp requirements.txt $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	SITE_URL="$${SITE_URL:-http://localhost:$(PORT)}" $(BIN)/python manage.py demo

# honcho gives the first process (web) PORT; the others get PORT+100, … and ignore it.
run: demo
	SITE_URL="$${SITE_URL:-http://localhost:$(PORT)}" PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/honcho start -f Procfile.dev -p $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Forget the embedded database, queued tasks and sent mail (var/), e.g. to restart the demo afresh.
clean-var:
	rm -rf var/db.sqlite3 var/db.sqlite3-wal var/db.sqlite3-shm var/broker var/mail var/celerybeat-schedule
