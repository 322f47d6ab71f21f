"""sensor_msgs/CameraInfo maths without ROS: pinhole K/P, validation, rescaling to another image size.

Works on any object with the CameraInfo fields, so the node (rclpy), the synthetic camera and
the bag tools (rosbags) share it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """The CameraInfo fields that change with image size (K, P row-major; roi as x, y, w, h)."""

    width: int
    height: int
    k: tuple[float, ...]
    p: tuple[float, ...]
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)


def pinhole_k(camera: Any) -> list[float]:
    """K (row-major 3×3) of a distortion-free pinhole camera with fx, fy, cx, cy."""
    fx, fy, cx, cy = float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy)
    return [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]


def pinhole_p(camera: Any) -> list[float]:
    """P (row-major 3×4) of a monocular pinhole camera: [K | 0]."""
    fx, fy, cx, cy = float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy)
    return [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]


IDENTITY_R: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def validate_intrinsics(width: int, height: int, k: Sequence[float], p: Sequence[float]) -> str | None:
    """Why a CameraInfo cannot be used (None when it can)."""
    if len(k) != 9 or len(p) != 12:
        return f"K must have 9 and P 12 entries (got {len(k)} and {len(p)})"
    values = np.asarray([*k, *p], dtype=np.float64)
    if not np.isfinite(values).all():
        return "K or P holds NaN/inf"
    if k[0] <= 0 or k[4] <= 0:
        return f"focal lengths must be positive (fx={k[0]}, fy={k[4]})"
    if width < 0 or height < 0:
        return f"negative image size {width}x{height}"
    return None


def scale_intrinsics(info: Intrinsics, out_width: int, out_height: int) -> Intrinsics:
    """Rescale intrinsics from info.width×info.height to out_width×out_height.

    Uses the pixel-centre convention of area/bilinear resampling (align_corners=False): a point at
    pixel coordinate u maps to (u + 0.5)·s − 0.5, so fx' = fx·sx, cx' = (cx + 0.5)·sx − 0.5 and
    Tx' = Tx·sx (P[3] is −fx·baseline). A zero width/height in the input means "same as output".
    """
    src_w = info.width or out_width
    src_h = info.height or out_height
    sx, sy = out_width / src_w, out_height / src_h
    k = list(info.k)
    k[0] *= sx
    k[1] *= sx  # skew
    k[2] = (k[2] + 0.5) * sx - 0.5
    k[4] *= sy
    k[5] = (k[5] + 0.5) * sy - 0.5
    p = list(info.p)
    p[0] *= sx
    p[1] *= sx
    p[2] = (p[2] + 0.5) * sx - 0.5
    p[3] *= sx
    p[5] *= sy
    p[6] = (p[6] + 0.5) * sy - 0.5
    p[7] *= sy
    x, y, w, h = info.roi
    roi = (int(round(x * sx)), int(round(y * sy)), int(round(w * sx)), int(round(h * sy))) if (w and h) else (0, 0, 0, 0)
    return Intrinsics(out_width, out_height, tuple(k), tuple(p), roi)


def intrinsics_of(info: Any, image_shape: tuple[int, ...]) -> Intrinsics:
    """A CameraInfo message's Intrinsics; one without a size describes the image it accompanies."""
    roi = info.roi
    return Intrinsics(
        int(info.width) or int(image_shape[1]),
        int(info.height) or int(image_shape[0]),
        tuple(float(v) for v in info.k),
        tuple(float(v) for v in info.p),
        (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)),
    )


def fill_scaled_camera_info(out: Any, info: Any, width: int, height: int, image_shape: tuple[int, ...]) -> Any:
    """Set `out`'s fields (header excluded) to `info` rescaled to width×height; returns `out`."""
    scaled = scale_intrinsics(intrinsics_of(info, image_shape), width, height)
    out.width, out.height = width, height
    out.distortion_model = info.distortion_model
    out.d = info.d
    out.r = info.r
    out.k = list(scaled.k)
    out.p = list(scaled.p)
    out.binning_x, out.binning_y = info.binning_x, info.binning_y
    out.roi.x_offset, out.roi.y_offset, out.roi.width, out.roi.height = scaled.roi
    out.roi.do_rectify = info.roi.do_rectify
    return out
