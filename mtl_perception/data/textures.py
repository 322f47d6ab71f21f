"""Procedural solid textures (plain, checker, stripes, value noise, and the photographic ones of
``photo_textures``: fractal, wood, fabric, carpet) evaluated at 3-D points.

Textures are functions of a surface's *local* coordinates, so they stay attached
to an object as the camera moves. Every classic material also gets a low-amplitude
noise "grain", so no surface is perfectly flat in colour.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum
from typing import Sequence

import numpy as np

from .noise import value_noise
from .photo_textures import photo_weight


class Pattern(IntEnum):
    PLAIN = 0
    CHECKER = 1
    STRIPES = 2
    NOISE = 3
    # Photographic textures (``photo_textures``), band-limited to the pixel footprint.
    FRACTAL = 4  # 1/f mottling: plaster, stone, painted and printed surfaces
    WOOD = 5  # planks along ``direction`` with streaky grain and seams
    FABRIC = 6  # a fine weave over mottling
    CARPET = 7  # fine speckle over mottling


PHOTO_PATTERNS = (Pattern.FRACTAL, Pattern.WOOD, Pattern.FABRIC, Pattern.CARPET)


@dataclass(frozen=True)
class Material:
    """Albedo pattern of one surface; colours are RGB in [0, 1]."""

    pattern: Pattern
    color1: tuple[float, float, float]
    color2: tuple[float, float, float]
    scale: float = 0.3  # pattern period (m)
    direction: tuple[float, float, float] = (1.0, 0.0, 0.0)  # stripe normal, local frame
    offset: tuple[float, float, float] = (0.123, 0.456, 0.789)  # keeps cell edges off flat faces
    grain: float = 0.08  # relative amplitude of the noise every pattern carries
    contrast: float = 1.0  # photographic textures: amplitude of the colour1..colour2 mixing
    specular: float = 0.0  # strength of the lamps' highlights (0: matte)
    shininess: float = 30.0  # Blinn-Phong exponent: larger is a smaller, sharper highlight


@dataclass(frozen=True)
class MaterialTable:
    """Materials stacked into arrays (one row per parameter component), so each per-pixel
    parameter is a single ``np.take``: far cheaper than 2-D fancy indexing."""

    pattern: np.ndarray  # (K,) int8
    color1: np.ndarray  # (3, K) float32
    color2: np.ndarray  # (3, K) float32
    inv_scale: np.ndarray  # (K,) float32
    direction: np.ndarray  # (3, K) float32
    offset: np.ndarray  # (3, K) float32
    grain: np.ndarray  # (K,) float32
    contrast: np.ndarray  # (K,) float32
    specular: np.ndarray  # (K,) float32
    shininess: np.ndarray  # (K,) float32
    frame: np.ndarray  # (3, 3, K) float32: direction and two unit vectors across it (grain frame)

    @classmethod
    def build(cls, materials: Sequence[Material]) -> "MaterialTable":
        def rows(values) -> np.ndarray:
            return np.ascontiguousarray(np.array(values, dtype=np.float32).reshape(-1, 3).T)

        return cls(
            pattern=np.array([int(m.pattern) for m in materials], dtype=np.int8),
            color1=rows([m.color1 for m in materials]),
            color2=rows([m.color2 for m in materials]),
            inv_scale=np.array([1.0 / m.scale for m in materials], dtype=np.float32),
            direction=rows([m.direction for m in materials]),
            offset=rows([m.offset for m in materials]),
            grain=np.array([m.grain for m in materials], dtype=np.float32),
            contrast=np.array([m.contrast for m in materials], dtype=np.float32),
            specular=np.array([m.specular for m in materials], dtype=np.float32),
            shininess=np.array([m.shininess for m in materials], dtype=np.float32),
            frame=np.ascontiguousarray(np.stack([_grain_frame(m.direction) for m in materials], axis=-1), dtype=np.float32),
        )

    def albedo(self, index: np.ndarray, q: np.ndarray, footprint: np.ndarray | None = None) -> np.ndarray:
        """Albedo (3×N float32) of material ``index`` (N, intp) at local points ``q`` (3×N);
        ``footprint`` (N, metres per pixel there) band-limits the photographic textures."""
        photo = self.pattern >= Pattern.FRACTAL
        if not photo.any():
            return self._classic(index, q)
        is_photo = np.take(photo, index)
        out = np.empty((3, index.shape[0]), dtype=np.float32)
        plain, textured = np.flatnonzero(~is_photo), np.flatnonzero(is_photo)
        out[:, plain] = self._classic(index[plain], q[:, plain])
        fp = np.zeros(textured.shape, np.float32) if footprint is None else footprint[textured]
        out[:, textured] = self._photo(index[textured], q[:, textured], fp)
        return out

    def _photo(self, index: np.ndarray, q: np.ndarray, footprint: np.ndarray) -> np.ndarray:
        """Albedo of the photographic patterns, in their grain frame (pattern units)."""
        s = np.take(self.inv_scale, index)
        p = [(q[a] + np.take(self.offset[a], index)) * s for a in range(3)]
        u, v, w = (sum(p[a] * np.take(self.frame[k, a], index) for a in range(3)) for k in range(3))
        kind = np.take(self.pattern, index).astype(np.int8) - np.int8(Pattern.FRACTAL)
        mix, shade = photo_weight(kind, u, v, w, footprint * s, np.take(self.contrast, index))
        return self._mix(index, mix, shade)

    def _mix(self, index: np.ndarray, w: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """(color1 + (color2 − color1)·w)·factor per pixel: 3×N."""
        out = np.empty((3, index.shape[0]), dtype=np.float32)
        for a in range(3):
            c1 = np.take(self.color1[a], index)
            out[a] = (c1 + (np.take(self.color2[a], index) - c1) * w) * factor
        return out

    def _classic(self, index: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Albedo of the classic patterns (plain, checker, stripes, noise), grain included."""
        s = np.take(self.inv_scale, index)
        # Pattern space: one period per unit; planar rows keep every operation contiguous.
        x, y, z = ((q[a] + np.take(self.offset[a], index)) * s for a in range(3))
        n = value_noise(x, y, z)
        # Every pattern is evaluated everywhere and then selected: whole-array arithmetic is
        # cheaper than gathering and scattering each pattern's pixels.
        checker = ((np.floor(x) + np.floor(y) + np.floor(z)).astype(np.int32) & 1).astype(np.float32)
        phase = x * np.take(self.direction[0], index) + y * np.take(self.direction[1], index)
        phase += z * np.take(self.direction[2], index)
        stripes = (phase - np.floor(phase) >= 0.5).astype(np.float32)
        pattern = np.take(self.pattern, index)
        w = np.where(pattern == Pattern.CHECKER, checker, np.where(pattern == Pattern.STRIPES, stripes, 0.0))
        w = np.where(pattern == Pattern.NOISE, n, w)  # mixing weight: color1 (0) .. color2 (1)
        # The same noise doubles as grain, so plain surfaces are not flat in colour either.
        grain = 1.0 + np.take(self.grain, index) * (2.0 * n - 1.0)
        return self._mix(index, w, grain)


@functools.lru_cache(maxsize=4096)
def _grain_frame(direction: tuple[float, float, float]) -> np.ndarray:
    """3×3 rows: the unit grain direction, a unit vector across it (horizontal where it can be),
    and their cross product."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    across = np.cross(d, (0.0, 0.0, 1.0))
    if np.linalg.norm(across) < 1e-3:  # vertical grain: any horizontal vector is across it
        across = np.array([1.0, 0.0, 0.0])
    across /= np.linalg.norm(across)
    frame = np.stack([d, across, np.cross(d, across)])
    frame.setflags(write=False)  # cached and shared
    return frame
