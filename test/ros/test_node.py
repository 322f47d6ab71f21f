"""PerceptionNode over real rclpy + Fast DDS (loopback, private domain; see conftest.py).

The node runs in-process on a MultiThreadedExecutor thread; a client node publishes frames and
records every output. Images are small (48×64) and the artifact is a tiny random-weight net.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from support.ros import camera_info, make_image

pytestmark = pytest.mark.ros

H, W = 48, 64
NS = "/e2e"
OUTPUT_TOPICS = (
    "segmentation/labels",
    "segmentation/color",
    "segmentation/overlay",
    "depth/image",
    "depth/camera_info",
    "normals/image",
    "normals/color",
)
ENCODINGS = {
    "segmentation/labels": "mono8",
    "segmentation/color": "rgb8",
    "segmentation/overlay": "rgb8",
    "depth/image": "32FC1",
    "normals/image": "32FC3",
    "normals/color": "rgb8",
}


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def reference(artifact):
    from mtl_perception.runtime import load_engine

    return load_engine(artifact, device="cpu")


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


def now_ns(rig) -> int:
    return rig.client.get_clock().now().nanoseconds


def by_stamp(messages, stamp_ns):
    return [m for m in messages if m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == stamp_ns]


def wait_outputs(rig, stamp_ns, topics=OUTPUT_TOPICS, timeout=20.0):
    ok = rig.recorder.wait_for(lambda d: all(by_stamp(d[t], stamp_ns) for t in topics), timeout)
    missing = [t for t in topics if not by_stamp(rig.recorder.messages[t], stamp_ns)]
    assert ok, f"no output for stamp {stamp_ns} on {missing}"
    return {t: by_stamp(rig.recorder.messages[t], stamp_ns)[0] for t in topics}


def publish_info(rig, info):
    rig.info_pub.publish(info)
    # camera_info and image travel on different topics; make sure the node holds this one.
    from support.ros import wait_until

    assert wait_until(lambda: rig.node.camera_info is not None and list(rig.node.camera_info.k) == list(info.k), 10)


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


def test_memory_returned_after_a_large_frame(rig):
    """Issue 15.2: one large frame must not leave the process hundreds of MB larger.

    Outputs at network resolution, so DDS history (which keeps the last messages by design) is
    small and what remains is the node's decoding and resizing of a 3000x3000 frame.
    """
    import gc

    from rclpy.parameter import Parameter

    rig.node.set_parameters([Parameter("output_resolution", value="network")])
    try:
        baseline = rss_mb()
        big = np.full((3000, 3000, 3), 80, np.uint8)
        stamp = now_ns(rig)
        rig.image_pub.publish(make_image(big, stamp))
        wait_outputs(rig, stamp, topics=("segmentation/labels", "depth/image", "normals/image"), timeout=60)
        del big
        gc.collect()
        time.sleep(0.5)  # the publisher thread returns memory right after publishing
        grown = rss_mb() - baseline
    finally:
        rig.node.set_parameters([Parameter("output_resolution", value="input")])
    assert grown < 100, f"RSS {grown:.0f} MB above baseline after one 3000x3000 frame"


def params_default(name):
    from mtl_perception.ros import params

    return params.SPECS[name].default


def test_backlog_bounded_latency_drops_counted_memory_flat(rig):
    from support.ros import wait_until

    node = rig.node
    engine = node.engine
    real_predict = engine.predict

    def slow_predict(*args, **kwargs):  # inference much slower than the camera
        time.sleep(0.02)
        return real_predict(*args, **kwargs)

    engine.predict = slow_predict
    try:
        rgb = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
        received0, processed0, dropped0 = node.frames_received, node.stats.frames_processed, node.slot.dropped
        rss = []
        total = 300
        for i in range(total):
            rig.image_pub.publish(make_image(rgb, now_ns(rig)))
            time.sleep(0.004)  # 250 Hz: 5x what the slowed inference serves; loopback DDS keeps up on 2 cores
            if i in (99, total - 1):
                rss.append(rss_mb())
        assert wait_until(lambda: node.frames_received - received0 == total, 30), node.frames_received - received0
        assert wait_until(lambda: node.slot.get(timeout=0) is None and node.stats.frames_processed > processed0, 10)
        last = make_image(rgb, now_ns(rig))
        published = time.monotonic()
        rig.image_pub.publish(last)
        stamp = last.header.stamp.sec * 10**9 + last.header.stamp.nanosec
        wait_outputs(rig, stamp, topics=("segmentation/labels",))
        final_latency = time.monotonic() - published
    finally:
        engine.predict = real_predict
    processed = node.stats.frames_processed - processed0
    dropped = node.slot.dropped - dropped0
    assert dropped > total // 3, (dropped, processed)
    assert processed + dropped <= total + 1 <= processed + dropped + 2  # every frame is processed or counted dropped
    assert final_latency < 1.0, f"latency grew with backlog: {final_latency:.3f}s"
    p95 = node.stats.latency_ms.p95
    assert p95 < 300, f"stamp-age p95 {p95:.1f} ms, p50 {node.stats.latency_ms.p50:.1f}, inference p50 {node.stats.inference_ms.p50:.1f}, processed {processed}"
    assert rss[1] - rss[0] < 40, f"RSS grew {rss[1] - rss[0]:.1f} MB over {total - 100} frames"


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


def test_validation_table_without_ros():
    from mtl_perception.ros import params

    # structural parameters accept their current value in any state (ros2 param load of a dump)
    current = {name: spec.default for name, spec in params.SPECS.items()}
    assert params.validate("device", "auto", "active", current) is None
    assert "cleanup first" in params.validate("device", "cpu", "active", current)
    assert params.validate("autostart", True, "active", current) is None
    assert "restart the node" in params.validate("autostart", False, "active", current)
    assert params.first_problem(dict(current, overlay_alpha=1.5)) == "overlay_alpha must be in [0.0, 1.0], got 1.5"
    assert params.first_problem(dict(current, max_depth=5)) is None  # an integer for a float
    assert params.backend_for("auto") == "torchscript" and params.backend_for("auto", "cuda") == "torch_channels_last"
    assert params.backend_for("onnxruntime") == "onnxruntime" and params.backend_for("torch", "cuda") == "torch"

    assert params.validate("device", "cuda:1", "unconfigured") is None
    assert "cuda:N" in params.validate("device", "cuda:x", "unconfigured")
    assert "must be a float" in params.validate("max_depth", "ten", "active")
    assert params.validate("max_depth", 5, "active") is None  # ints widen to float
    assert params.validate("input_qos", "fast", "unconfigured") == (
        "input_qos must be one of sensor_data, best_effort, reliable, system_default, transient_local, got 'fast'"
    )
    assert params.validate("input_qos_depth", 0, "unconfigured")


def test_lifecycle_transitions(ros, artifact):
    import torch
    from lifecycle_msgs.srv import GetState
    from rclpy.lifecycle import TransitionCallbackReturn as R
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from support.ros import Spinner, wait_until
    from mtl_perception.ros.node import PerceptionNode

    node = PerceptionNode(
        namespace="/lc",
        parameter_overrides=[Parameter("autostart", value=False), Parameter("model_path", value="/does/not/exist"), Parameter("device", value="cpu")],
    )
    probe = ros.create_node("probe", namespace="/lc")
    pub = probe.create_publisher(Image, "image", 1)
    spinner = Spinner(node, probe)
    try:
        assert node.state == "unconfigured" and node.engine is None
        assert node.trigger_configure() == R.FAILURE
        assert node.state == "unconfigured"
        assert "/does/not/exist" in node.last_transition_error
        if not torch.cuda.is_available():
            assert node.set_parameters([Parameter("device", value="cuda")])[0].successful
            assert node.trigger_configure() == R.FAILURE
            assert "CUDA" in node.last_transition_error
            node.set_parameters([Parameter("device", value="cpu")])
        assert node.set_parameters([Parameter("model_path", value=str(artifact))])[0].successful
        assert node.trigger_configure() == R.SUCCESS and node.state == "inactive"
        assert node.engine is not None
        assert not node.set_parameters([Parameter("half", value=True)])[0].successful  # structural while inactive
        assert pub.get_subscription_count() == 0
        assert node.trigger_activate() == R.SUCCESS and node.state == "active"
        assert wait_until(lambda: pub.get_subscription_count() == 1, 10)
        # the lifecycle_msgs service answers too
        client = probe.create_client(GetState, "perception_node/get_state")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(GetState.Request())
        assert wait_until(future.done, 10) and future.result().current_state.label == "active"
        # nobody subscribes to the colour views here: labels flow, colour images are never built
        labels = []
        probe.create_subscription(Image, "segmentation/labels", labels.append, 10)
        assert wait_until(lambda: pub.get_subscription_count() == 1 and len(probe.get_publishers_info_by_topic("/lc/segmentation/labels")) == 1, 10)
        frame = Image(height=H, width=W, encoding="mono8", step=W, data=bytes(H * W))
        for _ in range(50):  # best-effort input: resend until one comes back
            pub.publish(frame)
            if wait_until(lambda: len(labels) > 0, 0.2):
                break
        assert labels, "no output from the lifecycle node"
        assert {key for key, count in node.outputs_built.items() if count} == {"labels"}  # the one subscribed output
        assert node.trigger_deactivate() == R.SUCCESS and node.state == "inactive"
        assert wait_until(lambda: pub.get_subscription_count() == 0, 10)
        assert node.trigger_cleanup() == R.SUCCESS and node.state == "unconfigured"
        assert node.engine is None
        assert node.trigger_configure() == R.SUCCESS and node.trigger_activate() == R.SUCCESS
        assert node.trigger_shutdown() == R.SUCCESS and node.state == "finalized"
        assert node.engine is None
    finally:
        spinner.stop()
        node.shutdown_serving()
        node.destroy_node()
        probe.destroy_node()


def test_auto_backend_traces_or_falls_back_to_eager(ros, artifact, monkeypatch):
    """backend auto on CPU serves the traced network; a model the tracer rejects gets eager channels_last."""
    import torch
    from rclpy.lifecycle import TransitionCallbackReturn as R
    from rclpy.parameter import Parameter

    from mtl_perception.ros.node import PerceptionNode
    from mtl_perception.runtime.trace_pool import TracePool

    overrides = [Parameter("autostart", value=False), Parameter("model_path", value=str(artifact)), Parameter("device", value="cpu")]
    node = PerceptionNode(namespace="/auto_backend", parameter_overrides=overrides)
    try:
        assert node.trigger_configure() == R.SUCCESS and node.engine.backend_name == "torchscript"
        assert node.trigger_cleanup() == R.SUCCESS

        def refuse(*args, **kwargs):
            raise RuntimeError("tracer says no")

        monkeypatch.setattr(torch.jit, "trace", refuse)
        # The process's trace pool would lend the first configure's trace back: make every configure trace.
        monkeypatch.setattr(TracePool, "borrow", lambda self, key, owner, trace: trace())
        assert node.trigger_configure() == R.SUCCESS and node.engine.backend_name == "torch_channels_last"
        assert node.trigger_cleanup() == R.SUCCESS
        # asked for by name, it is not swapped: configure fails and says why
        assert node.set_parameters([Parameter("backend", value="torchscript")])[0].successful
        assert node.trigger_configure() == R.FAILURE
        assert "cannot trace the model to TorchScript: RuntimeError: tracer says no" in node.last_transition_error
    finally:
        node.shutdown_serving()
        node.destroy_node()


def test_transport_and_depth_encoding_parameters_validated():
    from mtl_perception.ros import params

    current = {name: spec.default for name, spec in params.SPECS.items()}
    assert current["input_transport"] == "raw" and current["depth_encoding"] == "32FC1"
    assert params.validate("input_transport", "theora", "unconfigured") == "input_transport must be one of raw, compressed, got 'theora'"
    assert "cleanup first" in params.validate("input_transport", "compressed", "active", current)  # structural
    assert params.validate("depth_encoding", "16UC1", "active", current) is None  # changeable while serving
    assert params.validate("depth_encoding", "mono16", "active", current) == "depth_encoding must be one of 32FC1, 16UC1, got 'mono16'"
