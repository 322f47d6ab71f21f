"""rosbags message objects <-> numpy: Image, CompressedImage, CameraInfo, Header.

Raw Image payloads go through `mtl_perception.ros.image_codec` (shared with the node), so the bag
tools honour `step`, `is_bigendian` and every encoding the node accepts.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ros.image_codec import ImageFormatError, array_to_fields, image_to_array, image_to_rgb
from ..ros.serving import stamp_to_ns
from .io import BagFormatError, typestore

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
CAMERA_IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
COMPRESSED_FORMATS = ("png", "jpeg")


def _types() -> Any:
    return typestore().types


def make_header(stamp_ns: int, frame_id: str) -> Any:
    types = _types()
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id)


def image_msg(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str, *, pad: int = 0) -> Any:
    """sensor_msgs/Image from H×W or H×W×C data; `pad` extra bytes per row (step > width·channels)."""
    fields = array_to_fields(array, encoding)
    data = np.frombuffer(fields.data, dtype=np.uint8)
    step = fields.step
    if pad:
        rows = data.reshape(fields.height, fields.step)
        padded = np.zeros((fields.height, fields.step + pad), dtype=np.uint8)
        padded[:, : fields.step] = rows
        padded[:, fields.step :] = 0xAB  # garbage in the padding, which a reader must skip
        data, step = padded.reshape(-1), fields.step + pad
    return _types()[IMAGE](
        header=make_header(stamp_ns, frame_id),
        height=fields.height,
        width=fields.width,
        encoding=fields.encoding,
        is_bigendian=fields.is_bigendian,
        step=step,
        data=np.ascontiguousarray(data),
    )


def compressed_image_msg(rgb: np.ndarray, fmt: str, stamp_ns: int, frame_id: str, *, jpeg_quality: int = 95) -> Any:
    """sensor_msgs/CompressedImage (image_transport convention: format 'rgb8; png compressed bgr8')."""
    import cv2

    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f"compressed format must be one of {COMPRESSED_FORMATS}, got {fmt!r}")
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, encoded = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", bgr, params)
    if not ok:
        raise ValueError(f"cv2 could not encode a {rgb.shape} image as {fmt}")
    return _types()[COMPRESSED_IMAGE](
        header=make_header(stamp_ns, frame_id),
        format=f"rgb8; {fmt} compressed bgr8",
        data=np.ascontiguousarray(encoded.reshape(-1), dtype=np.uint8),
    )


def camera_info_msg(camera: Any, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/CameraInfo for a pinhole camera without distortion (fx, fy, cx, cy, height, width)."""
    types = _types()
    fx, fy, cx, cy = float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy)
    return types[CAMERA_INFO](
        header=make_header(stamp_ns, frame_id),
        height=int(camera.height),
        width=int(camera.width),
        distortion_model="plumb_bob",
        d=np.zeros(5, dtype=np.float64),
        k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], dtype=np.float64),
        r=np.eye(3, dtype=np.float64).reshape(-1),
        p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], dtype=np.float64),
        binning_x=0,
        binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def decode_rgb(msg: Any, msgtype: str) -> np.ndarray:
    """Camera message (Image in any encoding the node accepts, or CompressedImage) -> H×W×3 uint8 RGB."""
    if msgtype == IMAGE:
        try:
            rgb = image_to_rgb(msg)
            return rgb if rgb.flags.writeable else rgb.copy()  # torch warns on read-only buffers
        except ImageFormatError as err:
            raise BagFormatError(f"camera image at stamp {stamp_to_ns(msg.header)}: {err}") from err
    if msgtype == COMPRESSED_IMAGE:
        import cv2

        data = np.asarray(msg.data, dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None:
            raise BagFormatError(
                f"compressed image at stamp {stamp_to_ns(msg.header)} (format {msg.format!r}) cannot be decoded"
            )
        return np.ascontiguousarray(bgr[:, :, ::-1])
    raise BagFormatError(f"{msgtype} is not a camera image type (expected one of {', '.join(CAMERA_IMAGE_TYPES)})")


def decode_array(msg: Any, expected: tuple[str, ...]) -> np.ndarray:
    """Ground-truth / prediction Image -> native array, checking the encoding is one of `expected`."""
    if str(msg.encoding) not in expected:
        raise BagFormatError(
            f"image at stamp {stamp_to_ns(msg.header)} has encoding {msg.encoding!r}, expected {' or '.join(expected)}"
        )
    try:
        return image_to_array(msg)
    except ImageFormatError as err:
        raise BagFormatError(f"image at stamp {stamp_to_ns(msg.header)}: {err}") from err


# Ground truth / prediction conventions (DESIGN §3 topics) <-> the metric meters' conventions.
UNLABELLED = 255


def labels_to_mono8(label: np.ndarray) -> np.ndarray:
    """int labels with -1 invalid -> uint8 with 255 unlabelled."""
    label = np.asarray(label)
    out = np.where(label < 0, UNLABELLED, label)
    if out.size and out.max() > UNLABELLED:
        raise ValueError("class ids above 254 do not fit mono8")
    return out.astype(np.uint8)


def mono8_to_labels(mono: np.ndarray) -> np.ndarray:
    """uint8 with 255 unlabelled -> int64 with -1 ignored."""
    labels = mono.astype(np.int64)
    labels[mono == UNLABELLED] = -1
    return labels


def depth_to_32fc1(depth: np.ndarray) -> np.ndarray:
    """metres with 0 (or non-finite, or negative) invalid -> float32 with NaN invalid (REP 118)."""
    depth = np.asarray(depth, dtype=np.float32)
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan)).astype(np.float32)


def depth_from_32fc1(depth: np.ndarray) -> np.ndarray:
    """float32 with NaN/inf/≤0 invalid -> metres with 0 invalid."""
    depth = np.asarray(depth, dtype=np.float32)
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0)).astype(np.float32)


def normals_from_32fc3(normals: np.ndarray) -> np.ndarray:
    """float32 H×W×3 with NaN or all-zero invalid -> H×W×3 with all-zero invalid."""
    normals = np.asarray(normals, dtype=np.float32)
    valid = np.isfinite(normals).all(axis=-1, keepdims=True)
    return np.where(valid, normals, np.float32(0)).astype(np.float32)
