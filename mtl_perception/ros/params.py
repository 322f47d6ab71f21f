"""The node's parameters: one table of defaults, descriptors (ranges, read-only) and validation.

`declare(node)` declares them all; `validate(name, value, state)` says why a value is refused.
Parameters marked *structural* are wired into the model or the endpoints at configure time: they
may be changed only while the node is unconfigured (run `cleanup` first), so a running node
never ends up half-reconfigured.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from ..runtime.backends import BACKEND_NAMES
from .qos import PROFILES, qos_error

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
OUTPUT_RESOLUTIONS = ("input", "network")


@dataclass(frozen=True)
class Spec:
    default: Any
    description: str
    structural: bool = False
    read_only: bool = False
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None


SPECS: dict[str, Spec] = {
    "autostart": Spec(True, "Run configure and activate when the node starts.", read_only=True),
    "model_path": Spec("", "Deploy artifact directory (model.json + model.safetensors); empty = the bundled model.", structural=True),
    "device": Spec("auto", "Inference device: auto (first CUDA device, else CPU), cpu, cuda or cuda:N.", structural=True),
    "half": Spec(False, "Run the network in fp16 (CUDA only).", structural=True),
    "backend": Spec(
        "auto",
        "Network backend; auto = the fastest that matches torch fp32 on a test input at configure.",
        structural=True,
        choices=("auto", *BACKEND_NAMES),
    ),
    "warmup_iterations": Spec(2, "Forward passes run at configure to warm the device up.", structural=True, int_range=(0, 50)),
    "publish_segmentation": Spec(True, "Publish segmentation/labels, segmentation/color and segmentation/overlay.", structural=True),
    "publish_depth": Spec(True, "Publish depth/image and depth/camera_info.", structural=True),
    "publish_normals": Spec(True, "Publish normals/image and normals/color.", structural=True),
    "input_qos": Spec("sensor_data", "QoS profile of the image and camera_info subscriptions.", structural=True, choices=tuple(PROFILES)),
    "input_qos_depth": Spec(1, "History depth of the input subscriptions.", structural=True, int_range=(1, 1000)),
    "output_qos": Spec("reliable", "QoS profile of every output publisher.", structural=True, choices=tuple(PROFILES)),
    "output_qos_depth": Spec(5, "History depth of the output publishers.", structural=True, int_range=(1, 1000)),
    "output_resolution": Spec("input", "Size of the outputs: 'input' (the camera's) or 'network' (the model's input size).", choices=OUTPUT_RESOLUTIONS),
    "overlay_alpha": Spec(0.5, "Weight of the class colour in segmentation/overlay (0 = image only, 1 = colours only).", float_range=(0.0, 1.0)),
    "max_depth": Spec(10.0, "Depth beyond this many metres is published as NaN.", float_range=(0.01, 1000.0)),
    "diagnostics_period": Spec(1.0, "Seconds between /diagnostics messages.", float_range=(0.1, 60.0)),
}

_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER, float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}


def descriptor(name: str, spec: Spec) -> ParameterDescriptor:
    constraints = []
    if spec.choices:
        constraints.append("one of: " + ", ".join(spec.choices))
    if name == "device":
        constraints.append("auto | cpu | cuda | cuda:N")
    if spec.structural:
        constraints.append("changeable only while unconfigured (cleanup first)")
    desc = ParameterDescriptor(
        name=name,
        type=_TYPES[type(spec.default)],
        description=spec.description,
        additional_constraints="; ".join(constraints),
        read_only=spec.read_only,
    )
    if spec.int_range:
        desc.integer_range = [IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1], step=1)]
    if spec.float_range:
        desc.floating_point_range = [FloatingPointRange(from_value=spec.float_range[0], to_value=spec.float_range[1], step=0.0)]
    return desc


def declare(node: Any) -> None:
    for name, spec in SPECS.items():
        node.declare_parameter(name, spec.default, descriptor(name, spec))


def validate(name: str, value: Any, state: str = "unconfigured", others: dict[str, Any] | None = None) -> str | None:
    """Why `value` is refused for parameter `name` in lifecycle `state` (None = accepted).

    `others` holds the current values of the other parameters (for cross-checks such as QoS depth).
    """
    spec = SPECS.get(name)
    if spec is None:
        return None  # not ours (e.g. use_sim_time)
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return f"{name} must be a {expected.__name__}, got {type(value).__name__}"
    if spec.structural and state not in ("unconfigured", "finalized"):
        return f"{name} can only change while unconfigured (node is {state}); deactivate and cleanup first"
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
    if spec.int_range and not spec.int_range[0] <= value <= spec.int_range[1]:
        return f"{name} must be in {spec.int_range[0]}..{spec.int_range[1]}, got {value}"
    if spec.float_range:
        lo, hi = spec.float_range
        if not math.isfinite(value) or not lo <= value <= hi:
            return f"{name} must be in [{lo}, {hi}], got {value}"
    if name == "device" and not DEVICE_PATTERN.match(value):
        return f"device must be auto, cpu, cuda or cuda:N, got {value!r}"
    if name in ("input_qos", "output_qos"):
        depth = (others or {}).get(f"{name}_depth", 1)
        return qos_error(value, depth)
    return None
