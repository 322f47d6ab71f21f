"""The node's parameters: one table of defaults, descriptors and validation.

`declare(node)` declares them all and returns their start values; `validate(name, value, state,
current)` says why a value is refused. Every parameter is declared with dynamic typing and
without rclpy ranges, so rclpy never throws at startup: a wrong value there is kept and makes
configure fail with one line from `validate`, and an integer is accepted for a float parameter
(robot users write `5` for 5.0). The one value used before configure, `diagnostics_period` (the
diagnostics timer runs while unconfigured), is used only once valid (`usable`): a wrong start
value runs the timer at the default period, and configure fails naming it like any other.
rclpy's own typed parameters (`RCLPY_BOOL_PARAMETERS`) fall back to their default with one
error line instead of rclpy's exception. Keys in the params file or `-p` that the node does not
declare are named in one warning with the closest declared name (`unknown_keys_warning`); setting
one later (`ros2 param set`) is refused with the same hint (`undeclared_reason`).
Parameters marked *structural* are wired into the model or the endpoints at configure time:
they may change only while the node is unconfigured, except to their current value (so
`ros2 param load` of a `ros2 param dump` succeeds).
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor

from ..runtime.backends import BACKEND_NAMES
from .qos import PROFILES, qos_error

INPUT_TRANSPORTS = ("raw", "compressed")  # inputs.ENDPOINTS maps each to its topic
DEPTH_ENCODINGS = ("32FC1", "16UC1")

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
CAMERA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")  # one ROS name token: a topic namespace
MAX_CAMERAS = 16
OUTPUT_RESOLUTIONS = ("input", "network")
# A 4096×4096 camera is the largest a robot plausibly streams; 4 bytes a pixel (rgba8) plus slack.
DEFAULT_MAX_FRAME_PIXELS = 4096 * 4096
DEFAULT_MAX_FRAME_BYTES = 4096 * 4096 * 4


@dataclass(frozen=True)
class Spec:
    default: Any
    description: str
    structural: bool = False
    startup_only: bool = False  # read once when the node starts
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None


SPECS: dict[str, Spec] = {
    "autostart": Spec(True, "Run configure and activate when the node starts.", startup_only=True),
    "model_path": Spec("", "Deploy artifact directory (model.json + model.safetensors); empty = the bundled model.", structural=True),
    "device": Spec("auto", "Inference device: auto (first CUDA device, else CPU), cpu, cuda or cuda:N.", structural=True),
    "half": Spec(False, "Run the network in fp16 (CUDA only).", structural=True),
    "backend": Spec(
        "auto",
        "Network backend; auto = torchscript on CPU (torch_channels_last if the model cannot be traced), torch_channels_last on CUDA (torch_fp16 when half is true); by rule, without measuring.",
        structural=True,
        choices=("auto", *BACKEND_NAMES),
    ),
    "inference_workers": Spec(
        0,
        "Frames in the network at once, each on its own thread: 0 = auto (2 on a CPU with 2+ cores, the cores split between them; 1 on CUDA).",
        structural=True,
        int_range=(0, 8),
    ),
    "cameras": Spec(
        [],
        "Camera names served by this one node: each camera's inputs and outputs live under its name (front/image, "
        "front/segmentation/labels, ...), frames of one size from several cameras run as one forward pass. "
        "Empty (leave it out of a params file): one camera, on image and camera_info.",
        structural=True,
    ),
    "batch_window_ms": Spec(
        5.0,
        "With several cameras: how long the first waiting frame waits for other cameras' frames of its size to join its "
        "forward pass (frames already waiting join at once); 0 = no batching, one frame per forward pass.",
        structural=True,
        float_range=(0.0, 1000.0),
    ),
    "warmup_iterations": Spec(2, "Forward passes run at configure to warm the device up.", structural=True, int_range=(0, 50)),
    "publish_segmentation": Spec(True, "Publish segmentation/labels, segmentation/color, segmentation/overlay and segmentation/confidence.", structural=True),
    "publish_depth": Spec(True, "Publish depth/image, depth/camera_info and points.", structural=True),
    "publish_normals": Spec(True, "Publish normals/image and normals/color.", structural=True),
    "input_transport": Spec(
        "raw",
        "raw = sensor_msgs/Image on image; compressed = sensor_msgs/CompressedImage (jpeg, png) on image/compressed.",
        structural=True,
        choices=INPUT_TRANSPORTS,
    ),
    "input_qos": Spec("sensor_data", "QoS profile of the image and camera_info subscriptions.", structural=True, choices=tuple(PROFILES)),
    "input_qos_depth": Spec(1, "History depth of the input subscriptions.", structural=True, int_range=(1, 1000)),
    "output_qos": Spec("reliable", "QoS profile of every output publisher.", structural=True, choices=tuple(PROFILES)),
    "output_qos_depth": Spec(5, "History depth of the output publishers.", structural=True, int_range=(1, 1000)),
    "output_resolution": Spec("input", "Size of the outputs: 'input' (the camera's) or 'network' (the model's input size).", choices=OUTPUT_RESOLUTIONS),
    "depth_encoding": Spec(
        "32FC1", "depth/image encoding: 32FC1 metres, NaN invalid; or 16UC1 millimetres, 0 invalid (REP 118).", choices=DEPTH_ENCODINGS
    ),
    "overlay_alpha": Spec(0.5, "Weight of the class colour in segmentation/overlay (0 = image only, 1 = colours only).", float_range=(0.0, 1.0)),
    "max_depth": Spec(10.0, "Depth beyond this many metres is published as NaN.", float_range=(0.01, 1000.0)),
    "points_stride": Spec(4, "points: one point every points_stride rows and columns (4 keeps a 640x480 cloud at 19200 points).", int_range=(1, 64)),
    "points_max_depth": Spec(10.0, "points: pixels deeper than this many metres give no point.", float_range=(0.01, 1000.0)),
    "points_min_confidence": Spec(0.0, "points: pixels whose label confidence is below this give no point.", float_range=(0.0, 1.0)),
    "points_organized": Spec(
        False, "points: true = the sampled grid (height x width) with NaN x/y/z where invalid; false = dense, invalid points dropped."
    ),
    "diagnostics_period": Spec(1.0, "Seconds between /diagnostics messages.", float_range=(0.1, 60.0)),
    "max_frame_pixels": Spec(
        DEFAULT_MAX_FRAME_PIXELS, "Frames with more pixels (width × height) are refused before decoding.", int_range=(1, 2**31 - 1)
    ),
    "max_frame_bytes": Spec(
        DEFAULT_MAX_FRAME_BYTES, "Frames whose data field is longer are refused before decoding.", int_range=(1, 2**31 - 1)
    ),
}


# Parameters rclpy itself declares with a fixed type (TimeSource, TypeDescriptionService):
# a wrong-typed override makes rclpy raise inside Node.__init__, so the node checks them first.
RCLPY_BOOL_PARAMETERS = ("use_sim_time", "start_type_description_service")
RCLPY_PARAMETER_PREFIXES = ("qos_overrides.",)  # rclpy's QoS overriding options (unused here, not unknown)
MAX_PATH_CHARS = 4096  # Linux PATH_MAX
MAX_SHOWN_CHARS = 60  # a value is quoted at most this long in a refusal (a 1 MB string stays one short line)
MAX_REASON_CHARS = 600  # a configure failure's line at most (an exception may quote a long path)


def show(value: Any) -> str:
    """repr() of a parameter value, cut so a refusal stays one short line."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else f"{text[:MAX_SHOWN_CHARS]}... ({len(text)} chars)"


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """`text` on one line (whitespace runs folded where it has line breaks), cut to `limit` characters."""
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def usable(name: str, value: Any) -> Any:
    """`value` (widened) if it passes type and range, else the parameter's default."""
    value = coerce(name, value)
    return SPECS[name].default if _type_or_range_error(name, SPECS[name], value) else value


def _with_closest(key: str, declared: list[str]) -> str:
    """`key` quoted, with the declared name it most resembles: "'overlay_alfa' (did you mean 'overlay_alpha'?)"."""
    close = difflib.get_close_matches(key, declared, n=1, cutoff=0.6)
    return f"{show(key)} (did you mean {close[0]!r}?)" if close else show(key)


def unknown_keys_warning(given: list[str], declared: list[str]) -> str | None:
    """One line naming the keys in `given` the node does not declare, each with its closest declared name."""
    unknown = sorted(k for k in given if k not in declared and not k.startswith(RCLPY_PARAMETER_PREFIXES))
    if not unknown:
        return None
    names = [_with_closest(key, declared) for key in unknown]
    return f"ignoring unknown parameter(s) {', '.join(names)}: not parameters of this node (see config/perception.yaml)"


def undeclared_reason(names: list[str], declared: list[str], node: str) -> str:
    """Why a set of `names` (some not declared) is refused: each undeclared one with its closest declared name."""
    unknown = [_with_closest(name, declared) for name in names if name not in declared]
    return f"no parameter {', '.join(unknown)} on {node} (`ros2 param list {node}` names them)"


def backend_for(requested: str, device_type: str = "cpu") -> list[str]:
    """The backends to try, in order, for `requested`: the node takes the first that builds.

    `auto` is a rule, not a measurement (measuring every backend at each configure took 10 s).
    On CPU, torchscript: the traced network runs without the GIL, and in the node, beside the
    publisher and executor threads, it served 0.88 of a camera's frames at 480x640 against
    0.70 for eager channels_last (docs/performance.md). ONNX Runtime runs the bundled network
    2.8x faster on two threads, but in the node (two workers, one thread each) it served no
    more frames (42.1 against 44.5 frames/s, benchmarks/results/node/backends_lite0_480x640.json),
    so it stays a choice by name. Eager channels_last where the model cannot be traced. On CUDA,
    channels_last eager torch (suits cuDNN; the others were not measured there); the engine makes
    it torch_fp16 when half is true. Any other choice is explicit.
    """
    if requested != "auto":
        return [requested]
    return ["torch_channels_last"] if device_type == "cuda" else ["torchscript", "torch_channels_last"]


def descriptor(name: str, spec: Spec) -> ParameterDescriptor:
    """Dynamic typing, constraints as text: validate() is the one place values are judged."""
    constraints = [f"type {type(spec.default).__name__}" + (" (integers accepted)" if isinstance(spec.default, float) else "")]
    if spec.choices:
        constraints.append("one of: " + ", ".join(spec.choices))
    if spec.int_range:
        constraints.append(f"range {spec.int_range[0]}..{spec.int_range[1]}")
    if spec.float_range:
        constraints.append(f"range [{spec.float_range[0]}, {spec.float_range[1]}]")
    if name == "device":
        constraints.append("auto | cpu | cuda | cuda:N")
    if spec.structural:
        constraints.append("changeable only while unconfigured (cleanup first)")
    if spec.startup_only:
        constraints.append("read when the node starts")
    return ParameterDescriptor(name=name, description=spec.description, additional_constraints="; ".join(constraints), dynamic_typing=True)


def coerce(name: str, value: Any) -> Any:
    """An integer given for a float parameter, as that float; an empty list (`[]` in a params file,
    which rcl reads as not set) for a list parameter, as []; anything else unchanged."""
    spec = SPECS.get(name)
    if spec is not None and isinstance(spec.default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if spec is not None and isinstance(spec.default, list) and value is None:
        return []
    return value


def declare(node: Any) -> dict[str, Any]:
    """Declare every parameter; returns name -> start value (ints widened to float, not yet validated)."""
    from rclpy.parameter import Parameter

    values: dict[str, Any] = {}
    for name, spec in SPECS.items():
        raw = node.declare_parameter(name, spec.default, descriptor(name, spec)).value
        values[name] = coerce(name, raw)
        if values[name] is not raw:  # so `ros2 param get` shows the double the node uses
            node.set_parameters([Parameter(name, value=values[name])])
    return values


def first_problem(values: dict[str, Any]) -> str | None:
    """Why the start values cannot be configured (None = all valid)."""
    for name, value in values.items():
        reason = validate(name, value, "unconfigured", values)
        if reason:
            return reason
    return None


def validate(name: str, value: Any, state: str = "unconfigured", current: dict[str, Any] | None = None) -> str | None:
    """Why `value` is refused for parameter `name` in lifecycle `state` (None = accepted).

    `current` holds the parameters' current values: a structural parameter may be "changed" to
    its current value in any state, and QoS profiles are checked against their depth.
    """
    spec = SPECS.get(name)
    if spec is None:
        return None  # not ours (e.g. use_sim_time)
    value = coerce(name, value)
    reason = _type_or_range_error(name, spec, value)
    if reason:
        return reason
    unchanged = current is not None and name in current and current[name] == value and type(current[name]) is type(value)
    if spec.startup_only and current is not None and not unchanged:
        return f"{name} is read when the node starts; restart the node to change it"
    if spec.structural and state not in ("unconfigured", "finalized") and not unchanged:
        return f"{name} can only change while unconfigured (node is {state}); deactivate and cleanup first"
    if name == "model_path" and (len(value) > MAX_PATH_CHARS or any(c in value for c in "\0\n\r")):
        return f"model_path must be a directory path of at most {MAX_PATH_CHARS} characters without NUL or line breaks, got {show(value)}"
    if name == "cameras":
        return cameras_error(value)
    if name == "device" and not DEVICE_PATTERN.match(value):
        return f"device must be auto, cpu, cuda or cuda:N, got {show(value)}"
    if name in ("input_qos", "output_qos"):
        # against a valid depth only: a wrong depth is refused under its own name, and must not make this check raise
        return qos_error(value, usable(f"{name}_depth", (current or {}).get(f"{name}_depth", 1)))
    return None


def cameras_error(names: list[Any]) -> str | None:
    """Why a `cameras` list is refused: each name must be a ROS name token, distinct, at most MAX_CAMERAS of them."""
    if len(names) > MAX_CAMERAS:
        return f"cameras lists {len(names)} names; at most {MAX_CAMERAS}"
    for camera in names:
        if not isinstance(camera, str) or not CAMERA_NAME.match(camera):
            return f"cameras: {show(camera)} is not a camera name (a letter, then letters, digits or _)"
    if len(set(names)) != len(names):
        return f"cameras names a camera twice: {show(names)}"
    return None


def _type_or_range_error(name: str, spec: Spec, value: Any) -> str | None:
    expected = type(spec.default)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return f"{name} must be a {expected.__name__}, got {type(value).__name__} {show(value)}"
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {show(value)}"
    if spec.int_range and not spec.int_range[0] <= value <= spec.int_range[1]:
        return f"{name} must be in {spec.int_range[0]}..{spec.int_range[1]}, got {value}"
    if spec.float_range:
        lo, hi = spec.float_range
        if not math.isfinite(value) or not lo <= value <= hi:
            return f"{name} must be in [{lo}, {hi}], got {value}"
    return None
