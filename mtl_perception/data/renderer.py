"""Ray-cast a scene into an image with exact labels, depth and normals (numpy, vectorised over pixels).

One ray per pixel centre; the ground truth and the image come from the same
ray, so they agree exactly. Python loops run over objects and lights only, and
each object is intersected only inside the image rectangle its bounding box
projects to. Styled rendering (``style.RenderStyle``) adds shadows, highlights
and photographic textures (``lighting``, ``photo_textures``) and a camera response
with lens blur (OpenCV), white balance and display gamma; none of it touches the
ground truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .camera import Camera, Pose
from .camera_effects import gaussian_blur
from .classes import CEILING, FLOOR, WALL
from .primitives import NEAR, ROOM_FACE_NORMALS
from .lighting import LAMP_SOFTENING, shade_styled
from .scene import Scene
from .style import SensorModel, Shading
from .textures import MaterialTable, Pattern

__all__ = ["Frame", "Renderer", "SensorModel", "render"]

INVALID = -1
_ROOM_CLASSES = (WALL, WALL, WALL, WALL, FLOOR, CEILING)  # room face order
_GROUND = (0.36, 0.4, 0.3)  # colour seen looking down through a doorway


@dataclass(frozen=True, eq=False)
class Frame:
    """One rendered (or loaded) sample; see DESIGN §3 for the conventions."""

    image: np.ndarray  # float32 H×W×3 in [0, 1]
    label: np.ndarray  # int64 H×W, -1 = invalid
    depth: np.ndarray  # float32 H×W, metres along optical z, 0 = invalid
    normal: np.ndarray  # float32 H×W×3, unit, optical frame, all-zero = invalid
    pose: Pose | None = None  # camera-to-world pose when rendered


class Renderer:
    """Renders scenes through one camera; holds the per-camera ray grid.

    ``sensor`` is the camera response, ``shading`` the lighting model (default: the classic
    unshadowed Lambertian lamps); neither changes labels, depth or normals.
    """

    def __init__(self, camera: Camera, sensor: SensorModel = SensorModel(), shading: Shading = Shading()):
        self.camera = camera
        self.sensor = sensor
        self.shading = shading
        self._rx, self._ry = camera.rays()
        self._rx.setflags(write=False)
        self._ry.setflags(write=False)
        # Squared distance from the centre, 1 at the corners: the vignetting profile.
        r2 = self._rx**2 + self._ry**2
        self._r2 = (r2 / r2.max()).astype(np.float32)

    def _rect(self, lo: np.ndarray, hi: np.ndarray, pose: Pose) -> tuple[slice, slice] | None:
        """Image rectangle covering a world box's projection (None if fully behind the camera)."""
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        cam = pose.world_to_camera(corners)
        z = cam[:, 2]
        h, w = self.camera.height, self.camera.width
        if np.all(z <= NEAR):
            return None
        if np.any(z <= NEAR):  # straddles the image plane: projection is unbounded
            return slice(0, h), slice(0, w)
        u = self.camera.fx * cam[:, 0] / z + self.camera.cx
        v = self.camera.fy * cam[:, 1] / z + self.camera.cy
        u0, u1 = max(0, math.floor(u.min())), min(w, math.ceil(u.max()) + 1)
        v0, v1 = max(0, math.floor(v.min())), min(h, math.ceil(v.max()) + 1)
        if u0 >= u1 or v0 >= v1:
            return None
        return slice(v0, v1), slice(u0, u1)

    def render(self, scene: Scene, pose: Pose, rng: np.random.Generator | None = None) -> Frame:
        """Render ``scene`` from ``pose``; with ``rng`` the sensor adds exposure jitter and noise."""
        rot = pose.rotation.astype(np.float32)
        # World ray directions with optical z = 1, so a hit's ray parameter is its depth.
        d = tuple(rot[a, 0] * self._rx + rot[a, 1] * self._ry + rot[a, 2] for a in range(3))
        t, surface, visible = self._cast(scene, pose, d)
        valid = surface != INVALID
        depth = np.where(valid, t, np.float32(0.0))
        normal, local, points = self._surfaces(scene, pose.position, d, depth, surface, visible)
        radiance = self._shade(scene, surface, normal, local, points, pose.position, d, depth)
        invalid = np.flatnonzero(~valid)
        if invalid.size:
            radiance[:, invalid] = self._outside(scene, d, invalid)
        image = self._sensor(np.ascontiguousarray(radiance.reshape(3, *valid.shape).transpose(1, 2, 0)), rng)
        classes = np.array([*_ROOM_CLASSES, *(p.class_id for p in scene.primitives), INVALID], dtype=np.int64)
        # World -> optical frame is Rᵀ n; tensordot over the planar axis gives H×W×3 directly.
        normal_cam = np.tensordot(normal, rot, axes=([0], [0]))
        return Frame(
            image=image,
            label=np.take(classes, surface.astype(np.intp)),  # INVALID indexes the trailing -1
            depth=depth,
            normal=np.ascontiguousarray(normal_cam, dtype=np.float32),
            pose=pose,
        )

    def _cast(
        self, scene: Scene, pose: Pose, d: tuple[np.ndarray, ...]
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, tuple[slice, slice]]]]:
        """Nearest hit per pixel: distance t, surface id (room face 0..5, primitive k -> 6 + k,
        INVALID for none) and the (primitive, image rectangle) pairs that won any pixel."""
        origin = pose.position
        t, face = scene.room.intersect_faces(origin, *d)
        surface = face.astype(np.int16)
        self._cut_openings(scene, origin, d, t, surface)
        visible: list[tuple[int, tuple[slice, slice]]] = []
        for k, prim in enumerate(scene.primitives):
            rect = self._rect(*prim.bounds(), pose)
            if rect is None:
                continue
            tk = prim.intersect(origin, *(di[rect] for di in d))
            closer = tk < t[rect]
            if closer.any():
                np.copyto(t[rect], tk, where=closer)
                surface[rect][closer] = 6 + k
                visible.append((k, rect))
        return t, surface, visible

    @staticmethod
    def _surfaces(
        scene: Scene,
        origin: np.ndarray,
        d: tuple[np.ndarray, ...],
        depth: np.ndarray,
        surface: np.ndarray,
        visible: list[tuple[int, tuple[slice, slice]]],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World normals, texture coordinates and hit points, as planar 3×H×W arrays
        (planar so per-axis arithmetic runs on contiguous rows); normals are zero where invalid."""
        points = np.stack([np.float32(origin[a]) + depth * d[a] for a in range(3)])
        # Room faces: constant normals; texture coordinates are world coordinates.
        face_index = np.clip(surface, 0, 5).astype(np.intp)
        normal = np.stack([np.take(ROOM_FACE_NORMALS[:, a], face_index) for a in range(3)])
        local = points.copy()
        for k, rect in visible:
            rows, cols = np.nonzero(surface[rect] == 6 + k)
            if rows.size == 0:  # hidden again by a later primitive
                continue
            rows += rect[0].start
            cols += rect[1].start
            n, q = scene.primitives[k].surface(origin, *(di[rows, cols] for di in d), depth[rows, cols])
            normal[:, rows, cols] = n
            local[:, rows, cols] = q
        normal *= surface != INVALID
        return normal, local, points

    @staticmethod
    def _cut_openings(
        scene: Scene, origin: np.ndarray, d: tuple[np.ndarray, ...], t: np.ndarray, surface: np.ndarray
    ) -> None:
        """Rays leaving through a wall opening hit nothing: mark them invalid (in place)."""
        for op in scene.openings:
            on_wall = surface == op.wall
            u_axis = 1 if op.wall < 2 else 0  # along-wall coordinate: y on walls 0/1, x on walls 2/3
            u = np.float32(origin[u_axis]) + t * d[u_axis]
            z = np.float32(origin[2]) + t * d[2]
            hole = on_wall & (u >= op.u0) & (u <= op.u1) & (z >= op.z0) & (z <= op.z1)
            t[hole] = np.inf
            surface[hole] = INVALID

    def _shade(
        self,
        scene: Scene,
        surface: np.ndarray,
        normal: np.ndarray,
        local: np.ndarray,
        points: np.ndarray,
        origin: np.ndarray,
        d: tuple[np.ndarray, ...],
        depth: np.ndarray,
    ) -> np.ndarray:
        """Radiance (3×N planar): textured albedo × (ambient + Lambertian point lights), no shadows;
        with a styled ``Shading`` or glossy materials, ``lighting.shade_styled`` instead.

        Every pixel is shaded, invalid ones too (zero normal, arbitrary material) because
        whole-array arithmetic is cheaper than gathering the valid pixels; they are overwritten.
        """
        n = normal.reshape(3, -1)
        pts = points.reshape(3, -1)
        materials = MaterialTable.build([*scene.room_materials, *(prim.material for prim in scene.primitives)])
        index = surface.ravel().astype(np.intp)
        footprint = None
        if np.any(materials.pattern >= Pattern.FRACTAL):
            footprint = self._footprint(n, d, depth)
        albedo = materials.albedo(index, local.reshape(3, -1), footprint)
        if self.shading != Shading() or np.any(materials.specular > 0) or any(lamp.window for lamp in scene.lights):
            return shade_styled(scene, materials, index, albedo, n, pts, origin, self.shading, self.camera.width)
        light = np.empty_like(albedo)
        light[:] = np.asarray(scene.ambient, dtype=np.float32)[:, None]
        for lamp in scene.lights:
            lx, ly, lz = (np.float32(c) - pts[a] for a, c in enumerate(lamp.position))
            dist2 = lx * lx + ly * ly + lz * lz
            cos_dist = n[0] * lx + n[1] * ly + n[2] * lz  # cos θ · distance
            # I·cos θ / d², softened near the lamp (a lamp is not a point): no blown-out ceilings.
            irradiance = np.maximum(cos_dist, 0.0) / (np.sqrt(dist2) * (dist2 + LAMP_SOFTENING))
            light += np.asarray(lamp.color, dtype=np.float32)[:, None] * irradiance
        return albedo * light

    def _footprint(self, n: np.ndarray, d: tuple[np.ndarray, ...], depth: np.ndarray) -> np.ndarray:
        """(N,) metres a pixel spans on the surface: depth / f, stretched by the viewing slant
        (square root: the stretch is along one axis only)."""
        dx, dy, dz = (a.ravel() for a in d)
        cos = np.abs(n[0] * dx + n[1] * dy + n[2] * dz) / np.sqrt(dx * dx + dy * dy + dz * dz)
        pixel = depth.ravel() / np.float32(min(self.camera.fx, self.camera.fy))
        return pixel / np.sqrt(np.maximum(cos, np.float32(0.05)))

    @staticmethod
    def _outside(scene: Scene, d: tuple[np.ndarray, ...], pixels: np.ndarray) -> np.ndarray:
        """Colour (3×N) seen through openings: sky above the horizon, ground below."""
        dx, dy, dz = (a.ravel()[pixels] for a in d)
        elevation = dz / np.sqrt(dx * dx + dy * dy + dz * dz)
        horizon, zenith = (np.asarray(c, dtype=np.float32)[:, None] for c in scene.outside)
        up = np.clip(elevation * 2.5, 0.0, 1.0)
        down = np.clip(-elevation * 4.0, 0.0, 1.0)
        ground = np.asarray(_GROUND, dtype=np.float32)[:, None]
        return horizon + (zenith - horizon) * up + (ground - horizon) * down

    def _sensor(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Optics (blur, white balance) where the sensor model has them, auto-exposure, then (with rng)
        vignetting and signal-dependent noise, and the display gamma; clipped to [0, 1] in place."""
        s = self.sensor
        if s.blur is not None:
            image = gaussian_blur(image, _draw(s.blur, rng))
        if s.white_balance is not None:
            image *= gray_world_gains(image, _draw(s.white_balance, rng))
        target = float(np.mean(s.exposure_target)) if rng is None else rng.uniform(*s.exposure_target)
        gain = min(s.max_gain, target / max(float(image.mean()), 1e-6))
        image *= np.float32(gain)
        if rng is not None:
            image *= (1.0 - np.float32(rng.uniform(*s.vignetting)) * self._r2)[..., None]
            sigma = np.sqrt(image)  # radiance is never negative
            sigma *= np.float32(rng.uniform(*s.shot_noise))
            sigma += np.float32(rng.uniform(*s.read_noise))
            # Uniform noise of unit variance: indistinguishable here, and 4× cheaper than Gaussian.
            noise = rng.random(image.shape, dtype=np.float32) - np.float32(0.5)
            image += sigma * np.float32(math.sqrt(12.0)) * noise
        if s.gamma is not None:
            np.clip(image, 0.0, 1.0, out=image)
            image **= np.float32(1.0 / _draw(s.gamma, rng))
        return np.clip(image, 0.0, 1.0, out=image)


def _draw(bounds: tuple[float, float], rng: np.random.Generator | None) -> float:
    """A uniform draw from ``bounds``, or their middle without rng."""
    return float(np.mean(bounds)) if rng is None else float(rng.uniform(*bounds))


def gray_world_gains(image: np.ndarray, strength: float) -> np.ndarray:
    """Per-channel gains (3,) that move the image's mean colour towards grey by ``strength``
    (0: none, 1: a grey mean), keeping the mean brightness: a camera's auto white balance."""
    means = image.reshape(-1, image.shape[-1]).mean(axis=0).astype(np.float64)
    gains = (means.mean() / np.maximum(means, 1e-6)) ** strength
    return (gains * means.mean() / max(float(gains @ means) / len(means), 1e-9)).astype(np.float32)


def render(scene: Scene, pose: Pose, camera: Camera, rng: np.random.Generator | None = None) -> Frame:
    """One-off render; use ``Renderer`` to render many frames through the same camera."""
    return Renderer(camera).render(scene, pose, rng)
