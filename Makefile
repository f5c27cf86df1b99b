# The two commands of the README: `make demo` (the main job) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo lint test test-unit kafka-start kafka-stop clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11+"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(BIN)/salesfloor demo

# Lint and types gate the suite (CI runs `make test`): ruff's rules and format, then mypy --strict
# (files and strictness are configured in pyproject.toml).
LINTED := streams agents tests benchmarks

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

test: setup
	$(MAKE) lint
	bash deploy/setup-system.sh
	bash deploy/helm/install-helm.sh
	bash deploy/kafka/kafka.sh fetch
	$(BIN)/pytest -n 2 --dist worksteal -m "not timing"
	$(BIN)/pytest -m timing

test-unit: setup
	$(BIN)/pytest tests/unit

kafka-start:
	bash deploy/kafka/kafka.sh start

kafka-stop:
	bash deploy/kafka/kafka.sh stop

clean:
	rm -rf $(VENV) var build *.egg-info
