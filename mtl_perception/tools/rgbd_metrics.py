"""Per-frame scores of a prediction against a real RGB-D camera's depth (numpy only), for `eval-rgbd`.

The protocol of ../shared/real_frames/README.md, one frame at a time (the caller averages over frames):

- valid pixels: sensor depth in (min_depth, max_depth] and a positive, finite prediction;
- scale-invariant: the prediction times median(sensor) / median(prediction) over the valid pixels,
  then AbsRel = mean(|p − d| / d) and δ<1.25 = fraction with max(p/d, d/p) < 1.25; metric AbsRel
  and δ without that scaling; the constant baseline predicts median(sensor) at every valid pixel;
- normals: the sensor depth back-projected with the intrinsics, the cross product of central
  differences `step` (4) pixels apart, turned to face the camera; a pixel is dropped where it or
  one of its four neighbours at ±step has no valid depth, or where a neighbour's depth differs
  from the centre's by more than `max_jump` (10 %) of it. The error is the angle to the predicted
  unit normal; the constant baseline is (0, 0, −1), facing the camera along the optical axis.

This lives here, not beside data/normals_from_depth.py: that routine differences neighbours 1 px
apart (dominated by Kinect depth quantisation on real frames) and finds jumps in inverse depth; this
one needs the 4 px step and the README's 10 % rule. It reuses that module's back-projection.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from ..data.camera import Camera
from ..data.normals_from_depth import back_project

NORMAL_STEP = 4  # pixels between the central differences of the sensor normals
MAX_JUMP = 0.1  # a neighbour farther than this fraction of the centre's depth drops the pixel
DELTA = 1.25
NORMAL_THRESHOLDS_DEG = (11.25, 22.5, 30.0)
CONSTANT_NORMAL = (0.0, 0.0, -1.0)  # optical frame: faces the camera along its axis


def valid_depth(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """H×W bool: finite sensor depth in (min_depth, max_depth]."""
    depth = np.asarray(depth, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth > min_depth) & (depth <= max_depth)


def _ratio_figures(pred: np.ndarray, sensor: np.ndarray) -> tuple[float, float]:
    """(AbsRel, δ<1.25) of 1-D positive predictions against 1-D positive sensor depths."""
    abs_rel = float(np.mean(np.abs(pred - sensor) / sensor))
    delta = float(np.mean(np.maximum(pred / sensor, sensor / pred) < DELTA))
    return abs_rel, delta


def score_depth(pred: np.ndarray, sensor: np.ndarray, sensor_valid: np.ndarray) -> dict | None:
    """One frame's depth figures, or None where no pixel is valid.

    pred, sensor: H×W metres; sensor_valid: `valid_depth(sensor, ...)`. Returns {"pixels": n,
    "model": {si_abs_rel, si_delta_1.25, abs_rel, delta_1.25, scale}, "constant": {si_abs_rel,
    si_delta_1.25}}; `scale` is median(sensor) / median(prediction), the factor the
    scale-invariant figures applied.
    """
    pred = np.asarray(pred, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = sensor_valid & np.isfinite(pred) & (pred > 0)
    if not valid.any():
        return None
    d, p = np.asarray(sensor, dtype=np.float64)[valid], pred[valid]
    median_d = float(np.median(d))
    scale = median_d / float(np.median(p))
    si_abs_rel, si_delta = _ratio_figures(p * scale, d)
    abs_rel, delta = _ratio_figures(p, d)
    constant_abs_rel, constant_delta = _ratio_figures(np.full_like(d, median_d), d)
    return {
        "pixels": int(valid.sum()),
        "model": {"si_abs_rel": si_abs_rel, "si_delta_1.25": si_delta, "abs_rel": abs_rel, "delta_1.25": delta, "scale": scale},
        "constant": {"si_abs_rel": constant_abs_rel, "si_delta_1.25": constant_delta},
    }


def sensor_normals(
    depth: np.ndarray, camera: Camera, depth_ok: np.ndarray, *, step: int = NORMAL_STEP, max_jump: float = MAX_JUMP
) -> np.ndarray:
    """H×W×3 float64 unit normals (optical frame, facing the camera) from sensor depth; all-zero where dropped.

    depth: H×W metres; depth_ok: H×W bool, the pixels whose depth counts (`valid_depth`).
    """
    depth = np.where(depth_ok, np.asarray(depth, dtype=np.float64), 0.0)
    height, width = depth.shape
    if (height, width) != (camera.height, camera.width):
        raise ValueError(f"depth is {width}x{height} but the camera is {camera.width}x{camera.height}")
    out = np.zeros((height, width, 3))
    if height <= 2 * step or width <= 2 * step:
        return out
    points = back_project(depth, camera)
    inner = (slice(step, -step), slice(step, -step))
    centre = depth[inner]
    keep = depth_ok[inner].copy()
    for dy, dx in ((-step, 0), (step, 0), (0, -step), (0, step)):
        rows, cols = slice(step + dy, height - step + dy), slice(step + dx, width - step + dx)
        keep &= depth_ok[rows, cols] & (np.abs(depth[rows, cols] - centre) <= max_jump * centre)
    along_u = points[step:-step, 2 * step :] - points[step:-step, : -2 * step]
    along_v = points[2 * step :, step:-step] - points[: -2 * step, step:-step]
    normal = np.cross(along_u, along_v)
    length = np.linalg.norm(normal, axis=-1)
    keep &= length > 0
    # Face the camera: against the ray to the point.
    facing = np.where((normal * points[inner]).sum(axis=-1) > 0, -1.0, 1.0)
    out[inner] = np.where(keep[..., None], normal * (facing / np.where(keep, length, 1.0))[..., None], 0.0)
    return out


def angles_deg(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """N angles (degrees) between N×3 vectors, each normalised; atan2 stays accurate near 0°."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    pred = pred / np.maximum(np.linalg.norm(pred, axis=-1, keepdims=True), 1e-12)
    target = target / np.maximum(np.linalg.norm(target, axis=-1, keepdims=True), 1e-12)
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(pred, target), axis=-1), (pred * target).sum(axis=-1)))


def angle_figures(angles: np.ndarray) -> dict[str, float]:
    """mean, median and the fractions below each of NORMAL_THRESHOLDS_DEG (metrics.NormalMeter's keys)."""
    figures = {"mean": float(np.mean(angles)), "median": float(np.median(angles))}
    figures.update({f"within_{threshold:g}": float(np.mean(angles < threshold)) for threshold in NORMAL_THRESHOLDS_DEG})
    return figures


def score_normals(pred: np.ndarray, sensor: np.ndarray) -> dict | None:
    """One frame's normal figures against `sensor_normals(...)`, or None where no pixel has both.

    pred: H×W×3 predicted normals (any length; zero or non-finite ones are skipped).
    Returns {"pixels": n, "model": angle_figures, "constant": angle_figures of CONSTANT_NORMAL}.
    """
    pred = np.asarray(pred, dtype=np.float64)
    valid = np.any(sensor != 0, axis=-1) & np.all(np.isfinite(pred), axis=-1) & np.any(pred != 0, axis=-1)
    if not valid.any():
        return None
    target = sensor[valid]
    constant = np.broadcast_to(np.asarray(CONSTANT_NORMAL), target.shape)
    return {
        "pixels": int(valid.sum()),
        "model": angle_figures(angles_deg(pred[valid], target)),
        "constant": angle_figures(angles_deg(constant, target)),
    }


def mean_over_frames(frames: Iterable[Mapping | None]) -> dict | None:
    """Average nested per-frame figure dicts key by key; frames that are None (nothing valid) are left out."""
    kept = [frame for frame in frames if frame is not None]
    if not kept:
        return None
    out: dict = {}
    for key, value in kept[0].items():
        if isinstance(value, Mapping):
            out[key] = mean_over_frames(frame[key] for frame in kept)
        else:
            out[key] = float(np.mean([frame[key] for frame in kept]))
    return out
