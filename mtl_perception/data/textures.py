"""Procedural solid textures (plain, checker, stripes, value noise) evaluated at 3-D points.

Textures are functions of a surface's *local* coordinates, so they stay attached
to an object as the camera moves. Every material also gets a low-amplitude
noise "grain", so no surface is perfectly flat in colour.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Sequence

import numpy as np


class Pattern(IntEnum):
    PLAIN = 0
    CHECKER = 1
    STRIPES = 2
    NOISE = 3


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


def _noise_table() -> np.ndarray:
    # A fixed lattice of random values: the hash below indexes it, so the noise
    # is a pure function of position and identical across processes.
    table = np.random.default_rng(0x5EED).random(4096, dtype=np.float32)
    table.setflags(write=False)
    return table


_NOISE_TABLE = _noise_table()
# Multiplicative hash constants (odd, well mixed); the top 12 bits index the table.
_HASH = (np.uint32(0x9E3779B1), np.uint32(0x85EBCA77), np.uint32(0xC2B2AE3D))


def value_noise(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Smooth 3-D value noise in [0, 1] with unit lattice spacing (float32)."""
    fx, fy, fz = np.floor(x), np.floor(y), np.floor(z)
    # Smoothstep weights make the interpolation C¹ so there are no visible lattice creases.
    wx, wy, wz = (f * f * (3.0 - 2.0 * f) for f in (x - fx, y - fy, z - fz))
    hashes = []
    for f, h in zip((fx, fy, fz), _HASH):
        i0 = f.astype(np.int32).view(np.uint32) * h  # wraps modulo 2³², as intended
        hashes.append((i0, i0 + h))
    (hx0, hx1), (hy0, hy1), (hz0, hz1) = hashes

    def corner(hx: np.ndarray, hy: np.ndarray, hz: np.ndarray) -> np.ndarray:
        # np.take with an intp index is about twice as fast as fancy indexing with uint32.
        return np.take(_NOISE_TABLE, ((hx ^ hy ^ hz) >> np.uint32(20)).astype(np.intp))

    def lerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
        return a + (b - a) * w

    c00 = lerp(corner(hx0, hy0, hz0), corner(hx1, hy0, hz0), wx)
    c10 = lerp(corner(hx0, hy1, hz0), corner(hx1, hy1, hz0), wx)
    c01 = lerp(corner(hx0, hy0, hz1), corner(hx1, hy0, hz1), wx)
    c11 = lerp(corner(hx0, hy1, hz1), corner(hx1, hy1, hz1), wx)
    return lerp(lerp(c00, c10, wy), lerp(c01, c11, wy), wz)


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
        )

    def albedo(self, index: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Albedo (3×N float32) of material ``index`` (N, intp) at local points ``q`` (3×N)."""
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
        out = np.empty((3, index.shape[0]), dtype=np.float32)
        for a in range(3):
            c1 = np.take(self.color1[a], index)
            out[a] = (c1 + (np.take(self.color2[a], index) - c1) * w) * grain
        return out
