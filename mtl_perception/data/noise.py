"""Smooth 3-D value noise and its fractal (1/f) sum, pure functions of position (numpy, float32).

The fractal sum fades out octaves finer than the pixel footprint instead of sampling them, so
distant or low-resolution textures are band-limited (no aliasing shimmer) and keep their mean.
"""
from __future__ import annotations

import numpy as np


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


def lattice_noise(i: np.ndarray) -> np.ndarray:
    """A value in [0, 1) per integer lattice cell ``i`` (float array of whole numbers): per-cell jitter."""
    return np.take(_NOISE_TABLE, ((i.astype(np.int32).view(np.uint32) * _HASH[0]) >> np.uint32(20)).astype(np.intp))


def fade(frequency: float, footprint: np.ndarray) -> np.ndarray:
    """Weight of a detail of ``frequency`` cycles per unit seen through pixels ``footprint`` units wide:
    1 well below the Nyquist rate, 0 at and above it."""
    return np.clip(2.0 - 4.0 * np.float32(frequency) * footprint, 0.0, 1.0)


def _rotation() -> np.ndarray:
    # A fixed rotation far from every axis: the lattice's grid is not aligned with walls and edges.
    a, b, c = 0.61, 0.83, 0.37
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


_ROTATION = _rotation()


def fbm(x: np.ndarray, y: np.ndarray, z: np.ndarray, footprint: np.ndarray, octaves: int = 5) -> np.ndarray:
    """Fractal noise with amplitude ∝ 1/frequency (a 1/f² power spectrum, as natural images have),
    centred on 0 with a std of about 0.2; octaves beyond the pixel footprint fade to their mean.
    Each octave's lattice is rotated by a further fixed rotation, so no grid shows."""
    total = np.zeros_like(x)
    for k in range(octaves):
        w = fade(2.0**k, footprint) * np.float32(0.5**k)
        if not w.any():
            break
        total += w * (value_noise(x, y, z) - np.float32(0.5))
        r = _ROTATION * np.float32(2.0)  # next octave: rotated, twice the frequency, shifted
        x, y, z = (r[i, 0] * x + r[i, 1] * y + r[i, 2] * z + np.float32(17.31 * (i + 1)) for i in range(3))
    return total
