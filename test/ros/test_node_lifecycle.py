"""PerceptionNode's lifecycle and backends over real rclpy (loopback, private domain; see conftest.py),
and the parameter validation tables the node applies.

Each lifecycle test makes a node of its own (autostart off where it walks the transitions).
"""
from __future__ import annotations

import pytest

from support.node_rig import H, W

pytestmark = pytest.mark.ros


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
    assert params.backend_for("auto") == ["torchscript", "torch_channels_last"]
    assert params.backend_for("auto", "cuda") == ["torch_channels_last"]
    assert params.backend_for("onnxruntime") == ["onnxruntime"] and params.backend_for("torch", "cuda") == ["torch"]

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
    """backend auto on CPU serves the traced network; a model the tracer rejects gets eager
    channels_last; a backend asked for by name is not swapped: configure fails and says why."""
    import torch
    from rclpy.lifecycle import TransitionCallbackReturn as R
    from rclpy.parameter import Parameter

    from mtl_perception.ros.node import PerceptionNode
    from mtl_perception.runtime.onnx_exports import OnnxExports
    from mtl_perception.runtime.trace_pool import TracePool

    def refuse(what):
        def refused(*args, **kwargs):
            raise RuntimeError(f"{what} says no")

        return refused

    overrides = [Parameter("autostart", value=False), Parameter("model_path", value=str(artifact)), Parameter("device", value="cpu")]
    node = PerceptionNode(namespace="/auto_backend", parameter_overrides=overrides)
    try:
        assert node.trigger_configure() == R.SUCCESS and node.engine.backend_name == "torchscript"
        assert node.trigger_cleanup() == R.SUCCESS

        monkeypatch.setattr(torch.jit, "trace", refuse("tracer"))
        # The process's trace pool would lend the first configure's trace back: make every configure trace.
        monkeypatch.setattr(TracePool, "borrow", lambda self, key, owner, trace: trace())
        assert node.trigger_configure() == R.SUCCESS and node.engine.backend_name == "torch_channels_last"
        assert node.trigger_cleanup() == R.SUCCESS
        monkeypatch.setattr(OnnxExports, "get", refuse("exporter"))
        for backend, reason in (("torchscript", "cannot trace the model to TorchScript: RuntimeError: tracer says no"),
                                ("onnxruntime", "cannot export the model to ONNX: RuntimeError: exporter says no")):
            assert node.set_parameters([Parameter("backend", value=backend)])[0].successful
            assert node.trigger_configure() == R.FAILURE
            assert reason in node.last_transition_error
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
