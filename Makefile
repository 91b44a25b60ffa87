# FaceLab: `make run` starts the app on its embedded default; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/facelab
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test worker services browser bench contact-sheet clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m webapp.serve --port $(PORT)

worker: install  # a worker for the full stack: REDIS_URL and DATABASE_URL must be set
	$(VENV)/bin/celery -A webapp worker -Q preview,encode,training --pool=solo --concurrency=1 -l info

services:
	scripts/services.sh

browser:
	scripts/browser.sh

test: install services browser
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) FACELAB_TORCH_THREADS=1 FACELAB_DB_CONN_MAX_AGE=0 \
		$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/world.py --quick

clean:
	rm -rf var test-results .pytest_cache
