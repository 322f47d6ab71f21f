# One-command environment: `make setup`, `make test`, `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# DDS discovery stays on loopback, on a private domain, for everything started here.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= 87
PYTEST_ARGS ?=

.PHONY: setup test demo clean

setup: $(STAMP)

# Re-installs only when the package metadata changes; torch goes first and
# pinned so nothing later can pull a CUDA build.
$(STAMP): setup.py setup.cfg package.xml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[ros,dev]'
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m mtl_perception.cli demo

clean:
	rm -rf $(VENV) demo_output .pytest_cache
