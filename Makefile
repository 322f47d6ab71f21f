# One-command environment: `make setup`, `make test`, `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# DDS discovery stays on loopback, on a private domain, for everything started here.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= 87
PYTEST_ARGS ?=
# The real ros2 CLI / launch / launch_testing wheels (see ../shared/ros2-cli/README.md), for the
# integration tests; where ../shared is absent (a user's clone) those tests skip, saying why.
ROS2_CLI := ../shared/ros2-cli
ROS2_CLI_WHEELS := $(wildcard $(ROS2_CLI)/wheels/*.whl)
ROS2_STAMP := $(VENV)/.ros2-cli-installed

.PHONY: setup test demo clean

setup: $(STAMP) $(if $(ROS2_CLI_WHEELS),$(ROS2_STAMP))

# Re-installs only when the package metadata changes; torch goes first and
# pinned so nothing later can pull a CUDA build.
$(STAMP): setup.py setup.cfg package.xml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[ros,dev]'
	touch $(STAMP)

# Re-runs only when the wheels or the venv change; colcon (from the registry) builds the
# package into a temporary workspace in the tests. Order matters: launch_ros's wheel requires
# `ament_index_python`, which the registry ships as `ros-ament-index-python`, a name pip cannot
# match. The wheels go in last and with --no-deps (install.sh), so no later install asks pip's
# resolver about them (colcon-core pins setuptools<80, and re-installing setuptools beside
# launch_ros printed "ERROR ... launch-ros requires ament_index_python, which is not installed").
# The import check then proves the dependency is really there.
$(ROS2_STAMP): $(ROS2_CLI_WHEELS) $(STAMP)
	$(BIN)/python -m pip install --quiet colcon-common-extensions
	bash $(ROS2_CLI)/install.sh $(VENV)
	$(BIN)/python -c "import ament_index_python, launch_ros" || { echo "make setup: launch_ros or ament_index_python does not import" >&2; exit 1; }
	touch $(ROS2_STAMP)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m mtl_perception.cli demo

clean:
	rm -rf $(VENV) demo_output .pytest_cache
