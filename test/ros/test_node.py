"""PerceptionNode over real rclpy + Fast DDS (loopback, private domain; see conftest.py): what it serves.

The node runs in-process on a MultiThreadedExecutor thread; a client node publishes frames and
records every output (conftest.py's `rig`, helpers in support/node_rig.py). Images are small (48×64) and
the artifact is a tiny random-weight net. Memory and backlog under load are test_node_backlog.py;
lifecycle, backends and the parameter tables are test_node_lifecycle.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from support.node_rig import H, NS, W, by_stamp, now_ns, wait_outputs
from support.ros import camera_info, make_image

pytestmark = pytest.mark.ros

ENCODINGS = {
    "segmentation/labels": "mono8",
    "segmentation/color": "rgb8",
    "segmentation/overlay": "rgb8",
    "depth/image": "32FC1",
    "normals/image": "32FC3",
    "normals/color": "rgb8",
}


@pytest.fixture(scope="module")
def reference(artifact):
    from mtl_perception.runtime import load_engine

    return load_engine(artifact, device="cpu")


def publish_info(rig, info):
    rig.info_pub.publish(info)
    # camera_info and image travel on different topics; make sure the node holds this one.
    from support.ros import wait_until

    assert wait_until(lambda: rig.node.camera_info is not None and list(rig.node.camera_info.k) == list(info.k), 10)


def params_default(name):
    from mtl_perception.ros import params

    return params.SPECS[name].default


def test_end_to_end_every_output_matches_engine(rig, reference):
    from mtl_perception import colors as vz
    from mtl_perception.interop.image import image_to_array
    from mtl_perception.interop.camera_info import Intrinsics, scale_intrinsics

    publish_info(rig, camera_info())
    rng = np.random.default_rng(1)
    for index in range(3):
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        stamp = now_ns(rig) + index
        # send as bgr8 for one frame: the node must convert to RGB before inference
        encoding = "bgr8" if index == 1 else "rgb8"
        payload = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
        rig.image_pub.publish(make_image(np.ascontiguousarray(payload), stamp, encoding))
        out = wait_outputs(rig, stamp)
        for topic, msg in out.items():
            assert msg.header.frame_id == "camera_optical", topic
            assert (msg.width, msg.height) == (W, H), topic
            if topic in ENCODINGS:
                assert msg.encoding == ENCODINGS[topic], topic
                assert msg.is_bigendian == 0
        pred = reference.predict(rgb)
        labels = image_to_array(out["segmentation/labels"])
        np.testing.assert_array_equal(labels, pred.segmentation)
        lut = vz.palette_lut(reference.meta.palette)
        np.testing.assert_array_equal(image_to_array(out["segmentation/color"]), lut[pred.segmentation])
        alpha = rig.node.get_parameter("overlay_alpha").value
        expected_overlay = np.clip(np.rint(rgb + alpha * (lut[pred.segmentation].astype(np.float32) - rgb)), 0, 255)
        np.testing.assert_allclose(image_to_array(out["segmentation/overlay"]), expected_overlay, atol=1)
        depth = image_to_array(out["depth/image"])
        expected_depth = np.where(pred.depth > rig.node.get_parameter("max_depth").value, np.nan, pred.depth)
        np.testing.assert_allclose(depth, expected_depth, rtol=1e-6, equal_nan=True)
        normals = image_to_array(out["normals/image"])
        np.testing.assert_allclose(normals, pred.normals, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=1e-4)
        np.testing.assert_array_equal(image_to_array(out["normals/color"]), vz.colorize_normals(pred.normals))
        info = out["depth/camera_info"]
        np.testing.assert_allclose(info.k, camera_info().k)

    # network resolution: outputs at the model's input size, camera_info rescaled to match
    net_h, net_w = reference.input_size
    assert rig.node.set_parameters([__import__("rclpy").parameter.Parameter("output_resolution", value="network")])[0].successful
    try:
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        stamp = now_ns(rig)
        rig.image_pub.publish(make_image(rgb, stamp))
        out = wait_outputs(rig, stamp)
        for topic, msg in out.items():
            assert (msg.width, msg.height) == (net_w, net_h), topic
        pred = reference.predict(rgb, output_size=(net_h, net_w))
        np.testing.assert_array_equal(image_to_array(out["segmentation/labels"]), pred.segmentation)
        src = camera_info()
        expected = scale_intrinsics(Intrinsics(W, H, tuple(src.k), tuple(src.p)), net_w, net_h)
        sx, sy = net_w / W, net_h / H
        np.testing.assert_allclose(out["depth/camera_info"].k, expected.k)
        assert out["depth/camera_info"].k[0] == pytest.approx(60.0 * sx)
        assert out["depth/camera_info"].k[5] == pytest.approx((23.5 + 0.5) * sy - 0.5)
        assert out["depth/camera_info"].header.stamp == out["depth/image"].header.stamp
    finally:
        rig.node.set_parameters([__import__("rclpy").parameter.Parameter("output_resolution", value="input")])


def test_bad_input_is_skipped_and_node_keeps_serving(rig):
    from sensor_msgs.msg import Image

    from support.ros import wait_until

    node = rig.node
    rgb = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)

    def raw(encoding, height, width, step, data):
        msg = Image()
        msg.header.frame_id = "camera_optical"
        msg.height, msg.width, msg.encoding, msg.step = height, width, encoding, step
        msg.data = bytes(data)
        return msg

    bad = {
        "unknown encoding": raw("yuv422", H, W, W * 2, b"\0" * (H * W * 2)),
        "depth encoding": raw("16UC1", H, W, W * 2, b"\0" * (H * W * 2)),
        "step mismatch": raw("rgb8", H, W, W * 3 - 1, rgb.tobytes()),
        "zero size": raw("rgb8", 0, 0, 0, b""),
        "truncated": raw("rgb8", H, W, W * 3, rgb.tobytes()[: H * W * 3 // 2]),
    }
    for reason, msg in bad.items():
        before = node.stats.frames_bad
        rig.image_pub.publish(msg)
        assert wait_until(lambda: node.stats.frames_bad == before + 1, 10), reason
        assert node.stats.last_error.startswith("frame skipped"), node.stats.last_error

    nan_info = camera_info(fx=math.nan)
    before = node.stats.camera_info_bad
    rig.info_pub.publish(nan_info)
    assert wait_until(lambda: node.stats.camera_info_bad == before + 1, 10)
    assert "NaN" in node.stats.last_error

    # a 4K frame is valid: processed (at network resolution to keep the test light), not fatal
    node.set_parameters([__import__("rclpy").parameter.Parameter("output_resolution", value="network")])
    try:
        big = np.zeros((2160, 3840, 3), np.uint8)
        big[:, :, 1] = 90
        stamp = now_ns(rig)
        rig.image_pub.publish(make_image(big, stamp))
        wait_outputs(rig, stamp, topics=("segmentation/labels", "depth/image", "normals/image"), timeout=40)
    finally:
        node.set_parameters([__import__("rclpy").parameter.Parameter("output_resolution", value="input")])

    # valid frames that follow are served; depth/camera_info is withheld while camera_info is bad
    stamp = now_ns(rig)
    rig.image_pub.publish(make_image(rgb, stamp))
    out = wait_outputs(rig, stamp, topics=("segmentation/labels", "depth/image", "normals/image"))
    assert out["depth/image"].width == W
    assert not by_stamp(rig.recorder.messages["depth/camera_info"], stamp)
    publish_info(rig, camera_info())
    stamp = now_ns(rig)
    rig.image_pub.publish(make_image(rgb, stamp))
    wait_outputs(rig, stamp)
    assert node.state == "active"


def test_negative_stamp_is_served_and_counted_once(rig):
    """Issue 15.6: a negative stamp was published *and* counted bad (the latency step raised)."""
    from support.ros import wait_until

    node = rig.node
    rgb = np.random.default_rng(4).integers(0, 256, (H, W, 3), dtype=np.uint8)
    msg = make_image(rgb, 0)
    msg.header.stamp.sec, msg.header.stamp.nanosec = -5, 123
    bad0, processed0, latencies0 = node.stats.frames_bad, node.stats.frames_processed, len(node.stats.latency_ms)
    rig.image_pub.publish(msg)
    out = wait_outputs(rig, -5 * 10**9 + 123, topics=("segmentation/labels",))
    assert out["segmentation/labels"].header.stamp.sec == -5
    assert wait_until(lambda: node.stats.frames_processed == processed0 + 1, 10)
    assert node.stats.frames_bad == bad0
    assert len(node.stats.latency_ms) == latencies0  # no age for a stamp before the epoch


def test_frame_over_pixel_or_byte_limit_refused_before_decoding(rig):
    """Issue 15.2 (node side): max_frame_pixels / max_frame_bytes bound what one frame may cost."""
    from rclpy.parameter import Parameter

    from support.ros import wait_until

    node = rig.node
    assert node.get_parameter("max_frame_pixels").value == 4096 * 4096
    rgb = np.zeros((H, W, 3), np.uint8)
    for name, limit, reason in (("max_frame_pixels", H * W - 1, f"{W}x{H} = {H * W} pixels exceeds max_frame_pixels"),
                                ("max_frame_bytes", H * W * 3 - 1, f"{H * W * 3} data bytes exceed max_frame_bytes")):
        assert node.set_parameters([Parameter(name, value=limit)])[0].successful
        try:
            bad0 = node.stats.frames_bad
            rig.image_pub.publish(make_image(rgb, now_ns(rig)))
            assert wait_until(lambda: node.stats.frames_bad == bad0 + 1, 10), name
            assert reason in node.stats.last_error, node.stats.last_error
        finally:
            node.set_parameters([Parameter(name, value=params_default(name))])
    stamp = now_ns(rig)  # at the limit exactly, the frame is served
    assert node.set_parameters([Parameter("max_frame_pixels", value=H * W)])[0].successful
    rig.image_pub.publish(make_image(rgb, stamp))
    wait_outputs(rig, stamp, topics=("segmentation/labels",))
    node.set_parameters([Parameter("max_frame_pixels", value=params_default("max_frame_pixels"))])


def test_diagnostics_report_serving_figures(rig):
    from mtl_perception.ros.diagnostics import values_of

    # No frame is in flight here, so a report published from now on carries the final drop count.
    rig.recorder.clear()
    assert rig.recorder.wait_for(lambda d: any(NS in m.status[0].name and values_of(m).get("frames_processed", "0") != "0" for m in d["/diagnostics"]), 10)
    latest = [m for m in rig.recorder.messages["/diagnostics"] if NS in m.status[0].name][-1]
    values = values_of(latest)
    for key in ("input_rate_hz", "output_rate_hz", "inference_ms_p50", "inference_ms_p95", "latency_ms_p50", "latency_ms_p95", "frames_dropped", "device", "model"):
        assert key in values, key
    assert values["device"] == "cpu" and values["model"] == "tiny-test"
    assert values["input_transport"] == "raw" and values["omp_wait_policy"] == __import__("os").environ["OMP_WAIT_POLICY"]
    assert float(values["inference_ms_p50"]) > 0
    assert int(values["frames_dropped"]) == rig.node.slot.dropped


def test_invalid_parameters_rejected(rig):
    from rclpy.parameter import Parameter

    node = rig.node
    cases = [
        ("overlay_alpha", 1.5, "overlay_alpha"),
        ("max_depth", -1.0, "max_depth"),
        ("diagnostics_period", 0.0, "diagnostics_period"),
        ("output_resolution", "full", "one of"),
        ("device", "gpu", "unconfigured"),  # structural: refused while active
        ("model_path", "/nowhere", "cleanup first"),
        ("output_qos", "fast", ""),
        ("autostart", False, ""),  # read-only
    ]
    for name, value, reason in cases:
        before = node.get_parameter(name).value
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful, name
        assert reason in result.reason, (name, result.reason)
        assert node.get_parameter(name).value == before
    ok = node.set_parameters([Parameter("overlay_alpha", value=0.3)])[0]
    assert ok.successful
    node.set_parameters([Parameter("overlay_alpha", value=0.5)])
