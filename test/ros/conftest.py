"""Fixtures of the node tests: rclpy initialised once per module, a tiny artifact to serve, and the
in-process node rig of test_node.py and test_node_backlog.py (test_node_points.py and
test_node_transport.py define rigs of their own, which take precedence in those modules)."""
from __future__ import annotations

import pytest

from support.node_rig import NS, OUTPUT_TOPICS


@pytest.fixture(scope="module")
def ros():
    """rclpy, initialised once per test module and shut down after it."""
    rclpy = pytest.importorskip("rclpy")
    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """A tiny random-weight artifact (5 classes, 64x80), once per test module."""
    from support.artifacts import make_tiny_artifact

    return make_tiny_artifact(tmp_path_factory.mktemp("artifact") / "tiny")


@pytest.fixture(scope="module")
def rig(ros, artifact):
    """Node (namespace /e2e, reliable input so nothing is lost on the wire) + client + recorder."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image

    from support.ros import Recorder, Spinner, wait_until
    from mtl_perception.ros.node import PerceptionNode

    overrides = [
        Parameter("model_path", value=str(artifact)),
        Parameter("device", value="cpu"),
        Parameter("input_qos", value="reliable"),
        # 50 = 200 ms of the backlog test's 250 Hz flood: DDS must hand every frame to the node so
        # the node's own count (processed + dropped) can be checked; with two inference workers
        # sharing the test process's GIL, a full suite once stalled the executor past 10 (40 ms).
        Parameter("input_qos_depth", value=50),
        Parameter("output_qos_depth", value=10),
        Parameter("diagnostics_period", value=0.2),
    ]
    node = PerceptionNode(namespace=NS, parameter_overrides=overrides)
    assert node.state == "active", node.last_transition_error
    client = ros.create_node("client", namespace=NS)
    topics = {t: (CameraInfo if t.endswith("camera_info") else Image) for t in OUTPUT_TOPICS}
    topics["/diagnostics"] = DiagnosticArray
    recorder = Recorder(client, topics)
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = client.create_publisher(Image, "image", qos)
    info_pub = client.create_publisher(CameraInfo, "camera_info", qos)
    spinner = Spinner(node, client)
    matched = wait_until(
        lambda: image_pub.get_subscription_count() > 0
        and info_pub.get_subscription_count() > 0
        and all(sub.get_publisher_count() > 0 for sub in recorder.subscriptions),
        timeout=20,
    )
    assert matched, "DDS discovery did not match publishers and subscriptions on loopback"
    yield type("Rig", (), dict(node=node, client=client, recorder=recorder, image_pub=image_pub, info_pub=info_pub))
    spinner.stop()
    node.shutdown_serving()
    node.destroy_node()
    client.destroy_node()

