"""The node's `points` cloud and `segmentation/confidence` over real rclpy + Fast DDS (loopback, private domain).

The cloud is read back with sensor_msgs_py.point_cloud2.read_points, the reader RViz-side tools
use, and compared with the arrays the same artifact and camera_info give offline.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from support.ros import camera_info, make_image

pytestmark = pytest.mark.ros

H, W = 48, 64
NS = "/pts"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    if importlib.util.find_spec("sensor_msgs_py") is None:
        pytest.skip("sensor_msgs_py is not installed (a wheel in ../shared/ros2-cli; `make setup` installs it where ../shared exists)")
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from mtl_perception.ros.node import PerceptionNode
    from mtl_perception.runtime import load_engine
    from support.artifacts import make_tiny_artifact
    from support.ros import Spinner, wait_until

    artifact = make_tiny_artifact(tmp_path_factory.mktemp("artifact") / "tiny")
    rclpy.init()
    overrides = [
        Parameter(name, value=value)
        for name, value in dict(model_path=str(artifact), device="cpu", backend="torch", input_qos="reliable", warmup_iterations=0).items()
    ]
    node = PerceptionNode(namespace=NS, parameter_overrides=overrides)
    assert node.state == "active", node.last_transition_error
    client = rclpy.create_node("points_client", namespace=NS)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub, info_pub = client.create_publisher(Image, "image", qos), client.create_publisher(CameraInfo, "camera_info", qos)
    spinner = Spinner(node, client)
    assert wait_until(lambda: image_pub.get_subscription_count() > 0 and info_pub.get_subscription_count() > 0, 20)
    yield type("Rig", (), dict(node=node, client=client, image_pub=image_pub, info_pub=info_pub, reference=load_engine(artifact, device="cpu")))
    spinner.stop()
    node.shutdown_serving()
    node.destroy_node()
    client.destroy_node()
    rclpy.try_shutdown()


def subscribe(rig, topics: dict[str, type]) -> tuple[dict[str, list], list]:
    """Client subscriptions keeping every message; waits until the node sees each one."""
    from support.ros import wait_until

    received: dict[str, list] = {topic: [] for topic in topics}
    subs = [rig.client.create_subscription(kind, topic, received[topic].append, 10) for topic, kind in topics.items()]
    assert wait_until(lambda: all(s.get_publisher_count() > 0 for s in subs), 20), "DDS discovery did not match on loopback"
    return received, subs


def serve(rig, received: dict[str, list], topic: str, rng: np.random.Generator) -> tuple[np.ndarray, object]:
    """Publish one random frame and wait for its message on `topic`."""
    from support.ros import wait_until

    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    stamp = rig.client.get_clock().now().nanoseconds
    rig.image_pub.publish(make_image(rgb, stamp))

    def arrived() -> list:
        return [m for m in received[topic] if m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == stamp]

    assert wait_until(lambda: bool(arrived()), 20), f"no {topic} for the frame"
    return rgb, arrived()[0]


def test_points_and_confidence_built_only_when_subscribed_and_cloud_read_back_by_sensor_msgs_py(rig):
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image, PointCloud2
    from sensor_msgs_py import point_cloud2

    from mtl_perception.interop.image import image_to_array
    from mtl_perception.interop.pointcloud import prediction_cloud
    from mtl_perception.ros.outputs import cloud_options
    from support.ros import wait_until

    rng = np.random.default_rng(3)
    labels, _ = subscribe(rig, {"segmentation/labels": Image})
    serve(rig, labels, "segmentation/labels", rng)
    assert rig.node.outputs_built["points"] == 0 and rig.node.outputs_built["confidence"] == 0  # nobody listens
    received, _ = subscribe(rig, {"segmentation/confidence": Image, "points": PointCloud2})
    rgb, confidence = serve(rig, received, "segmentation/confidence", rng)
    np.testing.assert_array_equal(image_to_array(confidence), rig.reference.predict(rgb).confidence)
    assert confidence.encoding == "32FC1"
    assert rig.node.outputs_built["points"] == 0 and not received["points"], "a cloud before any camera_info"
    info = camera_info()
    rig.info_pub.publish(info)
    assert wait_until(lambda: rig.node.camera_info is not None, 10)
    for organized, stride in ((False, 4), (True, 3)):
        rig.node.set_parameters([Parameter("points_organized", value=organized), Parameter("points_stride", value=stride)])
        rgb, cloud = serve(rig, received, "points", rng)
        assert cloud.header.frame_id == "camera_optical"
        values = {name: rig.node.get_parameter(name).value for name in ("points_stride", "points_max_depth", "points_min_confidence", "points_organized")}
        expected = prediction_cloud(rig.reference.predict(rgb), rgb, info, cloud_options(values))
        assert expected.ndim == (2 if organized else 1) and (cloud.height > 1) == organized
        read = point_cloud2.read_points(cloud, skip_nans=False)
        assert read.dtype.names == ("x", "y", "z", "rgb", "label", "normal_x", "normal_y", "normal_z", "confidence")
        # byte for byte: the same floats (NaN included), labels and packed colours as offline
        np.testing.assert_array_equal(read.view(np.uint8), np.ascontiguousarray(expected.reshape(-1)).view(np.uint8))
    assert rig.node.outputs_built["points"] == 2
