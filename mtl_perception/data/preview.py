"""Colour views of labels, depth and normals, and the preview grid written by ``make-dataset``.

The colourisers are numpy-only (usable by the ROS node); only ``save_preview`` needs OpenCV.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .classes import PALETTE
from .renderer import Frame

_COLUMNS = ("image", "labels", "depth", "normals")


def colorize_labels(label: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """H×W class ids -> H×W×3 uint8 palette colours; invalid (< 0 or unknown) ids are black."""
    label = np.asarray(label)
    lut = np.concatenate([np.asarray(palette, dtype=np.uint8), np.zeros((1, 3), dtype=np.uint8)])
    ids = np.where((label >= 0) & (label < len(palette)), label, len(palette)).astype(np.intp)
    return lut[ids]


def _turbo(x: np.ndarray) -> np.ndarray:
    """Polynomial fit of the Turbo colormap (A. Mikhailov, Google, 2019), x in [0, 1] -> RGB in [0, 1]."""
    coeffs = np.array(
        [
            [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
            [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
            [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
        ],
        dtype=np.float32,
    )
    powers = np.stack([x**k for k in range(6)], axis=-1)
    return np.clip(powers @ coeffs.T, 0.0, 1.0)


def colorize_depth(depth: np.ndarray, max_depth: float | None = None) -> np.ndarray:
    """H×W metres -> H×W×3 uint8 Turbo colours (near blue, far red); invalid (<= 0 or NaN) is black."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    if max_depth is None:
        max_depth = float(np.percentile(depth[valid], 99)) if valid.any() else 1.0
    x = np.clip(np.where(valid, depth, 0.0) / max(max_depth, 1e-6), 0.0, 1.0)
    rgb = (_turbo(x) * 255.0 + 0.5).astype(np.uint8)
    rgb[~valid] = 0
    return rgb


def colorize_normals(normal: np.ndarray) -> np.ndarray:
    """H×W×3 optical-frame unit normals -> uint8 RGB (x right→red, up→green, towards camera→blue);
    all-zero (invalid) is black."""
    normal = np.asarray(normal, dtype=np.float32)
    # Flip y and z so the usual normal-map look appears: floors green, walls facing the camera blue.
    rgb = ((normal * np.array([1.0, -1.0, -1.0], dtype=np.float32) + 1.0) * 127.5 + 0.5).astype(np.uint8)
    rgb[~np.any(normal != 0, axis=-1)] = 0
    return rgb


def preview_grid(frames: Sequence[Frame], gap: int = 2) -> np.ndarray:
    """One row per frame: image, coloured labels, depth, normals (uint8 RGB)."""
    if not frames:
        raise ValueError("preview_grid needs at least one frame")
    valid = np.concatenate([f.depth[f.depth > 0] for f in frames])
    max_depth = float(np.percentile(valid, 99)) if valid.size else 1.0  # one scale for all rows
    rows = []
    for f in frames:
        tiles = [
            (np.clip(f.image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8),
            colorize_labels(f.label),
            colorize_depth(f.depth, max_depth),
            colorize_normals(f.normal),
        ]
        h = tiles[0].shape[0]
        spacer = np.full((h, gap, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([x for tile in tiles for x in (tile, spacer)][:-1], axis=1))
    hspacer = np.full((gap, rows[0].shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([x for row in rows for x in (row, hspacer)][:-1], axis=0)


def save_preview(path: str | Path, frames: Sequence[Frame]) -> None:
    """Write the preview grid as a PNG with a title bar naming the columns."""
    import cv2  # only the PNG writer needs OpenCV

    grid = preview_grid(frames)
    width = frames[0].image.shape[1]
    bar = np.full((18, grid.shape[1], 3), 255, dtype=np.uint8)
    for i, name in enumerate(_COLUMNS):
        cv2.putText(bar, name, (i * (width + 2) + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    out = np.concatenate([bar, grid], axis=0)
    if not cv2.imwrite(str(path), np.ascontiguousarray(out[..., ::-1])):
        raise OSError(f"could not write {path}")
