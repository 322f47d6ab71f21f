"""How each task's array travels on a topic (DESIGN §3) <-> the metric meters' conventions.

Topics: labels mono8 with 255 unlabelled, depth 32FC1 metres with NaN invalid (REP 118) or
16UC1 millimetres with 0 invalid (RealSense, Orbbec), normals 32FC3 unit vectors. Meters: labels int64 with -1 ignored, depth metres with 0 invalid,
normals with all-zero invalid.
"""
from __future__ import annotations

import numpy as np

UNLABELLED = 255
# Encodings a ground-truth topic may use, and the node's output encoding, per task.
GT_ENCODINGS: dict[str, tuple[str, ...]] = {"segmentation": ("mono8", "8UC1"), "depth": ("32FC1", "16UC1"), "normals": ("32FC3",)}
OUTPUT_ENCODINGS: dict[str, str] = {"segmentation": "mono8", "depth": "32FC1", "normals": "32FC3"}


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


MM_PER_M = 1000.0


def depth_to_16uc1(depth: np.ndarray) -> np.ndarray:
    """metres with 0 (or non-finite, or negative) invalid -> uint16 millimetres, 0 invalid.

    Depths that round beyond 65535 mm do not fit and become invalid rather than wrapping.
    """
    mm = np.rint(depth_from_32fc1(depth).astype(np.float64) * MM_PER_M)
    return np.where(mm <= np.iinfo(np.uint16).max, mm, 0).astype(np.uint16)


def depth_from_16uc1(mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres with 0 invalid -> float32 metres with 0 invalid."""
    return (np.asarray(mm, dtype=np.float64) / MM_PER_M).astype(np.float32)


def depth_to_meter(array: np.ndarray) -> np.ndarray:
    """A decoded depth Image (16UC1 mm or 32FC1 m, told apart by dtype) -> metres with 0 invalid."""
    return depth_from_16uc1(array) if array.dtype == np.uint16 else depth_from_32fc1(array)


def mask_depth(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """float32 metres with NaN where non-finite, ≤ 0 or beyond max_depth (REP 118)."""
    out = np.array(depth, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(out) | (out <= 0.0) | (out > max_depth)
    out[invalid] = np.nan
    return out


def normals_from_32fc3(normals: np.ndarray) -> np.ndarray:
    """float32 H×W×3 with NaN or all-zero invalid -> H×W×3 with all-zero invalid."""
    normals = np.asarray(normals, dtype=np.float32)
    valid = np.isfinite(normals).all(axis=-1, keepdims=True)
    return np.where(valid, normals, np.float32(0)).astype(np.float32)


def ground_truth_to_meter(task: str, array: np.ndarray) -> np.ndarray:
    """A decoded ground-truth Image -> the meters' convention."""
    if task == "segmentation":
        return mono8_to_labels(array)
    if task == "depth":
        return depth_to_meter(array)
    return normals_from_32fc3(array)


def output_to_meter(task: str, array: np.ndarray) -> np.ndarray:
    """A decoded node output -> the meters' convention; 255 and NaN then count as errors."""
    if task == "segmentation":
        return array.astype(np.int64)  # 255 (unlabelled) never matches a class: counted as wrong
    if task == "depth":
        return depth_from_32fc1(array)  # NaN (beyond max_depth) -> 0: counted as an error
    return normals_from_32fc3(array)


def prediction_to_output(task: str, array: np.ndarray) -> np.ndarray:
    """An engine prediction -> the node's published array (depth: NaN where not a positive finite)."""
    if task == "depth":
        return depth_to_32fc1(array)
    return array
