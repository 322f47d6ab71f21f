"""The launch file under launch_testing (the ROS way): `launch_test` waits until the node is active."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

DESCRIPTION = Path(__file__).with_name("launch_until_active.py")


def test_launch_file_reaches_active_under_launch_testing(tools):
    env = dict(tools.env, MTL_TEST_NAMESPACE=f"launch_test{os.getpid()}")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "launch_test"), str(DESCRIPTION)],
        env=env, cwd=tools.workspace, capture_output=True, text=True, timeout=180,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "test_node_reports_active" in output and "OK" in output, output[-4000:]
