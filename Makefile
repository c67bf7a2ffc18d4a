# smsflow: two commands for a fresh machine
#   make demo   runs the main job on embedded defaults (local Kafka from Maven jars + chDB)
#   make test   runs the whole test suite (unit, integration on a real broker, end-to-end)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup lint down clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/smsflow demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -ra $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

down: $(STAMP)
	$(BIN)/smsflow stop

clean:
	-$(BIN)/smsflow stop
	rm -rf .smsflow
