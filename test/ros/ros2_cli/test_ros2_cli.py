"""The node driven by the real ros2 tools, as a robot user does (issue 14; issue 15 item 1).

One colcon build (session fixture) and one `ros2 launch` (module fixture) serve every assertion:
namespace, remapped camera topic and a params file that changes five parameters (max_depth
written as the integer 5), then `ros2 param get/set/dump/load`, `ros2 topic hz/echo`,
`ros2 lifecycle`, `ros2 service call` and Ctrl-C. `ros2 run` covers bad start values.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from mtl_perception.ros import params
from support.ros2_cli import ROOT, Process, Tools

pytestmark = pytest.mark.ros

NAMESPACE = f"robot{os.getpid()}"  # unique, in case another session shares the domain
NODE = f"/{NAMESPACE}/perception_node"
CAMERA_NS = f"/cam{os.getpid()}/color"
CAMERA_TOPIC = f"{CAMERA_NS}/image_raw"
CAMERA_FPS = 4.0
PARAMS = {"overlay_alpha": 0.2, "output_resolution": "network", "max_depth": 5, "output_qos_depth": 3, "diagnostics_period": 0.5}
BUNDLED = json.loads((ROOT / "mtl_perception" / "models" / "default" / "model.json").read_text())
START_TIMEOUT_S = 90.0


def network_size() -> tuple[int, int]:
    """(height, width) the bundled model runs at, read from its model.json."""
    return int(BUNDLED["input"]["height"]), int(BUNDLED["input"]["width"])


def camera(tools: Tools) -> Process:
    return tools.start(
        "python", "-m", "mtl_perception.tools.synthetic_camera", "--ros-args", "-r", f"__ns:={CAMERA_NS}", "-r", "image:=image_raw",
        "-p", f"fps:={CAMERA_FPS}", "-p", "height:=48", "-p", "width:=64", "-p", "num_frames:=4",
    )


@pytest.fixture(scope="module")
def launched(tools, tmp_path_factory):
    """`ros2 launch` with namespace, remapped camera and a params file; the camera publishing."""
    params_file = tmp_path_factory.mktemp("params") / "robot.yaml"
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": PARAMS}}))
    launch = tools.start(
        "ros2", "launch", "mtl_perception", "perception.launch.py", f"namespace:={NAMESPACE}", f"image:={CAMERA_TOPIC}",
        f"camera_info:={CAMERA_NS}/camera_info", f"params_file:={params_file}", "device:=cpu", "rviz:=false",
    )
    cam = camera(tools)
    active = launch.wait_for(lambda out: "active: listening on" in out or "configure failed" in out, START_TIMEOUT_S)
    assert active and "active: listening on" in launch.output, launch.output
    yield launch
    for process in (cam, launch):
        if process.group_alive():
            process.kill()


def test_params_file_applies_under_a_namespace(tools, launched):
    dump = tools.ros2("param", "dump", NODE).stdout
    dumped = yaml.safe_load(dump)
    assert isinstance(dumped, dict), dump
    values = dumped[NODE]["ros__parameters"]
    for name, value in PARAMS.items():
        assert values[name] == value, (name, values[name])
    assert isinstance(values["max_depth"], float)  # the integer 5 is served as the double 5.0
    assert "Double value is: 5.0" in tools.ros2("param", "get", NODE, "max_depth").stdout
    assert f"listening on {CAMERA_TOPIC}" in launched.output


def test_outputs_at_camera_rate_with_input_headers(tools, launched):
    height, width = network_size()
    echo = tools.ros2("topic", "echo", "--once", "--no-arr", f"/{NAMESPACE}/depth/image")
    message = yaml.safe_load(echo.stdout.split("---")[0])
    assert message["header"]["frame_id"] == "camera_optical_frame", echo.stdout  # the camera's
    assert (message["encoding"], message["height"], message["width"]) == ("32FC1", height, width), echo.stdout
    assert message["header"]["stamp"]["sec"] > 0
    hz = tools.start("ros2", "topic", "hz", "--window", "8", f"/{NAMESPACE}/segmentation/labels")
    assert hz.wait_for(lambda out: len(re.findall(r"average rate: ([\d.]+)", out)) >= 3, 30), hz.output
    hz.interrupt(5)
    rate = float(re.findall(r"average rate: ([\d.]+)", hz.output)[-1])
    assert 0.6 * CAMERA_FPS <= rate <= 1.4 * CAMERA_FPS, hz.output


def test_parameter_changes_refused_with_reasons_and_dump_reloads(tools, launched, tmp_path):
    refused = tools.ros2("param", "set", NODE, "overlay_alpha", "1.5").stdout
    assert "Setting parameter failed: overlay_alpha must be in [0.0, 1.0], got 1.5" in refused, refused
    structural = tools.ros2("param", "set", NODE, "device", "cuda").stdout
    assert "device can only change while unconfigured (node is active)" in structural, structural
    assert "Set parameter successful" in tools.ros2("param", "set", NODE, "device", "cpu").stdout  # its current value
    dump = tmp_path / "dump.yaml"
    dump.write_text(tools.ros2("param", "dump", NODE).stdout)
    loaded = tools.ros2("param", "load", NODE, str(dump))
    names = set(yaml.safe_load(dump.read_text())[NODE]["ros__parameters"])
    succeeded = set(re.findall(r"^Set parameter (\w+) successful$", loaded.stdout, re.MULTILINE))
    # rclpy's own start_type_description_service is read-only: no node can take it back
    assert names - succeeded == {"start_type_description_service"}, loaded.stdout
    assert set(params.SPECS) | {"use_sim_time"} <= succeeded


def test_param_set_of_a_mistyped_name_names_the_closest_one(tools, launched):
    """Issue 29. Before: "Setting parameter failed: Invalid access to undeclared parameter(s): []"."""
    refused = tools.ros2("param", "set", NODE, "overlay_alfa", "0.3").stdout
    assert f"Setting parameter failed: no parameter 'overlay_alfa' (did you mean 'overlay_alpha'?) on {NODE}" in refused, refused


def test_lifecycle_and_invalid_transition_id(tools, launched):
    assert "active [3]" in tools.ros2("lifecycle", "get", NODE).stdout
    # issue 15.1: by id, a transition not valid while active (2 = cleanup) used to kill the node
    call = tools.ros2("service", "call", f"{NODE}/change_state", "lifecycle_msgs/srv/ChangeState", "{transition: {id: 2}}")
    assert "success=False" in call.stdout, call.stdout
    assert "transition id 2 is not valid while active" in launched.output
    assert "Transitioning successful" in tools.ros2("lifecycle", "set", NODE, "deactivate").stdout
    assert "inactive [2]" in tools.ros2("lifecycle", "get", NODE).stdout
    assert "inactive: subscriptions removed" in launched.output
    assert "Transitioning successful" in tools.ros2("lifecycle", "set", NODE, "activate").stdout
    assert "active [3]" in tools.ros2("lifecycle", "get", NODE).stdout


def test_ctrl_c_ends_everything_within_5_s(tools, launched):
    seconds = launched.interrupt(5.0)
    assert seconds < 5.0 and not launched.group_alive(), launched.output[-2000:]
    assert "Traceback" not in launched.output, launched.output
    assert launched.popen.returncode == 0, launched.output[-2000:]


def test_ros2_run_with_bad_start_values_stays_up_unconfigured(tools):
    """A missing model and max_depth:=5 (integer); a bad device; neither kills the node."""
    missing = tools.start("ros2", "run", "mtl_perception", "perception_node", "--ros-args", "-r", f"__node:=missing_model{os.getpid()}",
                          "-p", "model_path:=/does/not/exist", "-p", "max_depth:=5", "-p", "device:=cpu")
    bad_device = tools.start("ros2", "run", "mtl_perception", "perception_node", "--ros-args", "-r", f"__node:=bad_device{os.getpid()}",
                             "-p", "device:=gpu0", "-p", "overlay_alpha:=1")
    try:
        for process, expected in ((missing, "cannot load model"), (bad_device, "device must be auto, cpu, cuda or cuda:N, got 'gpu0'")):
            assert process.wait_for(lambda out: "configure failed" in out, START_TIMEOUT_S), process.output
            failures = [line for line in process.output.splitlines() if "configure failed" in line]
            assert len(failures) == 1 and expected in failures[0] and "lifecycle set" in failures[0], process.output
            assert "Traceback" not in process.output and process.popen.poll() is None, process.output
        assert "Double value is: 5.0" in tools.ros2("param", "get", f"/missing_model{os.getpid()}", "max_depth").stdout
        assert "unconfigured [1]" in tools.ros2("lifecycle", "get", f"/bad_device{os.getpid()}").stdout
        # fixed while unconfigured, it configures (overlay_alpha:=1, an integer, was accepted)
        assert "Set parameter successful" in tools.ros2("param", "set", f"/bad_device{os.getpid()}", "device", "cpu").stdout
        assert "Transitioning successful" in tools.ros2("lifecycle", "set", f"/bad_device{os.getpid()}", "configure").stdout
    finally:
        for process in (missing, bad_device):
            process.interrupt(10.0)
