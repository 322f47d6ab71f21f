"""Photographic textures: fractal (1/f) mottling, wood planks, woven fabric and carpet.

Real surfaces show detail at every scale with an amplitude falling roughly as 1/frequency;
``noise.fbm`` gives that, band-limited to the pixel footprint so textures never alias. Each
pattern returns a mixing weight between a material's two colours and a brightness factor.
Coordinates are in the material's grain frame (u along the grain, v and w across it), in
pattern units (one unit = the material's ``scale``: a plank's width, a mottle's size).
"""
from __future__ import annotations

import numpy as np

from .noise import fade, fbm, lattice_noise, value_noise

# Photographic kinds, in the order of textures.Pattern from FRACTAL on.
FRACTAL, WOOD, FABRIC, CARPET = range(4)
_WEAVE = 24.0  # threads per pattern unit
_SPECKLE = 12.0  # carpet tufts per pattern unit
_SEAM = 0.02  # half width of a plank seam, in plank widths
_TAU = np.float32(2.0 * np.pi)


def _wood(u: np.ndarray, v: np.ndarray, w: np.ndarray, fp: np.ndarray, mottle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planks one unit wide across v, each a little lighter or darker, with streaks along u and dark seams."""
    plank = np.floor(v)
    jitter = lattice_noise(plank) - np.float32(0.5)
    # Streaks: noise stretched 16× along the grain, rings bent by it.
    streak = fbm(u * np.float32(0.5) + plank * np.float32(7.3), v * np.float32(8.0), w * np.float32(8.0), fp * 8.0, octaves=3)
    rings = np.sin(_TAU * (v * np.float32(2.5) + np.float32(6.0) * streak + jitter * np.float32(9.0)))
    mix = np.float32(0.5) + np.float32(0.8) * jitter + np.float32(0.25) * rings * fade(6.0, fp) + np.float32(1.5) * mottle
    edge = np.abs(v - np.floor(v + np.float32(0.5)))  # distance to the nearest seam
    shade = np.float32(1.0) - np.float32(0.4) * np.exp(-((edge / np.float32(_SEAM)) ** 2)) * fade(0.5 / _SEAM, fp)
    return mix, shade


def photo_weight(
    kind: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray, footprint: np.ndarray, contrast: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mixing weight in [0, 1] (colour1 .. colour2) and brightness factor per point, for photographic
    kind ``kind`` (N, int) at grain-frame points (u, v, w) seen through ``footprint`` (N, pattern units)."""
    mottle = fbm(u, v, w, footprint)
    mix = np.float32(0.5) + np.float32(1.8) * mottle  # FRACTAL
    shade = np.ones_like(u)
    for code in np.unique(kind):
        sel = np.flatnonzero(kind == code)
        if code == WOOD:
            mix[sel], shade[sel] = _wood(u[sel], v[sel], w[sel], footprint[sel], mottle[sel])
        elif code == FABRIC:
            weave = np.sin(_TAU * _WEAVE * u[sel]) * np.sin(_TAU * _WEAVE * v[sel]) * fade(_WEAVE, footprint[sel])
            mix[sel] = np.float32(0.5) + np.float32(1.5) * mottle[sel]
            shade[sel] += np.float32(0.12) * weave
        elif code == CARPET:
            f = np.float32(_SPECKLE)
            speckle = (value_noise(u[sel] * f, v[sel] * f, w[sel] * f) - np.float32(0.5)) * fade(_SPECKLE, footprint[sel])
            mix[sel] = np.float32(0.5) + np.float32(1.8) * mottle[sel] + np.float32(0.8) * speckle
    mix = np.float32(0.5) + contrast * (mix - np.float32(0.5))
    return np.clip(mix, 0.0, 1.0), shade
