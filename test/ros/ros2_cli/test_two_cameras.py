"""Issue 30: the two-camera launch file, started with the real `ros2 launch` as a robot user does.

Two synthetic cameras (their own namespaces and frame ids) remapped onto one node's front and
rear inputs; each camera's outputs must appear under its name with its own header.
"""
from __future__ import annotations

import os

import pytest
import yaml

from support.ros2_cli import Process, Tools

pytestmark = pytest.mark.ros

NAMESPACE = f"twocam{os.getpid()}"
NODE = f"/{NAMESPACE}/perception_node"
START_TIMEOUT_S = 90.0


def camera(tools: Tools, name: str) -> Process:
    return tools.start(
        "python", "-m", "mtl_perception.tools.synthetic_camera", "--ros-args", "-r", f"__ns:=/{name}{os.getpid()}",
        "-p", "fps:=4.0", "-p", "height:=48", "-p", "width:=64", "-p", f"frame_id:={name}_optical",
    )


@pytest.fixture(scope="module")
def launched(tools):
    remaps = [f"{cam}_{topic}:=/{cam}{os.getpid()}/{topic}" for cam in ("front", "rear") for topic in ("image", "camera_info")]
    launch = tools.start("ros2", "launch", "mtl_perception", "two_cameras.launch.py", f"namespace:={NAMESPACE}", "device:=cpu", *remaps)
    cameras = [camera(tools, name) for name in ("front", "rear")]
    active = launch.wait_for(lambda out: "active: listening on" in out or "configure failed" in out, START_TIMEOUT_S)
    assert active and "active: listening on" in launch.output, launch.output
    yield launch
    for process in (*cameras, launch):
        if process.group_alive():
            process.kill()


def test_both_cameras_are_served_under_their_names_with_their_headers(tools, launched):
    for name in ("front", "rear"):
        assert f"/{name}{os.getpid()}/image" in launched.output  # listening on the remapped topic
        echo = tools.ros2("topic", "echo", "--once", "--no-arr", f"/{NAMESPACE}/{name}/depth/image")
        message = yaml.safe_load(echo.stdout.split("---")[0])
        assert message["header"]["frame_id"] == f"{name}_optical", echo.stdout
    dumped = yaml.safe_load(tools.ros2("param", "dump", NODE).stdout)
    assert dumped[NODE]["ros__parameters"]["cameras"] == ["front", "rear"]
