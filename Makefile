# Canteen: the README's two commands live here.  `make run`  ·  `make test`
# Everything installs into ./.venv (Python) and ./node_modules (front-end), both ignored by git.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test check lint layers types audit install browser bench clean help

help:
	@echo "make run    install, migrate, load the demo district and serve http://127.0.0.1:8000 (SQLite)"
	@echo "make test   install and run the whole suite (SQLite; plus PostgreSQL + Redis when"
	@echo "            CANTEEN_TEST_DATABASE_URL / CANTEEN_TEST_REDIS_URL are set, as .ci/run does)"
	@echo "make check  lint (ruff) + layers (import-linter) + types (mypy) + dependency audit + tests"

$(PY_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Canteen needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

install: $(PY_STAMP) $(NODE_STAMP)

# Debian's Chromium for the browser tests (Playwright drives it by executable_path; it never downloads one).
browser:
	@bash scripts/ensure-chromium.sh

run: install
	$(BIN)/canteen demo

test: install browser
	@bash scripts/test.sh

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

types: install
	$(BIN)/mypy

# The import contracts in .importlinter: which package may import which (README "Architecture").
layers: install
	$(BIN)/lint-imports --no-cache

# Bounded: offline (no PyPI / advisory database) it says so instead of hanging or passing silently.
audit: install
	@out=$$(timeout 120 $(BIN)/pip-audit --progress-spinner off --skip-editable 2>&1); rc=$$?; \
	echo "$$out" | grep -v "could not be audited" | tail -n 30; \
	skipped=$$(echo "$$out" | grep -c "could not be audited"); \
	if [ $$rc -eq 124 ]; then echo "pip-audit: NOT performed: no answer from the advisory database within 120 s"; exit 0; fi; \
	if [ $$skipped -gt 0 ]; then echo "pip-audit: WARNING: $$skipped dependencies could not be audited (PyPI / advisory database unreachable from here?)"; fi; \
	if [ $$rc -ne 0 ]; then echo "pip-audit: known vulnerabilities found (see above)"; exit 1; fi

check: lint layers types audit test

# checkin.py: ~4 min of load rounds (more on a busy box); PostgreSQL + Redis, wrk (apt-get), gcc. BENCH_ARGS="--rounds 5" for more.
bench: install
	$(BIN)/python scripts/bench/quotes.py
	$(BIN)/python scripts/bench/cards.py
	$(BIN)/python scripts/bench/checkin.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules var .hypothesis .schemathesis
