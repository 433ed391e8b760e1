# The two commands a new user needs: `make test` and `make demo`. Each sets up .venv by itself
# (tools/setup.sh: pinned dependencies, bubblewrap); a second run with nothing changed installs nothing.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint format demo bench clean

setup:
	@bash tools/setup.sh

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

# SFT -> asynchronous GRPO -> evaluation on the embedded nemotron-h-tiny policy, in a fresh run folder.
demo: setup
	$(VENV)/bin/agentrl quickstart configs/quickstart.yaml run.name=quickstart-$$(date +%Y%m%d-%H%M%S)

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
