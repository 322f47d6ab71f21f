"""The semantic sensor_msgs/PointCloud2 without ROS: back-projection, per-point fields, packing.

One point per sampled pixel, numpy only and vectorised: x, y, z (metres, optical frame), rgb
(0x00RRGGBB packed into a float32, as RViz and PCL read it), label (uint32; 255 = unlabelled),
normal_x/y/z and confidence. Works on any object with the PointCloud2 fields, so the node
(rclpy) and the bag tools (rosbags) can share it.
"""
from __future__ import annotations

import array as _array
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .camera_info import intrinsics_of, scale_intrinsics

# sensor_msgs/PointField datatypes
UINT32, FLOAT32 = 6, 7
UNLABELLED = 255
POINT_DTYPE = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("rgb", "<f4"),
        ("label", "<u4"),  # uint32 keeps every field 4-byte aligned, so point_step stays 36
        ("normal_x", "<f4"),
        ("normal_y", "<f4"),
        ("normal_z", "<f4"),
        ("confidence", "<f4"),
    ]
)


@dataclass(frozen=True)
class CloudOptions:
    """Which pixels become points: every `stride`-th row and column, within range and confidence.

    organized: keep the sampled grid (height × width, NaN x/y/z where a point is invalid);
    otherwise a dense 1 × N cloud of the valid points only.
    """

    stride: int = 4
    max_depth: float = 10.0
    min_confidence: float = 0.0
    organized: bool = False


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 ...×3 RGB -> float32 whose bits are 0x00RRGGBB (PCL's and RViz's `rgb` field)."""
    rgb = rgb.astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed.astype("<u4").view("<f4")


def _source_index(count_out: int, count_in: int, index: np.ndarray) -> np.ndarray:
    """Nearest source pixel of output pixels `index` when count_in pixels map onto count_out."""
    if count_in == count_out:
        return index
    return np.minimum(((index + 0.5) * (count_in / count_out)).astype(np.intp), count_in - 1)


def _sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`image` at the grid rows × cols of an image of `shape`, whatever `image`'s own size."""
    r = _source_index(shape[0], image.shape[0], rows)
    c = _source_index(shape[1], image.shape[1], cols)
    return image[r[:, None], c[None, :]]


def build_cloud(
    depth: np.ndarray,
    k: tuple[float, ...],
    options: CloudOptions,
    *,
    rgb: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
) -> np.ndarray:
    """Structured POINT_DTYPE points from an H×W depth map (metres, NaN/0 invalid) and K of that size.

    labels, normals and confidence are at depth's size; rgb may be at any size (sampled by
    nearest neighbour). A missing map leaves its fields NaN (label UNLABELLED, rgb black).
    Returns grid-shaped points (organized) or a 1-D array of the valid ones.
    """
    fx, cx, fy, cy = float(k[0]), float(k[2]), float(k[4]), float(k[5])
    rows = np.arange(0, depth.shape[0], options.stride)
    cols = np.arange(0, depth.shape[1], options.stride)
    z = depth[rows[:, None], cols[None, :]].astype(np.float32)
    points = np.empty(z.shape, dtype=POINT_DTYPE)
    # (u − cx)/fx per column and (v − cy)/fy per row, broadcast: the ray with unit optical z.
    points["x"] = z * ((cols - cx) / fx).astype(np.float32)[None, :]
    points["y"] = z * ((rows - cy) / fy).astype(np.float32)[:, None]
    points["z"] = z
    points["rgb"] = pack_rgb(_sample(rgb, rows, cols, depth.shape)) if rgb is not None else pack_rgb(np.zeros((*z.shape, 3), np.uint8))
    points["label"] = labels[rows[:, None], cols[None, :]] if labels is not None else UNLABELLED
    grid_normals = normals[rows[:, None], cols[None, :]] if normals is not None else np.full((*z.shape, 3), np.nan, np.float32)
    for axis, name in enumerate(("normal_x", "normal_y", "normal_z")):
        points[name] = grid_normals[..., axis]
    points["confidence"] = confidence[rows[:, None], cols[None, :]] if confidence is not None else np.nan
    valid = _valid(z, points["confidence"] if confidence is not None else None, options)
    if not options.organized:
        return points[valid]
    for name in ("x", "y", "z"):
        points[name][~valid] = np.nan
    return points


def prediction_cloud(prediction: Any, rgb: np.ndarray, info: Any, options: CloudOptions) -> np.ndarray:
    """One frame's points: the predicted depth back-projected with camera_info rescaled to its size.

    K, not P: the network sees the image as received, so its depth is in that camera's model.
    `info` is any CameraInfo (rclpy or rosbags); `prediction` has depth, segmentation, normals, confidence.
    """
    height, width = prediction.depth.shape
    k = scale_intrinsics(intrinsics_of(info, rgb.shape), width, height).k
    return build_cloud(
        prediction.depth,
        k,
        options,
        rgb=rgb,
        labels=getattr(prediction, "segmentation", None),
        normals=getattr(prediction, "normals", None),
        confidence=getattr(prediction, "confidence", None),
    )


def _valid(z: np.ndarray, confidence: np.ndarray | None, options: CloudOptions) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(z) & (z > 0) & (z <= options.max_depth)
        if confidence is not None and options.min_confidence > 0:
            valid &= confidence >= options.min_confidence
    return valid


def point_fields(make_field: Callable[..., Any]) -> list[Any]:
    """The PointField list of POINT_DTYPE; make_field(name=, offset=, datatype=, count=) builds one."""
    fields = []
    for name in POINT_DTYPE.names:
        dtype, offset = POINT_DTYPE.fields[name][:2]
        datatype = UINT32 if dtype.kind == "u" else FLOAT32
        fields.append(make_field(name=name, offset=int(offset), datatype=datatype, count=1))
    return fields


def fill_point_cloud(msg: Any, points: np.ndarray, make_field: Callable[..., Any]) -> Any:
    """Set a PointCloud2's payload fields (header excluded) from build_cloud's points; returns `msg`.

    Organized (2-D) points keep their grid and may hold NaN points (is_dense false); 1-D points
    become a 1 × N cloud of valid points. One copy into an array.array, no per-point Python.
    """
    grid = points if points.ndim == 2 else points.reshape(1, -1)
    packed = np.ascontiguousarray(grid, dtype=POINT_DTYPE)
    payload = _array.array("B")
    payload.frombytes(memoryview(packed.reshape(-1).view(np.uint8)))
    msg.height, msg.width = int(grid.shape[0]), int(grid.shape[1])
    msg.fields = point_fields(make_field)
    msg.is_bigendian = False
    msg.point_step = POINT_DTYPE.itemsize
    msg.row_step = POINT_DTYPE.itemsize * msg.width
    msg.data = payload
    msg.is_dense = points.ndim == 1
    return msg


def read_cloud(msg: Any) -> np.ndarray:
    """A PointCloud2's points as a height × width structured array, laid out by the message's own fields.

    Reads any little-endian cloud whose fields are count-1 uint32/float32 (this package's, or
    a peer's with the same kinds); raises ValueError on anything else or a short payload.
    """
    kinds = {UINT32: "<u4", FLOAT32: "<f4"}
    if msg.is_bigendian or any(f.datatype not in kinds or f.count != 1 for f in msg.fields):
        raise ValueError("read_cloud reads little-endian clouds of count-1 uint32/float32 fields only")
    dtype = np.dtype({"names": [f.name for f in msg.fields], "formats": [kinds[f.datatype] for f in msg.fields],
                      "offsets": [f.offset for f in msg.fields], "itemsize": msg.point_step})
    count = int(msg.height) * int(msg.width)
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if msg.row_step != msg.point_step * msg.width or data.size < count * msg.point_step:
        raise ValueError(f"PointCloud2 payload of {data.size} bytes is short for {msg.height}x{msg.width} points")
    return data[: count * msg.point_step].view(dtype).reshape(int(msg.height), int(msg.width))
