"""`make setup` stays quiet and true (issue 29).

launch_ros's wheel requires `ament_index_python`, which the registry ships as
`ros-ament-index-python`: pip cannot match the names, and any later `pip install` that touches one
of launch_ros's dependencies printed "ERROR: pip's dependency resolver ... launch-ros requires
ament_index_python, which is not installed" (colcon-common-extensions re-installs setuptools<80).
So the ros2-cli wheels go in last, with --no-deps, and an import check proves the dependency is there.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ros2_cli_wheels_are_installed_after_every_resolving_pip_install(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    wheels = tmp_path / "ros2-cli" / "wheels"
    wheels.mkdir(parents=True)
    (wheels / "launch_ros-0.0.0-py3-none-any.whl").write_bytes(b"")  # so the setup target includes the ros2-cli step
    # -n: print the recipe without running it; -B: as on a fresh clone, every step
    plan = subprocess.run([make, "-n", "-B", "setup", f"ROS2_CLI={tmp_path / 'ros2-cli'}"], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=60).stdout.splitlines()
    resolving = [i for i, line in enumerate(plan) if "pip install" in line]
    wheels_at = [i for i, line in enumerate(plan) if "install.sh" in line]
    checked_at = [i for i, line in enumerate(plan) if "import ament_index_python, launch_ros" in line]
    assert resolving and len(wheels_at) == 1 and len(checked_at) == 1, plan
    assert max(resolving) < wheels_at[0] < checked_at[0], plan
