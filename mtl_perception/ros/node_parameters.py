"""PerceptionNode's parameter handling on top of rclpy's: what a start value or a set may do.

NodeParameters is a mixin of PerceptionNode (ros/node.py) and comes before LifecycleNode in its
bases, so its overrides of rclpy's parameter methods wrap rclpy's own (super()). The table of
parameters, their validation and their messages are params.py; this is where the node applies them.
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterNotDeclaredException

from . import params


class UndeclaredParameterError(ParameterNotDeclaredException):
    """rclpy's exception for a name the node does not declare, with a message that names it.

    rclpy's own reads "Invalid access to undeclared parameter(s): []" (its list is built from a
    spent generator), and its parameter services answer `ros2 param set` with str() of it.
    """

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)  # not ParameterException's "<text>: <names>" format


class NodeParameters:
    """The parameter half of PerceptionNode (an rclpy node): start values, sets, and their checks."""

    # Set by PerceptionNode.__init__.
    _values: dict[str, Any]
    _diag_timer: Any

    def declare_parameter(self, name: str, value: Any = None, descriptor: Any = None, ignore_override: bool = False) -> Any:
        """rclpy's own bool parameters (declared inside Node.__init__): a wrong-typed start value
        falls back to rclpy's default with one error line instead of rclpy's exception ending the process."""
        if name in params.RCLPY_BOOL_PARAMETERS and not ignore_override:
            override = self._parameter_overrides.get(name)
            if override is not None and type(override.value) is not bool:
                self.get_logger().error(f"ignoring {name}={params.show(override.value)}: {name} must be a bool; using {value!r}")
                ignore_override = True
        return super().declare_parameter(name, value, descriptor, ignore_override)

    def set_parameters_atomically(self, parameter_list: list[Any]) -> SetParametersResult:
        """rclpy's (what `ros2 param set` and `param load` reach through the parameter services), but an
        undeclared name raises UndeclaredParameterError naming it and its closest declared name."""
        self._refuse_undeclared(parameter_list)
        return super().set_parameters_atomically(parameter_list)

    def set_parameters(self, parameter_list: list[Any]) -> list[SetParametersResult]:
        """rclpy's (one at a time; those before an undeclared name stay set), with the same message."""
        results = []
        for parameter in parameter_list:
            self._refuse_undeclared([parameter])
            results += super().set_parameters([parameter])
        return results

    def _refuse_undeclared(self, parameter_list: list[Any]) -> None:
        names = [getattr(p, "name", None) for p in parameter_list]
        if not all(isinstance(name, str) for name in names) or all(self.has_parameter(name) for name in names):
            return  # declared (or not a Parameter, which rclpy refuses itself)
        reason = params.undeclared_reason(names, list(self.list_parameters([], 0).names), self.get_fully_qualified_name())
        self.get_logger().warn(f"rejected parameter set: {reason}")
        raise UndeclaredParameterError(reason)

    def _diagnostics_period(self) -> float:
        """diagnostics_period once it is valid; a wrong start value runs the timer at the default (configure then fails naming it)."""
        period = params.usable("diagnostics_period", self._values["diagnostics_period"])
        if period != params.coerce("diagnostics_period", self._values["diagnostics_period"]):
            self.get_logger().error(
                f"{params.validate('diagnostics_period', self._values['diagnostics_period'])}; /diagnostics every {period} s until it is fixed"
            )
        return float(period)

    def _on_set_parameters(self, changes: list[Any]) -> SetParametersResult:
        state = self.state
        for change in changes:
            reason = params.validate(change.name, change.value, state, self._values)
            if reason:
                self.get_logger().warn(f"rejected parameter {change.name}={params.show(change.value)}: {reason}")
                return SetParametersResult(successful=False, reason=reason)
        for change in changes:
            if change.name in params.SPECS:
                self._values[change.name] = params.coerce(change.name, change.value)
                if change.name == "diagnostics_period":
                    self.destroy_timer(self._diag_timer)
                    self._diag_timer = self.create_timer(float(change.value), self.publish_diagnostics)
        return SetParametersResult(successful=True)
