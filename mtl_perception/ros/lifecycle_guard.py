"""Keeps a bad `change_state` request from killing a lifecycle node.

rclpy 7.1.x (Jazzy's wheel) raises RCLError inside its change_state service handler when a
transition is requested by *id* and that id is not valid in the current state (ros2/rclpy#1209,
fixed upstream in #1319): the executor re-raises it and the process exits. By label it answers
success: false. `guard_change_state` answers such an id the same way, before rclpy sees it.
"""
from __future__ import annotations

from typing import Any, Callable


def valid_transition_ids(node: Any) -> dict[int, str]:
    """id -> label of the transitions valid in the node's current state."""
    return {int(t[0]): str(t[1]) for t in node._state_machine.available_transitions}


def guard_change_state(node: Any, warn: Callable[[str], None]) -> None:
    """Wrap the node's change_state service so an invalid transition id gets success: false."""
    service = node._service_change_state  # created by rclpy's LifecycleNodeMixin
    rclpy_handler = service.callback

    def checked(request: Any, response: Any) -> Any:
        transition = request.transition
        if not transition.label:
            valid = valid_transition_ids(node)
            if transition.id not in valid:
                state = node._state_machine.current_state[1]
                names = ", ".join(f"{i} ({label})" for i, label in sorted(valid.items()))
                warn(f"refused change_state: transition id {transition.id} is not valid while {state} (valid: {names})")
                response.success = False
                return response
        return rclpy_handler(request, response)

    service.callback = checked
