"""Issue 16: compressed input, lazy outputs and 16UC1 depth, over real rclpy + Fast DDS (loopback).

One node with `input_transport: compressed` listens on image/compressed; the client publishes
CompressedImage frames the way image_transport's compressed plugin does ("rgb8; png compressed
bgr8"). What the node builds is read from its per-output counters, not inferred from timing.
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ros

H, W = 48, 64
NS = "/transport"
TOPICS = {"labels": "segmentation/labels", "depth": "depth/image", "normals": "normals/image"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage

    from mtl_perception.ros.node import PerceptionNode
    from mtl_perception.runtime import load_engine
    from support.artifacts import make_tiny_artifact
    from support.ros import Spinner, wait_until

    artifact = make_tiny_artifact(tmp_path_factory.mktemp("artifact") / "tiny")
    rclpy.init()
    settings = dict(model_path=str(artifact), device="cpu", backend="torch", input_transport="compressed", input_qos="reliable", warmup_iterations=0)
    node = PerceptionNode(namespace=NS, parameter_overrides=[Parameter(name, value=value) for name, value in settings.items()])
    assert node.state == "active", node.last_transition_error
    client = rclpy.create_node("transport_client", namespace=NS)
    image_pub = client.create_publisher(CompressedImage, "image/compressed", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    spinner = Spinner(node, client)
    assert wait_until(lambda: image_pub.get_subscription_count() > 0, 20), "the node does not subscribe to image/compressed"
    yield type("Rig", (), dict(node=node, client=client, image_pub=image_pub, reference=load_engine(artifact, device="cpu")))
    spinner.stop()
    node.shutdown_serving()
    node.destroy_node()
    client.destroy_node()
    rclpy.try_shutdown()


def scene(seed: int) -> np.ndarray:
    """A smooth frame with a few edges: jpeg keeps it close (random noise would not survive jpeg)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([cols / W * 255, rows / H * 255, np.full((H, W), rng.uniform(0, 255))], -1)
    rgb[H // 3 : H // 2, W // 4 : W // 2] = rng.integers(0, 256, 3)
    return np.rint(rgb).astype(np.uint8)


def compressed(rgb: np.ndarray, fmt: str, stamp_ns: int):
    from sensor_msgs.msg import CompressedImage

    from mtl_perception.interop.image import encode_compressed

    msg = CompressedImage()
    msg.format, data = encode_compressed(rgb, fmt)
    msg.data = data.tobytes()
    msg.header.frame_id = "camera_optical"
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    return msg


class Listening:
    """Client subscriptions on some outputs, kept until closed; the node sees each before use."""

    def __init__(self, rig, keys: tuple[str, ...]) -> None:
        from rclpy.callback_groups import ReentrantCallbackGroup
        from sensor_msgs.msg import Image

        from support.ros import wait_until

        self.rig = rig
        self.received: dict[str, list] = {key: [] for key in keys}
        # A group of their own that never locks: when close() races the executor's take (rclpy
        # raises InvalidHandle), an exclusive group would stay "executing" and mute the client.
        group = ReentrantCallbackGroup()
        self.subs = [rig.client.create_subscription(Image, TOPICS[key], self.received[key].append, 10, callback_group=group) for key in keys]
        assert wait_until(lambda: all(rig.node.has_subscriber(key) for key in keys), 20), "the node did not see the subscriptions"

    def serve(self, msg) -> dict:
        """Publish one frame; its decoded output per listened key."""
        from mtl_perception.interop.image import image_to_array
        from support.ros import wait_until

        stamp = msg.header.stamp

        def mine(key: str) -> list:
            return [m for m in self.received[key] if m.header.stamp == stamp]

        self.rig.image_pub.publish(msg)  # reliable both ends: one send is delivered
        wait_until(lambda: all(mine(key) for key in self.received), 20)
        assert all(mine(key) for key in self.received), "no output for the frame"
        return {key: image_to_array(mine(key)[0]) for key in self.received} | {"encoding": mine("depth")[0].encoding if "depth" in self.received else None}

    def close(self) -> None:
        from support.ros import wait_until

        for sub in self.subs:
            self.rig.client.destroy_subscription(sub)
        assert wait_until(lambda: not any(self.rig.node.has_subscriber(key) for key in self.received), 20)


def now_ns(rig) -> int:
    return rig.client.get_clock().now().nanoseconds


def test_only_subscribed_outputs_are_built_and_a_later_subscriber_starts_its_topic(rig):
    node = rig.node
    assert not any(node.has_subscriber(key) for key in node.outputs_built)
    before = dict(node.outputs_built)
    listening = Listening(rig, ("labels", "depth"))
    try:
        for index in range(2):
            listening.serve(compressed(scene(index), "png", now_ns(rig)))
        built = {key: node.outputs_built[key] - before[key] for key in before}
        assert built == {key: (2 if key in ("labels", "depth") else 0) for key in before}, built  # normals: head ran, nothing built
    finally:
        listening.close()
    later = Listening(rig, ("normals",))
    try:
        normals = later.serve(compressed(scene(2), "png", now_ns(rig)))["normals"]
        assert normals.shape == (H, W, 3) and node.outputs_built["normals"] == before["normals"] + 1
        assert node.outputs_built["labels"] == before["labels"] + 2  # nobody listens to labels now
    finally:
        later.close()


def test_png_frame_gives_the_raw_frames_outputs_and_jpeg_close_to_them(rig):
    from mtl_perception.interop.image import decode_compressed, encode_compressed

    rgb = scene(3)
    raw = rig.reference.predict(rgb)  # what a raw Image of this frame gives (test_node checks raw against it)
    listening = Listening(rig, ("labels", "depth", "normals"))
    try:
        png = listening.serve(compressed(rgb, "png", now_ns(rig)))
        np.testing.assert_array_equal(png["labels"], raw.segmentation)
        np.testing.assert_allclose(png["depth"], raw.depth, rtol=1e-6)
        np.testing.assert_allclose(png["normals"], raw.normals, rtol=1e-6, atol=1e-7)

        jpeg = listening.serve(compressed(rgb, "jpeg", now_ns(rig)))
        decoded = decode_compressed(encode_compressed(rgb, "jpeg")[1])
        assert np.abs(decoded.astype(int) - rgb).mean() < 3  # the jpeg itself is close to the frame
        np.testing.assert_array_equal(jpeg["labels"], rig.reference.predict(decoded).segmentation)  # decoded by OpenCV, as RGB
        assert (jpeg["labels"] == raw.segmentation).mean() > 0.9
        np.testing.assert_allclose(jpeg["depth"], raw.depth, rtol=0.05)
        assert np.abs(jpeg["normals"] - raw.normals).max() < 0.1
    finally:
        listening.close()


def test_garbage_or_depth_payloads_counted_bad_and_node_keeps_serving(rig):
    from support.ros import wait_until

    node = rig.node
    listening = Listening(rig, ("labels",))
    try:
        for fmt, payload, reason in (("rgb8; jpeg compressed bgr8", b"\xff\xd8 not a jpeg", "not a decodable jpeg or png"),
                                     ("png", b"", "not a decodable"),
                                     ("16UC1; compressedDepth png", compressed(scene(4), "png", 0).data, "compressedDepth")):
            bad = node.stats.frames_bad
            msg = compressed(scene(4), "png", now_ns(rig))
            msg.format, msg.data = fmt, payload
            rig.image_pub.publish(msg)
            assert wait_until(lambda: node.stats.frames_bad == bad + 1, 10), fmt
            assert reason in node.stats.last_error, node.stats.last_error
        labels = listening.serve(compressed(scene(5), "png", now_ns(rig)))["labels"]
        np.testing.assert_array_equal(labels, rig.reference.predict(scene(5)).segmentation)
    finally:
        listening.close()


def millimetres_of(metres: np.ndarray) -> np.ndarray:
    """round(1000 · depth), 0 where NaN: what 16UC1 must hold for a 32FC1 depth image."""
    return np.where(np.isnan(metres), 0, np.rint(1000.0 * metres.astype(np.float64))).astype(np.uint16)


def test_depth_16uc1_is_rounded_millimetres_of_32fc1_with_0_where_nan(rig):
    """The tiny net's depth is one value, so validity comes from max_depth: all valid, then all NaN."""
    from rclpy.parameter import Parameter

    node = rig.node
    rgb = scene(6)
    listening = Listening(rig, ("depth",))
    try:
        for max_depth, invalid in ((10.0, 0.0), (0.5, 1.0)):
            assert node.set_parameters([Parameter("max_depth", value=max_depth), Parameter("depth_encoding", value="32FC1")])[0].successful
            metres = listening.serve(compressed(rgb, "png", now_ns(rig)))
            assert node.set_parameters([Parameter("depth_encoding", value="16UC1")])[0].successful
            millimetres = listening.serve(compressed(rgb, "png", now_ns(rig)))
            assert (metres["encoding"], millimetres["encoding"]) == ("32FC1", "16UC1")
            assert millimetres["depth"].dtype == np.uint16 and np.isnan(metres["depth"]).mean() == invalid
            np.testing.assert_array_equal(millimetres["depth"], millimetres_of(metres["depth"]))
    finally:
        node.set_parameters([Parameter("depth_encoding", value="32FC1"), Parameter("max_depth", value=10.0)])
        listening.close()


def test_depth_image_16uc1_over_a_varied_depth_map():
    from mtl_perception.ros.publishing import FramePublisher

    depth = np.array([[0.0004, 0.0005, 0.0015, 1.2345], [3.9996, 4.5, np.nan, -1.0], [np.inf, 0.0, 2.0, 65.6]], np.float32)
    frames = FramePublisher({}, None, {"max_depth": 4.0})
    metres, millimetres = frames.depth_image(depth, "32FC1"), frames.depth_image(depth, "16UC1")
    assert metres.dtype == np.float32 and millimetres.dtype == np.uint16
    np.testing.assert_array_equal(millimetres, millimetres_of(metres))
    np.testing.assert_array_equal(millimetres, [[0, 1, 2, 1235], [4000, 0, 0, 0], [0, 0, 2000, 0]])  # float32 0.0005, 1.2345 lie just above
