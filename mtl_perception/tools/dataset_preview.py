"""The preview grid written by ``make-dataset``: image, labels, depth and normals per frame (via `colors`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import colors
from ..data.classes import PALETTE
from ..interop.image import float_to_rgb8

_COLUMNS = ("image", "labels", "depth", "normals")
_GAP = 2


def preview_depth_range(frames: Sequence[Any]) -> float:
    """One depth scale for every row: the 99th percentile of the valid depths (1 m when none)."""
    valid = np.concatenate([np.asarray(f.depth)[np.asarray(f.depth) > 0] for f in frames])
    return float(np.percentile(valid, 99)) if valid.size else 1.0


def preview_tiles(frame: Any, lut: np.ndarray, max_depth: float) -> list[np.ndarray]:
    """One frame's tiles: image, coloured labels, depth and normals (uint8 RGB)."""
    return [
        float_to_rgb8(np.clip(frame.image, 0.0, 1.0)),
        colors.colorize_labels(frame.label, lut),
        colors.colorize_depth(frame.depth, 0.0, max_depth),
        colors.colorize_normals(frame.normal),
    ]


def preview_grid(frames: Sequence[Any], gap: int = _GAP) -> np.ndarray:
    """One row per frame (a renderer Frame or anything with image, label, depth, normal)."""
    if not frames:
        raise ValueError("preview_grid needs at least one frame")
    lut = colors.palette_lut(PALETTE)
    max_depth = preview_depth_range(frames)
    rows = [colors.panel(preview_tiles(f, lut, max_depth), gap=gap) for f in frames]
    return colors.stack_rows(rows, gap=gap)


def save_preview(path: str | Path, frames: Sequence[Any]) -> None:
    """Write the preview grid as a PNG with a title bar naming the columns."""
    import cv2  # only the PNG writer needs OpenCV

    grid = preview_grid(frames)
    width = frames[0].image.shape[1]
    bar = np.full((18, grid.shape[1], 3), 255, dtype=np.uint8)
    for i, name in enumerate(_COLUMNS):
        cv2.putText(bar, name, (i * (width + _GAP) + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    out = np.concatenate([bar, grid], axis=0)
    if not cv2.imwrite(str(path), np.ascontiguousarray(out[..., ::-1])):
        raise OSError(f"could not write {path}")
