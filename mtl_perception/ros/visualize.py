"""ROS-free visualisation: palette colouring, overlays, depth colormap, normals as RGB, panels.

Everything takes and returns numpy arrays (uint8 RGB H×W×3 for images) and never imports ROS,
torch or matplotlib, so the node, the demo and the bag tools share it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

UNLABELLED = 255

# Turbo-like colormap anchors (Google's Turbo, sampled at 9 points), linearly interpolated.
_COLORMAP_ANCHORS = np.array(
    [
        [48, 18, 59],
        [70, 107, 227],
        [40, 187, 236],
        [50, 241, 152],
        [164, 252, 60],
        [237, 208, 58],
        [251, 128, 34],
        [215, 50, 7],
        [122, 4, 3],
    ],
    dtype=np.float32,
)


def _build_lut(anchors: np.ndarray, size: int = 256) -> np.ndarray:
    positions = np.linspace(0.0, 1.0, len(anchors))
    samples = np.linspace(0.0, 1.0, size)
    lut = np.stack([np.interp(samples, positions, anchors[:, c]) for c in range(3)], axis=1)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


DEPTH_LUT = _build_lut(_COLORMAP_ANCHORS)


def palette_lut(palette: Sequence[Sequence[int]], unlabelled: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """A 256×3 uint8 lookup table: class id → colour; ids without a colour (incl. 255) → `unlabelled`."""
    lut = np.empty((256, 3), dtype=np.uint8)
    lut[:] = np.asarray(unlabelled, dtype=np.uint8)
    colours = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    if len(colours) > UNLABELLED:
        raise ValueError(f"at most {UNLABELLED} classes fit in mono8 labels, got {len(colours)}")
    if colours.size and (colours.min() < 0 or colours.max() > 255):
        raise ValueError("palette entries must be in 0..255")
    lut[: len(colours)] = colours.astype(np.uint8)
    return lut


def colorize_labels(labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """uint8 H×W class ids → uint8 H×W×3 RGB through a 256-entry lookup table."""
    if labels.dtype != np.uint8:
        raise ValueError(f"labels must be uint8, got {labels.dtype}")
    return lut[labels]


def resize_nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize by pixel centres (the same sampling as torch 'nearest-exact')."""
    in_h, in_w = image.shape[:2]
    if (in_h, in_w) == (height, width):
        return image
    rows = np.minimum(((np.arange(height) + 0.5) * (in_h / height)).astype(np.int64), in_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * (in_w / width)).astype(np.int64), in_w - 1)
    return image[rows[:, None], cols[None, :]]


def overlay(rgb: np.ndarray, colour: np.ndarray, alpha: float) -> np.ndarray:
    """alpha·colour + (1−alpha)·rgb, rounded; rgb is resized (nearest) to colour's size if needed."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    height, width = colour.shape[:2]
    base = resize_nearest(rgb, height, width).astype(np.float32)
    blended = base + np.float32(alpha) * (colour.astype(np.float32) - base)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def mask_depth(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """float32 metres with NaN where non-finite, ≤ 0 or beyond max_depth (REP 118)."""
    out = np.array(depth, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(out) | (out <= 0.0) | (out > max_depth)
    out[invalid] = np.nan
    return out


def colorize_depth(depth: np.ndarray, min_depth: float = 0.0, max_depth: float | None = None) -> np.ndarray:
    """Metres → RGB through a turbo-like colormap (near = blue, far = red); NaN/invalid → black.

    max_depth defaults to the largest finite value in the image.
    """
    depth = np.asarray(depth, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros((*depth.shape, 3), dtype=np.uint8)
    if not valid.any():
        return out
    hi = float(depth[valid].max()) if max_depth is None else float(max_depth)
    span = max(hi - float(min_depth), 1e-6)
    scaled = np.clip((depth[valid] - min_depth) / span, 0.0, 1.0)
    out[valid] = DEPTH_LUT[np.rint(scaled * 255).astype(np.int64)]
    return out


def colorize_normals(normals: np.ndarray) -> np.ndarray:
    """Unit normals H×W×3 → RGB with (n + 1)/2·255 per axis; non-finite or zero normals → black."""
    normals = np.asarray(normals, dtype=np.float32)
    finite = np.isfinite(normals).all(axis=-1) & (np.abs(normals).sum(axis=-1) > 0)
    scaled = np.rint((np.clip(np.nan_to_num(normals), -1.0, 1.0) + 1.0) * 127.5)
    out = scaled.astype(np.uint8)
    out[~finite] = 0
    return out


def panel(images: Sequence[np.ndarray], height: int | None = None, gap: int = 4) -> np.ndarray:
    """Place RGB images side by side (each resized to a common height, nearest), white gaps between."""
    if not images:
        raise ValueError("panel needs at least one image")
    height = height or max(int(img.shape[0]) for img in images)
    tiles = []
    for index, img in enumerate(images):
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        width = max(1, round(img.shape[1] * height / img.shape[0]))
        tiles.append(resize_nearest(img[:, :, :3].astype(np.uint8), height, width))
        if index < len(images) - 1 and gap > 0:
            tiles.append(np.full((height, gap, 3), 255, dtype=np.uint8))
    return np.concatenate(tiles, axis=1)
