"""Reads eval-rgbd's frame folders: pairs rgb/ and depth/ files by stem and loads each as RGB and metres."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIXES = (".png", ".npy")
PNG_DEPTH_SCALE = 1000.0  # 16-bit PNG without --depth-scale: millimetres (ROS 16UC1)
PNG_INVALID = 65535  # besides 0, a 16-bit sensor's "no reading"


class RgbdFolderError(ValueError):
    """A frame folder (or a file in it) that eval-rgbd cannot read."""


@dataclass(frozen=True)
class FramePair:
    stem: str
    rgb: Path
    depth: Path


def _natural_key(stem: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", stem)]


def _files_by_stem(folder: Path, suffixes: Sequence[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in suffixes:
            if path.stem in found:
                raise RgbdFolderError(f"{folder}: two files for frame {path.stem!r} ({found[path.stem].name}, {path.name})")
            found[path.stem] = path
    return found


def list_pairs(folder: str | Path) -> tuple[list[FramePair], int]:
    """The folder's rgb/depth pairs in natural stem order, and how many files found no partner.

    The folder holds `rgb/NNN.png` (or .jpg; 8-bit colour) and `depth/NNN.png` (16-bit, depth units per
    metre given by --depth-scale, 0 and 65535 invalid) or `depth/NNN.npy` (float metres), paired by file stem.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RgbdFolderError(f"{folder}: not a directory")
    for sub in ("rgb", "depth"):
        if not (folder / sub).is_dir():
            raise RgbdFolderError(f"{folder}: no {sub}/ folder (expected rgb/NNN.png and depth/NNN.png)")
    rgb = _files_by_stem(folder / "rgb", RGB_SUFFIXES)
    depth = _files_by_stem(folder / "depth", DEPTH_SUFFIXES)
    stems = sorted(rgb.keys() & depth.keys(), key=_natural_key)
    if not stems:
        raise RgbdFolderError(
            f"{folder}: no rgb/depth pairs (rgb/ has {len(rgb)} images, depth/ has {len(depth)} depth files; they pair by file stem)"
        )
    return [FramePair(stem, rgb[stem], depth[stem]) for stem in stems], len(rgb) + len(depth) - 2 * len(stems)


def _bits(image: np.ndarray) -> str:
    return f"{image.dtype.itemsize * 8}-bit"


def read_rgb(path: Path) -> np.ndarray:
    """H×W×3 uint8 RGB from an 8-bit colour (or grey) PNG/JPEG."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise RgbdFolderError(f"{path}: not a readable image")
    if image.dtype != np.uint8:
        raise RgbdFolderError(f"{path}: a {_bits(image)} image; expected 8-bit colour")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] not in (3, 4):
        raise RgbdFolderError(f"{path}: {image.shape[2]} channels; expected colour (3) or colour + alpha (4)")
    return np.ascontiguousarray(image[:, :, 2::-1])


def read_depth(path: Path, depth_scale: float | None) -> np.ndarray:
    """H×W float64 metres, 0 where the sensor has no reading (0, 65535 in a PNG; NaN in a .npy).

    A 16-bit PNG holds `depth_scale` units per metre (None: millimetres); a .npy holds float metres.
    """
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise RgbdFolderError(f"{path}: not a readable .npy array ({err})") from err
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
            raise RgbdFolderError(f"{path}: a {array.dtype} array of shape {array.shape}; expected H×W float metres")
        metres = array.astype(np.float64)
        return np.where(np.isfinite(metres), metres, 0.0)
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise RgbdFolderError(f"{path}: not a readable image")
    if raw.dtype != np.uint16:
        raise RgbdFolderError(f"{path}: a {_bits(raw)} image; expected a 16-bit depth PNG")
    if raw.ndim != 2:
        raise RgbdFolderError(f"{path}: {raw.shape[2]} channels; expected a single-channel depth PNG")
    metres = raw.astype(np.float64) / (PNG_DEPTH_SCALE if depth_scale is None else depth_scale)
    return np.where(raw == PNG_INVALID, 0.0, metres)
