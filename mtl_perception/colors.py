"""The one colouring of labels, depth and normals (numpy only), shared by every view of them.

The node's colour topics, dataset previews, training plots and the demo panel all call these
functions, so one prediction looks the same everywhere. One convention per output:

- labels: the artifact's (or dataset's) palette, class id -> colour; anything else (-1 ignore,
  255 unlabelled, ids without a palette entry) is black.
- depth: Google's Turbo colormap (A. Mikhailov's polynomial fit), sampled into a 256-entry table;
  metres are scaled linearly from `min_depth` (default 0) to `max_depth` (default the largest
  valid value), near = blue, far = red; non-finite or <= 0 is black.
- normals: optical-frame unit vectors shown as (n + 1) / 2 · 255 per axis (x -> red, y -> green,
  z -> blue), no axis flipped; non-finite or all-zero (invalid) is black.
- point clouds, bird's-eye: optical-frame points seen from above (x right, z forward = up),
  coloured by label; where points share a cell the highest (smallest y) wins; empty is grey.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

UNLABELLED = 255
INVALID_RGB = (0, 0, 0)

# Turbo polynomial fit, x in [0, 1] -> RGB in [0, 1]; one row per channel, coefficients of x^0..x^5.
_TURBO_COEFFS = np.array(
    [
        [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
        [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
        [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ],
    dtype=np.float64,
)


def _turbo_lut(size: int = 256) -> np.ndarray:
    x = np.linspace(0.0, 1.0, size)
    rgb = np.clip(np.stack([x**k for k in range(6)], axis=-1) @ _TURBO_COEFFS.T, 0.0, 1.0)
    return np.rint(rgb * 255.0).astype(np.uint8)


DEPTH_LUT = _turbo_lut()
DEPTH_LUT.flags.writeable = False


def palette_lut(palette: Sequence[Sequence[int]] | np.ndarray, unlabelled: Sequence[int] = INVALID_RGB) -> np.ndarray:
    """A 256×3 uint8 lookup table: class id -> colour; ids without a colour (incl. 255) -> `unlabelled`."""
    colours = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    if len(colours) > UNLABELLED:
        raise ValueError(f"at most {UNLABELLED} classes fit in mono8 labels, got {len(colours)}")
    if colours.size and (colours.min() < 0 or colours.max() > 255):
        raise ValueError("palette entries must be in 0..255")
    lut = np.empty((256, 3), dtype=np.uint8)
    lut[:] = np.asarray(unlabelled, dtype=np.uint8)
    lut[: len(colours)] = colours.astype(np.uint8)
    return lut


def colorize_labels(labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """H×W integer class ids (uint8 with 255 unlabelled, or int with -1 ignored) -> H×W×3 uint8 RGB.

    `lut` comes from `palette_lut`; ids outside 0..254 are black.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if labels.dtype != np.uint8:
        labels = np.where((labels >= 0) & (labels < UNLABELLED), labels, UNLABELLED).astype(np.uint8)
    return np.take(lut, labels, axis=0)  # 4× faster than lut[labels] at 640×480


def colorize_depth(depth: np.ndarray, min_depth: float = 0.0, max_depth: float | None = None) -> np.ndarray:
    """H×W metres -> H×W×3 uint8 Turbo colours (see the module docstring); invalid is black."""
    depth = np.asarray(depth, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros((*depth.shape, 3), dtype=np.uint8)
    if not valid.any():
        return out
    hi = float(depth[valid].max()) if max_depth is None else float(max_depth)
    span = max(hi - float(min_depth), 1e-6)
    scaled = np.clip((depth[valid] - np.float32(min_depth)) / np.float32(span), 0.0, 1.0)
    out[valid] = DEPTH_LUT[np.rint(scaled * 255).astype(np.int64)]
    return out


def colorize_normals(normals: np.ndarray) -> np.ndarray:
    """H×W×3 unit normals -> H×W×3 uint8 RGB as (n + 1)/2·255; non-finite or all-zero is black.

    In-place float32 passes over the whole image: ~10× faster at 640×480 than per-pixel
    reductions along the 3-channel axis, with the same roundings in the same order.
    """
    normals = np.asarray(normals, dtype=np.float32)
    finite = bool(np.isfinite(normals).all())
    scaled = np.clip(normals if finite else np.nan_to_num(normals), -1.0, 1.0)
    scaled += 1.0
    scaled *= 127.5
    np.rint(scaled, out=scaled)
    out = scaled.astype(np.uint8)
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    invalid = (x == 0) & (y == 0) & (z == 0)
    if not finite:
        invalid |= ~(np.isfinite(x) & np.isfinite(y) & np.isfinite(z))
    if invalid.any():
        out[invalid] = 0
    return out


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


def stack_rows(rows: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Stack equally wide RGB rows top to bottom with white gaps between."""
    if not rows:
        raise ValueError("stack_rows needs at least one row")
    spacer = np.full((gap, rows[0].shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([part for row in rows for part in (row, spacer)][:-1], axis=0)


BIRDS_EYE_BACKGROUND = (64, 64, 64)


def birds_eye(points_xyz: np.ndarray, labels: np.ndarray, lut: np.ndarray, height: int, width: int, max_range: float) -> np.ndarray:
    """Top-down H×W×3 view of N×3 optical-frame points: z in [0, max_range] bottom to top, x centred.

    One metre is the same number of pixels on both axes (height / max_range); points outside
    the view or not finite are left out.
    """
    if not max_range > 0:
        raise ValueError(f"max_range must be > 0, got {max_range}")
    image = np.empty((height, width, 3), np.uint8)
    image[:] = BIRDS_EYE_BACKGROUND
    xyz = np.asarray(points_xyz, np.float64).reshape(-1, 3)
    finite = np.isfinite(xyz).all(axis=1)
    xyz, labels = xyz[finite], np.asarray(labels).reshape(-1)[finite]
    scale = height / max_range
    rows = np.floor(height - xyz[:, 2] * scale).astype(np.int64)
    cols = np.floor(width / 2 + xyz[:, 0] * scale).astype(np.int64)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    order = np.argsort(-xyz[inside, 1], kind="stable")  # lowest first, so the highest point is drawn last
    rows, cols, labels = rows[inside][order], cols[inside][order], labels[inside][order]
    image[rows, cols] = colorize_labels(labels.astype(np.int64), lut)
    return image
