# Ferry: `make demo` runs the whole loop, `make test` runs every test.
# Both create or refresh the virtual environment in .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FERRY_HOME ?= $(CURDIR)/.ferry
export DAGSTER_HOME ?= $(FERRY_HOME)/dagster

.PHONY: demo test test-all ui bench venv system-deps lint dbt-rules clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,scale]'
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests need (Chromium for the browser test, PostgreSQL for
# the postgres tests); installed by the project, never by hand. No-op when present.
system-deps:
	@bash tests/system_deps.sh

# The demo and its UI choose the local vendor sandboxes explicitly (FERRY_SANDBOX=1);
# without it a destination with no credentials refuses to build.
demo: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	FERRY_SANDBOX=1 $(BIN)/ferry demo

ui: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	FERRY_SANDBOX=$${FERRY_SANDBOX-1} $(BIN)/ferry ui

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -m "not slow and not spark"

test-all: $(STAMP) system-deps
	$(BIN)/python -m pytest

bench: $(STAMP) system-deps
	$(BIN)/python -m benchmarks.run

# The same linters `make test` runs (tests/test_linters.py), on their own.
lint: $(STAMP)
	$(BIN)/ruff check orchestration syncs connectors identity sample_data tests benchmarks dbt_project/models
	cd dbt_project && ../$(BIN)/sqlfluff lint models tests

# dbt-project-evaluator's documentation, structure and governance rules over the
# manifest, plus every built column of marts, audiences and reports described
# (tests/test_dbt_project_rules.py; the last test builds the sample warehouse).
dbt-rules: $(STAMP)
	$(BIN)/python -m pytest tests/test_dbt_project_rules.py -q

clean:
	rm -rf $(VENV) .ferry dbt_project/target dbt_project/logs
