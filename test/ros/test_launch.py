"""launch/perception.launch.py and config/perception.yaml.

Checked by parsing it with `ast` (no launch needed); the real `ros2 launch` and launch_testing
runs are in test_ros2_cli.py and test_launch_testing.py.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "perception.launch.py"
CONFIG = ROOT / "config" / "perception.yaml"
ARGUMENTS = {"image", "camera_info", "namespace", "params_file", "model_path", "device", "omp_wait_policy", "rviz", "rviz_config", "rviz_fixed_frame"}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _constants(tree: ast.AST) -> dict[str, object]:
    return {
        t.id: n.value.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
        if isinstance(t, ast.Name)
    }


def _value(node: ast.AST, constants: dict[str, object]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


@pytest.fixture(scope="module")
def tree():
    return ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def test_launch_file_declares_arguments_and_node(tree):
    constants = _constants(tree)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    declared = {_value(c.args[0], constants) for c in _calls(tree, "DeclareLaunchArgument")}
    assert ARGUMENTS <= declared, ARGUMENTS - declared
    used = {_value(c.args[0], constants) for c in _calls(tree, "LaunchConfiguration")}
    assert ARGUMENTS <= used, f"declared but unused: {ARGUMENTS - used}"
    nodes = {_value(k.value, constants): c for c in _calls(tree, "Node") for k in c.keywords if k.arg == "package"}
    assert set(nodes) == {"mtl_perception", "rviz2"}
    kwargs = {k.arg: k.value for k in nodes["mtl_perception"].keywords}
    executable = _value(kwargs["executable"], constants)
    setup = (ROOT / "setup.py").read_text()
    assert re.search(rf'"{executable} = mtl_perception\.ros\.node:main"', setup), f"{executable} is not a console script"
    node_module = ast.parse((ROOT / "mtl_perception" / "ros" / "node.py").read_text())
    assert "main" in {f.name for f in node_module.body if isinstance(f, ast.FunctionDef)}, "ros/node.py defines no main()"
    # keyed /** so the params file applies under any namespace (a node-name key is silently ignored there)
    assert list(yaml.safe_load(CONFIG.read_text())) == ["/**"]
    remapped = {_value(pair.elts[0], constants) for pair in kwargs["remappings"].elts}
    assert remapped == {"image", "camera_info"}
    overrides = [d for d in ast.walk(kwargs["parameters"]) if isinstance(d, ast.Dict)]
    from mtl_perception.ros import params

    keys = {_value(k, constants) for d in overrides for k in d.keys}
    assert keys == {"model_path", "device"} and keys <= set(params.SPECS)
    # the wait policy reaches the node through its environment, set before the node starts
    (env,) = _calls(tree, "SetEnvironmentVariable")
    assert _value(env.args[0], constants) == "OMP_WAIT_POLICY"
    assert _value(env.args[1].args[0], constants) == "omp_wait_policy"
    # share/mtl_perception/config is installed by setup.py, where the default params_file points
    assert '"config/*.yaml"' in setup and "get_package_share_directory" in LAUNCH.read_text()


def test_config_yaml_covers_every_parameter_with_valid_defaults():
    from mtl_perception.ros import params

    document = yaml.safe_load(CONFIG.read_text())
    values = document["/**"]["ros__parameters"]
    assert set(values) == set(params.SPECS), set(values) ^ set(params.SPECS)
    for name, value in values.items():
        assert params.validate(name, value, "unconfigured") is None, (name, value)
        assert value == params.SPECS[name].default, f"{name}: YAML {value!r} != declared default {params.SPECS[name].default!r}"
    text = CONFIG.read_text()
    for name in values:  # every parameter is commented (a comment line above, or inline)
        lines = text.splitlines()
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:"))
        assert "#" in lines[index] or lines[index - 1].strip().startswith("#"), name


@pytest.mark.ros
def test_node_starts_from_the_params_file(tmp_path):
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from support.artifacts import make_tiny_artifact
    from mtl_perception.ros.node import PerceptionNode

    artifact = make_tiny_artifact(tmp_path / "tiny")
    context = Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(CONFIG)])
    try:
        node = PerceptionNode(context=context, parameter_overrides=[Parameter("model_path", value=str(artifact)), Parameter("device", value="cpu")])
        try:
            assert node.state == "active", node.last_transition_error
            assert node.get_parameter("input_qos").value == "sensor_data"
            assert node.get_parameter("output_qos").value == "reliable"
            assert node.get_parameter("max_depth").value == 10.0
        finally:
            node.shutdown_serving()
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_rviz_config_shows_the_node_outputs_and_the_cloud_by_label():
    from mtl_perception.interop.pointcloud import POINT_DTYPE
    from mtl_perception.ros.outputs import OUTPUTS

    config = yaml.safe_load((ROOT / "rviz" / "perception.rviz").read_text())
    displays = {d["Topic"]["Value"]: d for d in config["Visualization Manager"]["Displays"]}
    node_topics = {f"/perception/{topic}" for topic, _ in OUTPUTS.values()}
    wanted = {f"/perception/{t}" for t in ("segmentation/overlay", "depth/image", "normals/color", "points")}
    assert set(displays) == {"/camera/image_raw"} | wanted  # the launch file's default camera topic and namespace
    assert wanted <= node_topics
    cloud = displays["/perception/points"]
    assert cloud["Class"] == "rviz_default_plugins/PointCloud2" and cloud["Color Transformer"] == "Intensity"
    assert cloud["Channel Name"] == "label" and "label" in POINT_DTYPE.names
    assert '"rviz/*.rviz"' in (ROOT / "setup.py").read_text()  # installed where rviz_config points


def test_rviz_node_starts_only_with_rviz_true(monkeypatch):
    pytest.importorskip("launch_ros", reason="launch/launch_ros are wheels in ../shared/ros2-cli (`make setup` installs them)")
    import importlib.util

    import ament_index_python.packages
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument
    from launch.utilities import perform_substitutions
    from launch_ros.actions import Node

    # The source tree has the installed share/ layout (config/, rviz/), so it stands in for it.
    monkeypatch.setattr(ament_index_python.packages, "get_package_share_directory", lambda package: str(ROOT))
    spec = importlib.util.spec_from_file_location("perception_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entities = module.generate_launch_description().entities
    nodes = [e for e in entities if isinstance(e, Node)]
    (rviz,) = [n for n in nodes if n.node_package == "rviz2"]
    assert all(n.condition is None for n in nodes if n is not rviz)  # the perception node always starts
    for value, starts in (("false", False), ("true", True), ("True", True)):
        context = LaunchContext()
        for argument in (e for e in entities if isinstance(e, DeclareLaunchArgument)):
            argument.visit(context)  # defaults, as `ros2 launch` applies them
        context.launch_configurations["rviz"] = value
        assert rviz.condition.evaluate(context) is starts, value
    defaults = {e.name: e.default_value for e in entities if isinstance(e, DeclareLaunchArgument)}
    assert perform_substitutions(LaunchContext(), defaults["rviz"]) == "false"
    assert Path(perform_substitutions(LaunchContext(), defaults["rviz_config"])) == ROOT / "rviz" / "perception.rviz"
