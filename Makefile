# The two commands a new user needs: `make test` and `make demo`. Each sets up .venv by itself
# (tools/setup.sh: pinned dependencies, bubblewrap); a second run with nothing changed installs nothing.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint format demo clean

setup:
	@bash tools/setup.sh

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

demo: setup
	@echo "The full SFT -> GRPO -> eval demo arrives with the quickstart; for now it shows the embedded policy."
	$(VENV)/bin/agentrl doctor || true
	$(VENV)/bin/agentrl model-info nemotron-h-tiny
	$(VENV)/bin/agentrl config show configs/nemotron-h-tiny.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
