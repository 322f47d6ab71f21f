"""Analytic ray–primitive intersection: room interior, yaw-rotated boxes, spheres, vertical cylinders.

All rays of one image share the camera centre ``origin`` (float64 3-vector);
directions come as float32 arrays ``dx, dy, dz`` of any (equal) shape and are
*not* normalised: with optical-frame z = 1 the hit parameter t is the depth.
``intersect`` returns t (inf on a miss); ``surface`` returns the world normal
and local texture coordinates of hits, each 3×N float32 (one row per axis:
planar, so later per-axis arithmetic runs on contiguous rows), for 1-D ray arrays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .textures import Material

NEAR = 1e-3  # hits closer than this (m) are ignored: the camera never sits on a surface
_INF = np.float32(np.inf)


def _room_normals() -> np.ndarray:
    # Inward normals of the room faces, in face order: the camera is always inside.
    n = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float32)
    n.setflags(write=False)
    return n


ROOM_FACE_NORMALS = _room_normals()


class Primitive(Protocol):
    """What the renderer needs from an object part."""

    class_id: int
    material: Material
    item: int  # parts of one furniture item share it (placement, path clearing)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]: ...

    def intersect(self, origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray) -> np.ndarray: ...

    def surface(
        self, origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, t: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...


def _stack(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.stack(np.broadcast_arrays(x, y, z)).astype(np.float32, copy=False)


def _entry(radius: float, o: tuple[np.float32, ...], d: tuple[np.ndarray, ...]) -> np.ndarray:
    """Entry distance of rays o + t·d into a ball of ``radius`` at the origin (2-D or 3-D; inf on a miss).

    Uses the closest-approach form: the squared distance h² of the ray from the centre is
    computed from a vector, not as b² − ac, so float32 does not cancel catastrophically at
    grazing rays (where it would misplace silhouette hits and tilt their normals away).
    """
    a = sum(di * di for di in d)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_closest = -sum(oi * di for oi, di in zip(o, d)) / a
        h2 = sum((oi + t_closest * di) ** 2 for oi, di in zip(o, d))
        t = t_closest - np.sqrt((np.float32(radius**2) - h2) / a)
    return np.where(t > NEAR, t, _INF)  # NaN (a miss: negative root) compares False


@dataclass(frozen=True, eq=False)
class Room:
    """Axis-aligned interior [0, Lx] × [0, Ly] × [0, Lz]; faces 0..5 are x=0, x=Lx, y=0, y=Ly, floor, ceiling."""

    size: tuple[float, float, float]

    def intersect_faces(
        self, origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exit distance t and face index (int8) of every ray cast from inside the room."""
        best_t: np.ndarray | None = None
        best_face: np.ndarray | None = None
        with np.errstate(divide="ignore", invalid="ignore"):
            for axis, d in enumerate((dx, dy, dz)):
                positive = d > 0
                # The far face along this axis is hi when the ray goes up the axis, lo otherwise.
                far = np.where(positive, np.float32(self.size[axis] - origin[axis]), np.float32(-origin[axis]))
                t = far / d
                # d = ±0 gives ±inf (the camera is strictly inside, so never 0/0): keep +inf only.
                t = np.where(t > 0, t, _INF)
                face = (2 * axis + positive).astype(np.int8)
                if best_t is None:
                    best_t, best_face = t, face
                else:
                    closer = t < best_t
                    best_t = np.where(closer, t, best_t)
                    best_face = np.where(closer, face, best_face)
        assert best_t is not None and best_face is not None
        return best_t.astype(np.float32, copy=False), best_face


@dataclass(frozen=True, eq=False)
class Box:
    """Box of half extents ``half`` centred at ``center``, rotated by ``yaw`` (rad) about world z."""

    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float
    class_id: int
    material: Material
    item: int = -1

    def _to_local(self, origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray):
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        rel = np.asarray(origin, dtype=np.float64) - np.asarray(self.center)
        o = (c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1], rel[2])
        fc, fs = np.float32(c), np.float32(s)
        return o, (fc * dx + fs * dy, fc * dy - fs * dx, dz)

    def _slabs(self, o, d) -> tuple[list[np.ndarray], np.ndarray]:
        """Entry distance per axis and the overall exit distance (slab method)."""
        return _slabs(o, d, self.half)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c, s = abs(math.cos(self.yaw)), abs(math.sin(self.yaw))
        hx, hy, hz = self.half
        ext = np.array([c * hx + s * hy, s * hx + c * hy, hz])
        return np.asarray(self.center) - ext, np.asarray(self.center) + ext

    def intersect(self, origin, dx, dy, dz):
        o, d = self._to_local(origin, dx, dy, dz)
        return _nearest_entry(*self._slabs(o, d))

    def surface(self, origin, dx, dy, dz, t):
        o, d = self._to_local(origin, dx, dy, dz)
        entries, _ = self._slabs(o, d)
        # The face hit is the slab entered last: exact, unlike guessing from the hit point.
        axis = np.argmax(np.stack(entries), axis=0)
        n_local = np.zeros((3, t.shape[0]), dtype=np.float32)
        n_local[axis, np.arange(t.shape[0])] = -np.sign(np.choose(axis, d))
        c, s = np.float32(math.cos(self.yaw)), np.float32(math.sin(self.yaw))
        normal = _stack(c * n_local[0] - s * n_local[1], s * n_local[0] + c * n_local[1], n_local[2])
        q = _stack(*(np.float32(oa) + t * da for oa, da in zip(o, d)))
        return normal, q


def _boxes_local(boxes, origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray):
    """``Box._to_local`` for K boxes at once: origins per axis K×1…1 (float64), directions per axis
    K×… (float32; dz is shared), for direction arrays of any shape."""
    shape = (len(boxes),) + (1,) * np.ndim(dx)
    c = np.array([math.cos(b.yaw) for b in boxes]).reshape(shape)  # math, as the scalar form
    s = np.array([math.sin(b.yaw) for b in boxes]).reshape(shape)
    rel = np.asarray(origin, dtype=np.float64) - np.array([b.center for b in boxes], dtype=np.float64)
    rx, ry, rz = (rel[:, a].reshape(shape) for a in range(3))
    fc, fs = c.astype(np.float32), s.astype(np.float32)
    return (c * rx + s * ry, -s * rx + c * ry, rz), (fc * dx + fs * dy, fc * dy - fs * dx, dz)


def _slabs(o, d, half) -> tuple[list[np.ndarray], np.ndarray]:
    """Entry distance per axis and the overall exit distance of rays into a box (slab method);
    with K boxes, o holds K×1…1 arrays, d K×… arrays and ``half`` is K×3."""
    entries, exit_t = [], None
    batched = np.ndim(o[0]) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for a, (oa, da) in enumerate(zip(o, d)):
            ha = np.asarray(half)[:, a].reshape(np.shape(oa)) if batched else half[a]
            lo, hi = (-ha - oa, ha - oa)
            inv = np.float32(1.0) / da
            ta = (lo.astype(np.float32) if batched else np.float32(lo)) * inv
            tb = (hi.astype(np.float32) if batched else np.float32(hi)) * inv
            entries.append(np.minimum(ta, tb))
            far = np.maximum(ta, tb)
            exit_t = far if exit_t is None else np.minimum(exit_t, far)
    return entries, exit_t


def _nearest_entry(entries: list[np.ndarray], exit_t: np.ndarray) -> np.ndarray:
    enter = np.maximum(np.maximum(entries[0], entries[1]), entries[2])
    hit = (enter <= exit_t) & (enter > NEAR)  # NaN (ray in a slab plane) compares False: a miss
    return np.where(hit, enter, _INF)


def intersect_boxes(boxes, origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """K×… entry distances of the rays into each of K boxes at once (inf on a miss)."""
    o, d = _boxes_local(boxes, origin, dx, dy, dz)
    return _nearest_entry(*_slabs(o, d, np.array([b.half for b in boxes], dtype=np.float64)))


@dataclass(frozen=True, eq=False)
class Sphere:
    center: tuple[float, float, float]
    radius: float
    class_id: int
    material: Material
    item: int = -1

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(self.center)
        return c - self.radius, c + self.radius

    def intersect(self, origin, dx, dy, dz):
        oc = (np.asarray(origin, dtype=np.float64) - np.asarray(self.center)).astype(np.float32)
        return _entry(self.radius, (oc[0], oc[1], oc[2]), (dx, dy, dz))

    def surface(self, origin, dx, dy, dz, t):
        oc = (np.asarray(origin, dtype=np.float64) - np.asarray(self.center)).astype(np.float32)
        q = _stack(oc[0] + t * dx, oc[1] + t * dy, oc[2] + t * dz)
        normal = q / np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
        return normal, q


@dataclass(frozen=True, eq=False)
class Cylinder:
    """Vertical capped cylinder: axis through (x, y), from height z0 to z1."""

    x: float
    y: float
    z0: float
    z1: float
    radius: float
    class_id: int
    material: Material
    item: int = -1

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.radius
        return np.array([self.x - r, self.y - r, self.z0]), np.array([self.x + r, self.y + r, self.z1])

    def _parts(self, origin, dx, dy, dz) -> tuple[np.ndarray, np.ndarray]:
        """Distances to the side and to the cap facing the camera (inf where missed)."""
        ox, oy, oz = (float(v) for v in np.asarray(origin, dtype=np.float64) - (self.x, self.y, 0.0))
        fx, fy = np.float32(ox), np.float32(oy)
        side = _entry(self.radius, (fx, fy), (dx, dy))  # infinite cylinder = circle in the floor plan
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.float32(oz) + side * dz
            side = np.where((z >= self.z0) & (z <= self.z1), side, _INF)
            if self.z0 <= oz <= self.z1:  # beside the cylinder: neither cap is visible
                return side, np.full_like(side, _INF)
            plane = self.z1 if oz > self.z1 else self.z0
            cap = np.float32(plane - oz) / dz
            px, py = fx + cap * dx, fy + cap * dy
            inside = (px * px + py * py <= np.float32(self.radius**2)) & (cap > NEAR)
        return side, np.where(inside, cap, _INF)

    def intersect(self, origin, dx, dy, dz):
        return np.minimum(*self._parts(origin, dx, dy, dz))

    def surface(self, origin, dx, dy, dz, t):
        side, cap = self._parts(origin, dx, dy, dz)
        rel = (np.asarray(origin, dtype=np.float64) - (self.x, self.y, self.z0)).astype(np.float32)
        q = _stack(rel[0] + t * dx, rel[1] + t * dy, rel[2] + t * dz)
        on_cap = cap <= side
        cap_sign = np.float32(1.0 if float(origin[2]) > self.z1 else -1.0)
        # Normalise the radial part rather than divide by r, so side normals are unit to rounding.
        inv_rho = np.float32(1.0) / np.maximum(np.hypot(q[0], q[1]), np.float32(1e-12))
        normal = _stack(
            np.where(on_cap, 0.0, q[0] * inv_rho),
            np.where(on_cap, 0.0, q[1] * inv_rho),
            np.where(on_cap, cap_sign, 0.0),
        )
        return normal, q
