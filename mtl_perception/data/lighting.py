"""Styled lighting (``Shading``): shadows from area lamps, Blinn-Phong highlights and darker room edges.

Appearance only: nothing here changes a pixel's label, depth or normal. Shadow rays are cast
*from the lamp* towards every lit point, so all rays share one origin and the primitives'
ordinary ``intersect`` applies; a point is in shadow when a primitive is hit before it
(ray parameter < 1). A bounding-sphere test over all (item, pixel) pairs at once keeps the
exact intersections to the few pixels each item can shadow. Area lamps are a few point
samples, interleaved over the pixels and resolved by a 3×3 tent within each surface.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .furniture import Opening
from .primitives import Box, Primitive, intersect_boxes
from .scene import Light, Scene
from .style import Shading
from .textures import MaterialTable

LAMP_SOFTENING = np.float32(0.8)  # m²: a lamp is not a point, so nothing right under it blows out
_SHADOW_EPS = 1e-3  # ray parameter margin: a point does not shadow itself
_CORNER_REACH = 0.25  # m: how far from a room edge the ambient darkening reaches
_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


def lamp_positions(light: Light, shading: Shading) -> list[np.ndarray]:
    """Point samples of the lamp: a horizontal disc (radius ``light.radius``, else the shading's
    ``lamp_radius``) sampled on a fixed sunflower pattern, deterministic so a render needs no rng."""
    radius = shading.lamp_radius if light.radius is None else light.radius
    k = shading.lamp_samples if radius > 0 else 1
    centre = np.asarray(light.position, dtype=np.float64)
    if k == 1:
        return [centre]
    return [
        centre + (radius * math.sqrt((i + 0.5) / k) * math.cos(i * _GOLDEN_ANGLE),
                  radius * math.sqrt((i + 0.5) / k) * math.sin(i * _GOLDEN_ANGLE), 0.0)
        for i in range(k)
    ]


def through_opening(lamp: np.ndarray, pts: np.ndarray, opening: Opening, size: tuple[float, float, float]) -> np.ndarray:
    """(M,) bool: whether the segment from a lamp outside the room to each point (pts 3×M) enters
    through ``opening`` (walls are opaque; a point on the opening's own wall faces away anyway)."""
    axis, u_axis = (0, 1) if opening.wall < 2 else (1, 0)
    plane = 0.0 if opening.wall % 2 == 0 else size[axis]
    d = pts - lamp[:, None].astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.float32(plane - lamp[axis]) / d[axis]
    u = np.float32(lamp[u_axis]) + t * d[u_axis]
    z = np.float32(lamp[2]) + t * d[2]
    return (t > 0) & (t <= 1) & (u >= opening.u0) & (u <= opening.u1) & (z >= opening.z0) & (z <= opening.z1)


class ShadowCaster:
    """The scene's primitives grouped by furniture item, each group bounded by a sphere, for
    casting shadow rays: built once per frame, queried once per lamp sample."""

    def __init__(self, primitives: Sequence[Primitive]):
        groups: dict[int, list[Primitive]] = {}
        for k, p in enumerate(primitives):
            groups.setdefault(p.item if p.item >= 0 else -1 - k, []).append(p)
        self.groups = list(groups.values())
        # Boxes of a group are intersected in one batch; spheres and cylinders one by one.
        self.boxes = [[p for p in g if isinstance(p, Box)] for g in self.groups]
        self.others = [[p for p in g if not isinstance(p, Box)] for g in self.groups]
        if not self.groups:
            return
        lo = np.array([np.min([p.bounds()[0] for p in g], axis=0) for g in self.groups])
        hi = np.array([np.max([p.bounds()[1] for p in g], axis=0) for g in self.groups])
        self.centre = (lo + hi) / 2
        self.radius2 = (np.sum((hi - lo) ** 2, axis=1) / 4).astype(np.float32)

    def in_shadow(self, lamp: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """(M,) bool: whether a primitive blocks the segment from ``lamp`` to each point (pts 3×M)."""
        shadow = np.zeros(pts.shape[1], dtype=bool)
        if not self.groups or pts.shape[1] == 0:
            return shadow
        d = pts - lamp[:, None].astype(np.float32)
        w = (self.centre - lamp).astype(np.float32)  # G×3, lamp to each group's sphere centre
        wd = w @ d  # G×M
        dd = np.einsum("am,am->m", d, d)
        t = np.minimum(np.maximum(wd / dd, np.float32(0.0)), np.float32(1.0))
        # Squared distance from each sphere centre to each segment, |w − t·d|², against the radius².
        wd *= np.float32(-2.0)
        wd += t * dd
        wd *= t
        near = wd < (self.radius2 - np.einsum("ga,ga->g", w, w))[:, None]
        for k in np.flatnonzero(near.any(axis=1)):
            sel = np.flatnonzero(near[k] & ~shadow)
            if self.boxes[k] and sel.size:
                hit = intersect_boxes(self.boxes[k], lamp, d[0, sel], d[1, sel], d[2, sel]).min(axis=0) < 1.0 - _SHADOW_EPS
                shadow[sel[hit]] = True
                sel = sel[~hit]
            for part in self.others[k]:
                if sel.size:
                    hit = part.intersect(lamp, d[0, sel], d[1, sel], d[2, sel]) < 1.0 - _SHADOW_EPS
                    shadow[sel[hit]] = True
                    sel = sel[~hit]
        return shadow


def surface_mean(values: np.ndarray, surface: np.ndarray, width: int) -> np.ndarray:
    """(N,) tent-weighted (1-2-1) mean of ``values`` over each pixel's 3×3 neighbourhood, counting
    only neighbours on the same surface (nothing bleeds across an object's outline). The tent is
    the sum of the four 2×2 windows holding the pixel, each of which holds every interleaved lamp
    sample once, so on one surface it resolves the samples into their exact mean."""
    v, s = values.reshape(-1, width), surface.reshape(-1, width)
    h = v.shape[0]
    vp, sp = np.pad(v, 1, mode="edge"), np.pad(s, 1, mode="edge")
    total, weight = np.zeros_like(v), np.zeros_like(v)
    for dy in range(3):
        for dx in range(3):
            w = np.float32((2 - abs(dy - 1)) * (2 - abs(dx - 1)))
            same = sp[dy : dy + h, dx : dx + width] == s
            total += np.where(same, vp[dy : dy + h, dx : dx + width] * w, np.float32(0.0))
            weight += same * w
    return (total / weight).ravel()


def corner_factor(scene: Scene, surface: np.ndarray, pts: np.ndarray, strength: float) -> np.ndarray:
    """(N,) ambient factor: 1 − strength·exp(−d / reach), d the distance to the nearest room face
    other than the one the point lies on (room edges, and object parts near the floor or a wall)."""
    size = scene.room.size
    nearest = np.full(pts.shape[1], np.inf, dtype=np.float32)
    for face in range(6):
        axis, far = divmod(face, 2)
        dist = np.abs(pts[axis] - np.float32(size[axis] if far else 0.0))
        np.minimum(nearest, np.where(surface == face, np.float32(np.inf), dist), out=nearest)
    return np.float32(1.0) - np.float32(strength) * np.exp(-nearest / np.float32(_CORNER_REACH))


def _blocked(
    scene: Scene, lamp: Light, shading: Shading, caster: ShadowCaster | None, pts: np.ndarray, sample: np.ndarray
) -> np.ndarray:
    """(M,) bool: points (3×M) the lamp does not reach. Each point tests one of the lamp's samples,
    ``sample`` (M,) saying which: interleaved over the pixels (``surface_mean`` then resolves the
    dither into a penumbra), so soft shadows cost what one sample does."""
    blocked = np.zeros(pts.shape[1], dtype=bool)
    positions = lamp_positions(lamp, shading)
    for k, position in enumerate(positions):
        sel = np.flatnonzero(sample % len(positions) == k) if len(positions) > 1 else np.arange(pts.shape[1])
        if caster is not None:
            blocked[sel] = caster.in_shadow(position, pts[:, sel])
        if lamp.window is not None:
            blocked[sel] |= ~through_opening(position, pts[:, sel], lamp.window, scene.room.size)
    return blocked


def shade_styled(
    scene: Scene,
    materials: MaterialTable,
    index: np.ndarray,
    albedo: np.ndarray,
    normal: np.ndarray,
    pts: np.ndarray,
    origin: np.ndarray,
    shading: Shading,
    width: int,
) -> np.ndarray:
    """Radiance (3×N planar): albedo × (ambient + shadowed Lambertian lamps) + lamp-coloured highlights.

    ``index`` is each pixel's material (N), ``normal`` and ``pts`` 3×N world normals (zero where
    invalid) and hit points of an image ``width`` pixels wide, ``origin`` the camera centre.
    """
    light = np.empty_like(albedo)
    light[:] = np.asarray(scene.ambient, dtype=np.float32)[:, None]
    if shading.corner_shade > 0:
        light *= corner_factor(scene, index, pts, shading.corner_shade)
    ks, shininess = np.take(materials.specular, index), np.take(materials.shininess, index)
    glossy = np.flatnonzero(ks > 0)
    view = np.float32(origin)[:, None] - pts[:, glossy]
    view /= np.maximum(np.sqrt((view * view).sum(0)), np.float32(1e-6))
    highlight = np.zeros_like(albedo)
    caster = ShadowCaster(scene.primitives) if shading.shadows else None
    pixel = np.arange(pts.shape[1])
    sample = (pixel % width + 2 * (pixel // width)) % shading.lamp_samples  # every 2×2 block holds 4 samples
    smooth = shading.lamp_samples > 1
    for lamp in scene.lights:
        color = np.asarray(lamp.color, dtype=np.float32)[:, None]
        to_lamp = np.float32(lamp.position)[:, None] - pts
        dist2 = (to_lamp * to_lamp).sum(0)
        cos_dist = (normal * to_lamp).sum(0)  # cos θ · distance
        irradiance = np.maximum(cos_dist, 0.0) / (np.sqrt(dist2) * (dist2 + LAMP_SOFTENING))
        if caster is not None or lamp.window is not None:
            lit = np.flatnonzero(irradiance > 0)
            visible = np.ones_like(irradiance)
            visible[lit[_blocked(scene, lamp, shading, caster, pts[:, lit], sample[lit])]] = 0.0
            irradiance *= surface_mean(visible, index, width) if smooth else visible
        light += color * irradiance
        if glossy.size:
            half = to_lamp[:, glossy] / np.sqrt(dist2[glossy]) + view
            half /= np.maximum(np.sqrt((half * half).sum(0)), np.float32(1e-6))
            cos_h = np.maximum((normal[:, glossy] * half).sum(0), 0.0)
            s = shininess[glossy]
            # Normalised Blinn-Phong: a sharper highlight is brighter, with the same energy.
            highlight[:, glossy] += color * (ks[glossy] * (s + 8) / 8 * cos_h**s * irradiance[glossy])
    return albedo * light + highlight
