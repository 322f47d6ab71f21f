"""Issue 30: one node serving several cameras, over real rclpy + Fast DDS (loopback, private domain).

Three cameras (front, rear, left); left never sends. Each camera's outputs must carry its own
frame's header and equal the engine's prediction for that frame alone; a camera sending
malformed frames is counted against itself and leaves the others served; frames of one size
from two cameras run as one forward pass; /diagnostics has one status per camera.
"""
from __future__ import annotations

import numpy as np
import pytest

from support.ros import make_image

pytestmark = pytest.mark.ros

H, W = 48, 64
NS = "/cams"
CAMERAS = ("front", "rear", "left")
WINDOW_MS = 300.0  # long enough that two back-to-back frames surely share a pass, even on a loaded CI machine


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from mtl_perception.ros.node import PerceptionNode
    from mtl_perception.runtime import load_engine
    from support.artifacts import make_tiny_artifact
    from support.ros import Recorder, Spinner, wait_until

    artifact = make_tiny_artifact(tmp_path_factory.mktemp("artifact") / "tiny")
    rclpy.init()
    settings = dict(model_path=str(artifact), device="cpu", backend="torch", input_qos="reliable", warmup_iterations=0,
                    cameras=list(CAMERAS), batch_window_ms=WINDOW_MS, diagnostics_period=0.2)
    node = PerceptionNode(namespace=NS, parameter_overrides=[Parameter(k, value=v) for k, v in settings.items()])
    assert node.state == "active", node.last_transition_error
    client = rclpy.create_node("cameras_client", namespace=NS)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pubs = {camera: client.create_publisher(Image, f"{camera}/image", qos) for camera in CAMERAS}
    topics = {f"{camera}/segmentation/labels": Image for camera in CAMERAS} | {f"{camera}/depth/image": Image for camera in CAMERAS}
    recorder = Recorder(client, topics | {"/diagnostics": DiagnosticArray})
    spinner = Spinner(node, client)
    assert wait_until(lambda: all(pub.get_subscription_count() > 0 for pub in image_pubs.values()), 20)
    assert wait_until(lambda: all(node.channels[c].frames.listened("labels") for c in CAMERAS), 20)
    yield type("Rig", (), dict(node=node, client=client, image_pubs=image_pubs, recorder=recorder, reference=load_engine(artifact, device="cpu")))
    spinner.stop()
    node.shutdown_serving()
    node.destroy_node()
    client.destroy_node()
    rclpy.try_shutdown()


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def now_ns(rig) -> int:
    return rig.client.get_clock().now().nanoseconds


def output(rig, topic: str, stamp_ns: int, timeout: float = 20.0):
    """The message on `topic` stamped `stamp_ns` (waits for it)."""
    def matching(messages):
        return [m for m in messages[topic] if m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == stamp_ns]

    assert rig.recorder.wait_for(lambda messages: matching(messages), timeout), f"no {topic} for stamp {stamp_ns}"
    return matching(rig.recorder.messages)[0]


def test_each_cameras_outputs_carry_its_header_and_its_frames_prediction(rig):
    from mtl_perception.interop.image import image_to_array

    sent = {}
    for index, camera in enumerate(("front", "rear")):
        stamp = now_ns(rig) + index
        rgb = frame(10 + index)
        rig.image_pubs[camera].publish(make_image(rgb, stamp, frame_id=f"{camera}_optical"))
        sent[camera] = (stamp, rgb)
    for camera, (stamp, rgb) in sent.items():
        labels = output(rig, f"{camera}/segmentation/labels", stamp)
        depth = output(rig, f"{camera}/depth/image", stamp)
        assert labels.header.frame_id == depth.header.frame_id == f"{camera}_optical"
        alone = rig.reference.predict(rgb)
        assert np.mean(image_to_array(labels) == alone.segmentation) >= 0.999
        np.testing.assert_allclose(image_to_array(depth), alone.depth, rtol=1e-4, atol=1e-5)
    assert rig.node.channels["left"].frames_received == 0  # the silent camera cost the others nothing but the window


def test_frames_of_one_size_from_two_cameras_share_one_forward_pass(rig):
    engine = rig.node.engine
    sizes = []
    real = engine.predict_batch

    def recording(frames, **kwargs):
        sizes.append(len(frames))
        return real(frames, **kwargs)

    engine.predict_batch = recording
    try:
        stamp = now_ns(rig)
        for camera in ("front", "rear"):
            rig.image_pubs[camera].publish(make_image(frame(20), stamp, frame_id=f"{camera}_optical"))
        output(rig, "front/segmentation/labels", stamp)
        output(rig, "rear/segmentation/labels", stamp)
    finally:
        del engine.predict_batch  # the instance attribute; the method shows through again
    assert sizes == [2]


def test_a_camera_sending_malformed_frames_leaves_the_others_served(rig):
    from sensor_msgs.msg import Image

    node = rig.node
    bad_before = node.channels["rear"].stats.frames_bad
    front_before = node.channels["front"].stats.frames_processed
    for index in range(3):
        broken = Image(height=H, width=W, encoding="rgb8", step=W * 3, data=b"\x00" * 10)  # far shorter than step × height
        broken.header.stamp.sec, broken.header.stamp.nanosec = divmod(now_ns(rig), 10**9)
        rig.image_pubs["rear"].publish(broken)
        stamp = now_ns(rig)
        rig.image_pubs["front"].publish(make_image(frame(30 + index), stamp, frame_id="front_optical"))
        output(rig, "front/segmentation/labels", stamp)
    from support.ros import wait_until

    assert wait_until(lambda: node.channels["rear"].stats.frames_bad == bad_before + 3, 10), node.channels["rear"].stats.frames_bad
    assert node.channels["front"].stats.frames_processed == front_before + 3
    assert node.channels["front"].stats.frames_bad == 0 and "rear" not in node.channels["front"].stats.last_error


def test_diagnostics_report_each_camera_with_its_own_counters(rig):
    node = rig.node
    expected = {camera: node.channels[camera].frames_received for camera in CAMERAS}
    rig.recorder.clear()

    def per_camera(messages):
        for array in messages["/diagnostics"]:
            names = [status.name for status in array.status if status.name.startswith(f"{NS}/perception_node")]
            if len(names) == len(CAMERAS):
                return array
        return None

    assert rig.recorder.wait_for(lambda messages: per_camera(messages) is not None, 10)
    array = per_camera(rig.recorder.messages)
    by_camera = {status.name.rsplit(" ", 1)[1]: {kv.key: kv.value for kv in status.values} for status in array.status}
    assert sorted(by_camera) == sorted(CAMERAS)
    for camera, values in by_camera.items():
        assert values["camera"] == camera and int(values["frames_received"]) == expected[camera]
    assert int(by_camera["left"]["frames_processed"]) == 0 and int(by_camera["front"]["frames_processed"]) >= 4
