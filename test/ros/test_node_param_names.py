"""A mistyped parameter name (issue 29): at start the node names it with the closest declared name
(test_node_params_walk), and setting it later is refused with the same hint, through the parameter
service that `ros2 param set` calls (rclpy's own answer was "Invalid access to undeclared parameter(s): []")."""
from __future__ import annotations

import pytest

from support.ros import base_overrides

pytestmark = pytest.mark.ros

NS = "/param_names"


@pytest.fixture(scope="module")
def served(ros, artifact):
    """An unconfigured node and a client node, spinning."""
    from support.ros import Spinner
    from mtl_perception.ros.node import PerceptionNode

    node = PerceptionNode(namespace=NS, parameter_overrides=base_overrides(artifact))
    client = ros.create_node("param_client", namespace=NS)
    spinner = Spinner(node, client)
    yield node, client
    spinner.stop()
    node.destroy_node()
    client.destroy_node()


def _set_through_service(client, parameters):
    """What `ros2 param set` does: the node's set_parameters service, one result per parameter."""
    from rcl_interfaces.srv import SetParameters

    from support.ros import wait_until

    service = client.create_client(SetParameters, f"{NS}/perception_node/set_parameters")
    try:
        assert service.wait_for_service(timeout_sec=20.0), "no set_parameters service"
        future = service.call_async(SetParameters.Request(parameters=[p.to_parameter_msg() for p in parameters]))
        assert wait_until(future.done, timeout=20.0)
        return future.result().results
    finally:
        client.destroy_client(service)


def test_set_of_a_mistyped_name_names_the_closest_declared_one(served):
    from rclpy.parameter import Parameter

    node, client = served
    (result,) = _set_through_service(client, [Parameter("overlay_alfa", value=0.3)])
    assert not result.successful
    assert result.reason == (f"no parameter 'overlay_alfa' (did you mean 'overlay_alpha'?) on {NS}/perception_node "
                             f"(`ros2 param list {NS}/perception_node` names them)"), result.reason
    (unrelated,) = _set_through_service(client, [Parameter("zzz", value=1)])
    assert not unrelated.successful and unrelated.reason.startswith("no parameter 'zzz' on "), unrelated.reason
    (declared,) = _set_through_service(client, [Parameter("overlay_alpha", value=0.3)])
    assert declared.successful and node.get_parameter("overlay_alpha").value == 0.3


def test_in_process_set_keeps_rclpys_exception_type(served):
    from rclpy.exceptions import ParameterNotDeclaredException
    from rclpy.parameter import Parameter

    node, _ = served
    with pytest.raises(ParameterNotDeclaredException, match=r"'max_depht' \(did you mean 'max_depth'\?\)"):
        node.set_parameters([Parameter("max_depth", value=8.0), Parameter("max_depht", value=5.0)])
    assert node.get_parameter("max_depth").value == 8.0  # rclpy's order: those before the bad name are set
    with pytest.raises(ParameterNotDeclaredException, match="'max_depht'"):
        node.set_parameters_atomically([Parameter("max_depth", value=9.0), Parameter("max_depht", value=5.0)])
    assert node.get_parameter("max_depth").value == 8.0  # atomically: nothing set
