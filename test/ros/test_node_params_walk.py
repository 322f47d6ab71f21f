"""Issue 31 item 2: no parameter value, of any type, kills the node or makes it publish faster than
its configured rates — at start (params file, -p, parameter_overrides) or by `ros2 param set`.

Every declared parameter (ours and the two rclpy declares itself) is walked through wrong types,
negative, zero, huge and non-finite values. Before the fix `diagnostics_period: fast` raised
ValueError and `-1.0` RCLError from the constructor, `0.0` published /diagnostics ~2,150 times a
second, and `use_sim_time: fast` raised InvalidParameterTypeException inside rclpy.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from support.ros import base_overrides

pytestmark = pytest.mark.ros

WALK = [
    "fast", "", "x" * 100_000,  # strings: wrong word, empty, a flood
    True, False,
    7, 0, -1, 2**62, -(2**62),  # ints: plain, zero, negative, huge
    2.5, 0.0, -1.0, 1e300, float("nan"), float("inf"), float("-inf"),  # floats
    [1, 2], ["a", "b"], [1.5], [True],  # arrays
]
RCLPY_PARAMETERS = ("use_sim_time", "start_type_description_service")
MIN_PERIOD_NS = int(0.1e9)  # diagnostics_period's lower bound: nothing publishes faster


def accepted(name, value, state="unconfigured", current=None, *, setting=False) -> bool:
    from mtl_perception.ros import params

    if name in RCLPY_PARAMETERS:  # rclpy's: typed bool; start_type_description_service is read-only once declared
        return type(value) is bool and not (setting and name == "start_type_description_service")
    return params.validate(name, value, state, current) is None


def one_line(text: str) -> bool:
    return "\n" not in text and len(text) < 700


def assert_rates_bounded(node, context) -> None:
    assert MIN_PERIOD_NS <= node._diag_timer.timer_period_ns <= 60 * 10**9, context


def test_constructor_survives_every_value_in_every_parameter(ros, artifact):
    """declare + __init__: each value given to every parameter at once (ours and rclpy's)."""
    from rclpy.parameter import Parameter

    from mtl_perception.ros import params
    from mtl_perception.ros.node import PerceptionNode

    for index, value in enumerate(WALK):
        overrides = [Parameter(name, value=value) for name in [*params.SPECS, *RCLPY_PARAMETERS]]
        node = PerceptionNode(namespace=f"/all{index}", parameter_overrides=overrides)  # must not raise
        try:
            assert_rates_bounded(node, value)
            assert node.state == "unconfigured", value  # no value is valid for every parameter
            assert value is not True or one_line(node.last_transition_error)  # autostart true: configure failed in one line
        finally:
            node.shutdown_serving()
            node.destroy_node()


def test_start_values_used_by_the_constructor_one_node_each(ros, artifact):
    """The parameters the constructor itself reads: autostart, diagnostics_period and rclpy's two."""
    from rclpy.parameter import Parameter

    from mtl_perception.ros import params
    from mtl_perception.ros.node import PerceptionNode

    for index, name in enumerate(("autostart", "diagnostics_period", *RCLPY_PARAMETERS)):
        for value in WALK:
            overrides = [p for p in base_overrides(artifact) if p.name != name] + [Parameter(name, value=value)]
            node = PerceptionNode(namespace=f"/walk{index}", parameter_overrides=overrides)  # must not raise
            try:
                assert_rates_bounded(node, (name, value))
                assert node.state == ("active" if (name, value) == ("autostart", True) else "unconfigured"), (name, value)
                if name == "autostart":  # the constructor ran configure (True) or refused to (anything else)
                    assert isinstance(value, bool) or node.last_transition_error.startswith("configure not attempted: autostart")
                elif name == "diagnostics_period":
                    expected_ns = int(value * 1e9) if accepted(name, value) else int(params.SPECS[name].default * 1e9)
                    assert node._diag_timer.timer_period_ns == expected_ns, value
            finally:
                node.shutdown_serving()
                node.destroy_node()


def test_every_start_value_of_every_parameter_is_judged_at_configure(ros, artifact):
    """What declare() hands on (the start value, ints widened) meets configure: refused in one line naming the
    parameter, or configured (or a configure failing in one line, e.g. half on CPU). One node, values swapped in."""
    from rclpy.lifecycle import TransitionCallbackReturn as R

    from mtl_perception.ros import params
    from mtl_perception.ros.node import PerceptionNode

    node = PerceptionNode(namespace="/startwalk", parameter_overrides=base_overrides(artifact))
    start = dict(node._values)
    configured = refused = 0
    try:
        for name in params.SPECS:
            for value in WALK:
                node._values.clear()
                node._values.update(start, **{name: params.coerce(name, value)})
                reason = params.first_problem(node._values)
                if accepted(name, value):
                    assert reason is None, (name, value, reason)
                    if name != "autostart" and params.coerce(name, value) != start[name]:
                        result = node.trigger_configure()
                        configured += 1
                        assert result == R.SUCCESS or one_line(node.last_transition_error), (name, value)
                        if result == R.SUCCESS:
                            assert node.trigger_cleanup() == R.SUCCESS
                else:
                    assert reason and one_line(reason) and reason.startswith(name), (name, value, reason)
                    assert node.trigger_configure() == R.FAILURE and node.state == "unconfigured"
                    assert reason in node.last_transition_error
                    refused += 1
                assert node.state == "unconfigured" and node.engine is None
        assert refused > len(params.SPECS) * (len(WALK) // 2) and configured > 10, (refused, configured)
    finally:
        node._values.clear()
        node._values.update(start)
        node.shutdown_serving()
        node.destroy_node()


def test_every_set_value_is_checked_and_refused_in_one_line(ros, artifact):
    from rclpy.parameter import Parameter

    from mtl_perception.ros import params
    from mtl_perception.ros.node import PerceptionNode

    active = PerceptionNode(namespace="/walkset", parameter_overrides=base_overrides(artifact, autostart=True))
    idle = PerceptionNode(namespace="/walkidle", parameter_overrides=base_overrides(artifact))
    assert active.state == "active", active.last_transition_error
    try:
        for node in (active, idle):
            for name in [*params.SPECS, *RCLPY_PARAMETERS]:
                original = node.get_parameter(name).value
                for value in WALK:
                    expect = accepted(name, value, node.state, node._values, setting=True)
                    result = node.set_parameters([Parameter(name, value=value)])[0]
                    assert result.successful == expect, (node.state, name, value, result.reason)
                    assert result.successful or one_line(result.reason), (name, result.reason)
                    assert_rates_bounded(node, (name, value))
                    if result.successful:
                        assert node.set_parameters([Parameter(name, value=original)])[0].successful, (name, original)
                    assert node.get_parameter(name).value == original, (name, value)
            assert node.state in ("active", "unconfigured")
        assert active.state == "active"
    finally:
        for node in (active, idle):
            node.shutdown_serving()
            node.destroy_node()


def test_unknown_keys_named_with_the_closest_declared_name(ros, artifact, monkeypatch):
    from rclpy.parameter import Parameter

    from mtl_perception.ros import params
    from mtl_perception.ros.node import PerceptionNode

    assert params.unknown_keys_warning(["diagnostics_period", "use_sim_time"], [*params.SPECS, "use_sim_time"]) is None
    warned = []
    original = params.unknown_keys_warning
    monkeypatch.setattr(params, "unknown_keys_warning", lambda *a: warned.append(original(*a)) or warned[-1])
    overrides = base_overrides(artifact) + [Parameter("diagnostic_period", value=2.0), Parameter("zzz", value=1),
                                            Parameter("qos_overrides./image.subscription.depth", value=3)]
    node = PerceptionNode(namespace="/unknown", parameter_overrides=overrides)
    try:
        assert warned == [
            "ignoring unknown parameter(s) 'diagnostic_period' (did you mean 'diagnostics_period'?), 'zzz': "
            "not parameters of this node (see config/perception.yaml)"
        ]
    finally:
        node.destroy_node()


def _node_process(tmp_path, *ros_args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "mtl_perception.ros.node", "--ros-args", *ros_args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_params_file_with_bad_values_keeps_the_process_up(tmp_path, artifact):
    """The real entry point: bad values in a params file give one line each, and the process stays up."""
    params_file = tmp_path / "bad.yaml"
    params_file.write_text(
        "/**:\n  ros__parameters:\n"
        f"    model_path: '{artifact}'\n    device: cpu\n    backend: torch\n"
        "    diagnostics_period: fast\n    use_sim_time: fast\n    max_depht: 5.0\n    points_stride: -3\n"
    )
    process = _node_process(tmp_path, "--params-file", str(params_file))
    try:
        time.sleep(0.5)
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if "configure failed" in line:
                break
        text = "\n".join(lines)
        assert "Traceback" not in text, text
        assert "diagnostics_period must be a float, got str 'fast'; /diagnostics every 1.0 s until it is fixed" in text, text
        assert "configure failed: points_stride must be in 1..64, got -3" in text, text
        assert "ignoring use_sim_time='fast': use_sim_time must be a bool" in text, text
        assert "'max_depht' (did you mean 'max_depth'?)" in text, text
        time.sleep(1.0)
        assert process.poll() is None, "the node exited"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_unparseable_override_is_one_line_not_a_traceback(tmp_path):
    process = _node_process(tmp_path, "-p", "model_path:=")
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 2, out
    errors = [line for line in out.splitlines() if line.startswith("perception_node: cannot start:")]
    assert len(errors) == 1 and "Traceback" not in out, out
