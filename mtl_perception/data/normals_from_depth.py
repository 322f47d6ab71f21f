"""Surface normals from a depth image and pinhole intrinsics (camera optical frame), vectorised numpy.

Each pixel is back-projected to P = d·((u − cx)/fx, (v − cy)/fy, 1); the normal is the cross product
of the central differences of P along the row and the column, turned to face the camera. On a plane
this is exact whatever the viewing angle. A pixel is invalid (all-zero) where it or one of its four
neighbours has no depth, or where the depth jumps on either axis.

Jumps are found in inverse depth, which is affine in (u, v) on any plane: on a plane the step from
the left neighbour equals the step to the right one, at an occlusion edge one of them is far larger.
"""
from __future__ import annotations

import numpy as np

from .camera import Camera

# A step pair (a, b) along one axis is a jump when |a − b| exceeds
# JUMP_RATIO·max(|a|, |b|) + NOISE_FRACTION·(1/d): the second term absorbs sensor quantisation
# (16UC1 millimetres) on surfaces that face the camera, where both steps are near zero.
JUMP_RATIO = 0.5
NOISE_FRACTION = 0.01


def back_project(depth: np.ndarray, camera: Camera) -> np.ndarray:
    """H×W depth (metres along optical z) -> H×W×3 points in the optical frame (float64)."""
    rx, ry = camera.rays()
    d = depth.astype(np.float64)
    return np.stack([rx * d, ry * d, d], axis=-1)


def _smooth_axis(inverse: np.ndarray, axis: int, jump_ratio: float, noise_fraction: float) -> np.ndarray:
    """H×W bool: both steps along `axis` around each interior pixel agree (no jump); borders False."""
    centre = np.moveaxis(inverse, axis, 0)
    before, here, after = centre[:-2], centre[1:-1], centre[2:]
    a, b = here - before, after - here
    with np.errstate(invalid="ignore"):
        agree = np.abs(a - b) <= jump_ratio * np.maximum(np.abs(a), np.abs(b)) + noise_fraction * here
    out = np.zeros(centre.shape, dtype=bool)
    out[1:-1] = agree
    return np.moveaxis(out, 0, axis)


def valid_normal_mask(
    depth: np.ndarray, *, jump_ratio: float = JUMP_RATIO, noise_fraction: float = NOISE_FRACTION
) -> np.ndarray:
    """H×W bool: the pixel and its four neighbours have depth and neither axis jumps there."""
    has = np.isfinite(depth) & (depth > 0)
    inverse = np.where(has, 1.0 / np.where(has, depth, 1.0), np.nan).astype(np.float64)
    around = np.zeros_like(has)
    around[1:-1, 1:-1] = has[1:-1, 1:-1] & has[:-2, 1:-1] & has[2:, 1:-1] & has[1:-1, :-2] & has[1:-1, 2:]
    smooth = _smooth_axis(inverse, 0, jump_ratio, noise_fraction) & _smooth_axis(inverse, 1, jump_ratio, noise_fraction)
    return around & smooth


def normals_from_depth(
    depth: np.ndarray,
    camera: Camera,
    *,
    jump_ratio: float = JUMP_RATIO,
    noise_fraction: float = NOISE_FRACTION,
) -> np.ndarray:
    """H×W depth (metres, 0/NaN invalid) -> H×W×3 float32 unit normals facing the camera, all-zero invalid."""
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.shape != (camera.height, camera.width):
        raise ValueError(f"depth is {depth.shape[1]}x{depth.shape[0]} but the camera is {camera.width}x{camera.height}")
    valid = valid_normal_mask(depth, jump_ratio=jump_ratio, noise_fraction=noise_fraction)
    points = back_project(np.where(np.isfinite(depth), depth, 0.0), camera)
    along_u = np.zeros_like(points)
    along_v = np.zeros_like(points)
    along_u[:, 1:-1] = points[:, 2:] - points[:, :-2]
    along_v[1:-1] = points[2:] - points[:-2]
    normal = np.cross(along_u, along_v)
    # Face the camera: the normal points against the ray to its point.
    facing = np.where((normal * points).sum(axis=-1, keepdims=True) > 0, -1.0, 1.0)
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    valid &= length[..., 0] > 0
    unit = np.where(valid[..., None], normal * facing / np.where(length > 0, length, 1.0), 0.0)
    return unit.astype(np.float32)
