"""Pinhole intrinsics, camera poses and per-pixel rays.

Conventions: pixel (u, v) has its centre at integer coordinates (OpenCV/ROS),
so a centred principal point is ((W-1)/2, (H-1)/2). The optical frame is x
right, y down, z forward. The world frame of the synthetic scenes is z up.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

DEFAULT_HFOV_DEG = 65.0


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics (pixels) for an image of ``height`` × ``width``."""

    fx: float
    fy: float
    cx: float
    cy: float
    height: int
    width: int

    @classmethod
    def default(cls, height: int, width: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> "Camera":
        """Square pixels, centred principal point, ``hfov_deg`` horizontal field of view."""
        if height <= 0 or width <= 0:
            raise ValueError(f"image size must be positive, got {height}x{width}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(fx=f, fy=f, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0, height=int(height), width=int(width))

    def scaled(self, height: int, width: int) -> "Camera":
        """Intrinsics of this camera's image resized to ``height`` × ``width``."""
        sx, sy = width / self.width, height / self.height
        # Pixel centres sit at integers, so the principal point maps as (c + 0.5)·s − 0.5.
        return Camera(
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            height=int(height),
            width=int(width),
        )

    @property
    def matrix(self) -> np.ndarray:
        """3×3 intrinsic matrix K (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Optical-frame ray directions with z = 1: (x, y) as float32 H×W arrays.

        With z = 1 the ray parameter of a hit *is* its depth along the optical axis.
        """
        u = (np.arange(self.width, dtype=np.float64) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float64) - self.cy) / self.fy
        x = np.broadcast_to(u.astype(np.float32)[None, :], (self.height, self.width))
        y = np.broadcast_to(v.astype(np.float32)[:, None], (self.height, self.width))
        return np.ascontiguousarray(x), np.ascontiguousarray(y)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Camera":
        try:
            return cls(
                fx=float(data["fx"]),
                fy=float(data["fy"]),
                cx=float(data["cx"]),
                cy=float(data["cy"]),
                height=int(data["height"]),
                width=int(data["width"]),
            )
        except KeyError as err:
            raise ValueError(f"camera intrinsics miss the key {err.args[0]!r}") from None


@dataclass(frozen=True, eq=False)  # ndarray fields: identity equality
class Pose:
    """Camera pose: ``rotation`` maps optical-frame vectors to world, ``position`` in world (m)."""

    rotation: np.ndarray  # 3×3 float64, columns = camera x, y, z axes in world
    position: np.ndarray  # 3 float64

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (...×3) expressed in the optical frame."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation


def pose_from_angles(position: np.ndarray, yaw: float, pitch: float, roll: float = 0.0) -> Pose:
    """Camera at ``position`` looking along heading ``yaw`` (rad, from world +x towards +y),
    tilted up by ``pitch`` (rad, negative looks down) and rolled by ``roll`` about the view axis."""
    cp, sp, cyw, syw = math.cos(pitch), math.sin(pitch), math.cos(yaw), math.sin(yaw)
    forward = np.array([cp * cyw, cp * syw, sp])
    right = np.array([syw, -cyw, 0.0])  # horizontal, so an unrolled camera has a level horizon
    down = np.cross(forward, right)
    cr, sr = math.cos(roll), math.sin(roll)
    right, down = cr * right + sr * down, -sr * right + cr * down
    return Pose(rotation=np.stack([right, down, forward], axis=1), position=np.asarray(position, dtype=np.float64))


def look_at(position: np.ndarray, target: np.ndarray, roll: float = 0.0) -> Pose:
    """Camera at ``position`` looking at ``target`` (world z up; not straight up or down)."""
    d = np.asarray(target, dtype=np.float64) - np.asarray(position, dtype=np.float64)
    horizontal = math.hypot(d[0], d[1])
    if horizontal < 1e-9:
        raise ValueError("look_at needs a target that is not straight above or below the camera")
    return pose_from_angles(position, math.atan2(d[1], d[0]), math.atan2(d[2], horizontal), roll)
