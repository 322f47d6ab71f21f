"""Fixtures for tests that drive the node with the real ros2 tools: one colcon build per session.

The tools come from ../shared/ros2-cli (installed into the venv by `make setup`); a user's clone
has no ../shared, and these tests skip there, saying so. Every process runs on loopback DDS on
its own domain, so nothing here sees (or is seen by) the in-process tests on domain 87
or a concurrent session's.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.ros2_cli import ROOT, Tools

SHARED_TOOLS = ROOT.parent / "shared" / "ros2-cli"
# A domain of its own per session (88..101, clear of the in-process tests' 87), so two suites
# running at once on one machine do not see each other's nodes; names are per session too.
DOMAIN_ID = str(88 + os.getpid() % 14)


def _missing_tools() -> str | None:
    if not SHARED_TOOLS.is_dir():
        return f"{SHARED_TOOLS} is absent (a user's clone): the real ros2 CLI, launch and colcon are not available"
    bin_dir = Path(sys.executable).parent
    for tool in ("ros2", "colcon", "launch_test"):
        if shutil.which(tool, path=str(bin_dir)) is None:
            return f"{tool} is not in {bin_dir}: run `make setup` (it installs {SHARED_TOOLS}'s wheels and colcon)"
    return None


@pytest.fixture(scope="session")
def tools(tmp_path_factory) -> Tools:
    """The package colcon-built into a temporary workspace, and the environment to run it in."""
    reason = _missing_tools()
    if reason:
        pytest.skip(reason)
    workspace = tmp_path_factory.mktemp("colcon_ws")
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMENT_", "COLCON_", "ROS_"))}
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID=DOMAIN_ID, PYTHONUNBUFFERED="1")
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    build = subprocess.run(
        ["nice", "-n", "19", str(bin_dir / "colcon"), "--log-base", str(workspace / "log"), "build", "--base-paths", str(ROOT),
         "--packages-select", "mtl_perception", "--build-base", str(workspace / "build"), "--install-base", str(workspace / "install")],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    install = workspace / "install"
    env["AMENT_PREFIX_PATH"] = f"{install / 'mtl_perception'}:{bin_dir.parent}"
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in sorted(install.glob("mtl_perception/lib/python*/site-packages")))
    return Tools(env=env, workspace=workspace, build_log=build.stdout + build.stderr)
