"""rosbags message objects <-> numpy: Image, CompressedImage, CameraInfo, Header.

Payloads go through `mtl_perception.interop` (shared with the node), so the bag tools honour
`step`, `is_bigendian` and every encoding the node accepts.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..interop.camera_info import IDENTITY_R, pinhole_k, pinhole_p
from ..interop.image import ImageFormatError, array_to_fields, compressed_to_rgb, encode_compressed, image_to_array, image_to_rgb
from ..interop.pointcloud import fill_point_cloud
from ..interop.stamps import split_ns, stamp_to_ns
from .io import BagFormatError, typestore

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD = "sensor_msgs/msg/PointCloud2"
CAMERA_IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)


def _types() -> Any:
    return typestore().types


def make_header(stamp_ns: int, frame_id: str) -> Any:
    types = _types()
    sec, nanosec = split_ns(stamp_ns)
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
    format_name, data = encode_compressed(rgb, fmt, jpeg_quality=jpeg_quality)
    return _types()[COMPRESSED_IMAGE](header=make_header(stamp_ns, frame_id), format=format_name, data=data)


def point_cloud_msg(points: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/PointCloud2 from interop.pointcloud's points (the node's fields and layout)."""
    types = _types()
    fields = fill_point_cloud(_Fields(), points, lambda **kw: types["sensor_msgs/msg/PointField"](**kw))
    return types[POINT_CLOUD](
        header=make_header(stamp_ns, frame_id), height=fields.height, width=fields.width, fields=fields.fields,
        is_bigendian=fields.is_bigendian, point_step=fields.point_step, row_step=fields.row_step,
        data=np.frombuffer(fields.data, dtype=np.uint8), is_dense=fields.is_dense,
    )


class _Fields:
    """Attribute holder that fill_point_cloud fills (rosbags messages take every field at construction)."""


def camera_info_msg(camera: Any, stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/CameraInfo for a pinhole camera without distortion (fx, fy, cx, cy, height, width)."""
    types = _types()
    return types[CAMERA_INFO](
        header=make_header(stamp_ns, frame_id),
        height=int(camera.height),
        width=int(camera.width),
        distortion_model="plumb_bob",
        d=np.zeros(5, dtype=np.float64),
        k=np.array(pinhole_k(camera), dtype=np.float64),
        r=np.array(IDENTITY_R, dtype=np.float64),
        p=np.array(pinhole_p(camera), dtype=np.float64),
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
        try:
            return compressed_to_rgb(msg.format, msg.data)  # the node's rule for the channel order
        except ImageFormatError as err:
            raise BagFormatError(f"compressed image at stamp {stamp_to_ns(msg.header)}: {err}") from err
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
