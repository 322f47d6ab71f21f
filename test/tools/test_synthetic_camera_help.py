"""`synthetic_camera --help` names what the camera publishes (issue 29): every topic its node creates,
with the message type, and every parameter it declares, with its default."""
from __future__ import annotations

import pytest

from mtl_perception.tools import synthetic_camera

pytestmark = pytest.mark.ros


def test_help_names_every_published_topic_and_parameter(capsys):
    import rclpy

    assert synthetic_camera.main(["--help"]) == 0
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    camera, frames = synthetic_camera.render_frames(0, 2, 24, 32, 15.0)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = synthetic_camera.SyntheticCamera(frames, camera, namespace="/help_probe", context=context)
        try:
            published = {pub.topic_name: pub.msg_type for pub in node.publishers if pub.topic_name.startswith("/help_probe/")}
            declared = {name: node.get_parameter(name).value for name in synthetic_camera.PARAMETERS}
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert set(published) == {"/help_probe/image", "/help_probe/camera_info"}
    for topic, kind in published.items():
        name = topic.rsplit("/", 1)[1]
        type_name = f"{kind.__module__.split('.')[0]}/msg/{kind.__name__}"  # sensor_msgs/msg/Image
        assert name in lines and type_name in lines[name], (name, type_name, text)
    for name, value in declared.items():
        assert name in lines and f"(default {value!r})" in lines[name], (name, text)
    assert "-r image:=" in text  # how to remap it onto a robot's camera topic
