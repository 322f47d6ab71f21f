"""Furniture layout of the random rooms: openings, cabinets, tables and chairs, crates, balls,
bins and pictures, placed on the floor plan without collisions."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .appearance import random_material
from .classes import BALL, BIN, CABINET, CHAIR, CRATE, PICTURE, TABLE
from .primitives import Box, Cylinder, Primitive, Sphere
from .textures import Material

# keep_clear(x, y, radius) -> False where a floor disc must stay empty (e.g. a camera path).
KeepClear = Callable[[float, float, float], bool]
# materials(rng, class_id) -> a material for a part of that class.
MaterialSource = Callable[[np.random.Generator, int], Material]


@dataclass(frozen=True)
class Opening:
    """Rectangular hole in wall ``wall`` (room face 0..3): along-wall span [u0, u1], heights [z0, z1].

    The along-wall coordinate u is world y on walls 0/1 (x = 0, x = Lx) and world x on walls 2/3.
    """

    wall: int
    u0: float
    u1: float
    z0: float
    z1: float



@dataclass(frozen=True)
class Footprint:
    """Floor-plan disc an item occupies, for placing items and cameras without collisions."""

    x: float
    y: float
    radius: float
    height: float
    item: int



# ---------------------------------------------------------------------------
# Furniture builders. Each returns the parts of one item in world coordinates.


@dataclass(frozen=True)
class Placement:
    """Floor-plan frame of one furniture item: its parts are given in this frame."""

    x: float
    y: float
    yaw: float

    def box(self, local: tuple[float, float, float], half: tuple[float, float, float], **kw) -> Box:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        lx, ly, z = local
        return Box(center=(self.x + c * lx - s * ly, self.y + s * lx + c * ly, z), half=half, yaw=self.yaw, **kw)

    def legs(self, reach: tuple[float, float], thickness: float, height: float, **kw) -> list[Primitive]:
        """Four square legs standing on the floor at (±reach[0], ±reach[1])."""
        half = (thickness / 2, thickness / 2, height / 2)
        return [self.box((sx * reach[0], sy * reach[1], height / 2), half, **kw) for sx in (-1, 1) for sy in (-1, 1)]


def _table(
    at: Placement, size: tuple[float, float, float], mat: Material, leg_mat: Material, item: int
) -> list[Primitive]:
    width, depth, height = size
    top = 0.02  # half thickness of the top
    board = at.box((0.0, 0.0, height - top), (width / 2, depth / 2, top), class_id=TABLE, material=mat, item=item)
    reach = (width / 2 - 0.06, depth / 2 - 0.06)
    return [board, *at.legs(reach, 0.05, height - 2 * top, class_id=TABLE, material=leg_mat, item=item)]


def _chair(at: Placement, mat: Material, leg_mat: Material, item: int) -> list[Primitive]:
    """A chair facing +x in its own frame (backrest on the −x side)."""
    seat_h, half = 0.45, 0.22
    seat = at.box((0.0, 0.0, seat_h - 0.025), (half, half, 0.025), class_id=CHAIR, material=mat, item=item)
    back = at.box((-half + 0.02, 0.0, seat_h + 0.22), (0.02, half, 0.22), class_id=CHAIR, material=mat, item=item)
    reach = (half - 0.03, half - 0.03)
    return [seat, back, *at.legs(reach, 0.04, seat_h - 0.05, class_id=CHAIR, material=leg_mat, item=item)]


@dataclass
class Layout:
    """Mutable state while one scene is being generated (local to ``random_scene``).

    ``materials`` draws every part's material (classic: ``random_material``); ``tables`` is the
    inclusive range of how many tables are tried.
    """

    size: tuple[float, float, float]
    rng: np.random.Generator
    primitives: list[Primitive] = field(default_factory=list)
    footprints: list[Footprint] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)
    tops: list[tuple[Placement, float, float, float, int]] = field(default_factory=list)  # frame, w, d, h, item
    keep_clear: KeepClear | None = None
    materials: MaterialSource = random_material
    tables: tuple[int, int] = (0, 2)  # how many tables to try to place (inclusive range)
    next_item: int = 0

    def material(self, class_id: int) -> Material:
        return self.materials(self.rng, class_id)

    def new_item(self) -> int:
        self.next_item += 1
        return self.next_item - 1

    def fits(self, x: float, y: float, radius: float, ignore: int = -1, gap: float = 0.08) -> bool:
        lx, ly, _ = self.size
        if not (radius + 0.02 <= x <= lx - radius - 0.02 and radius + 0.02 <= y <= ly - radius - 0.02):
            return False
        if self.keep_clear is not None and not self.keep_clear(x, y, radius):
            return False
        return all(
            f.item == ignore or math.hypot(f.x - x, f.y - y) >= f.radius + radius + gap for f in self.footprints
        )

    def random_spot(self, radius: float, tries: int = 20) -> tuple[float, float] | None:
        lx, ly, _ = self.size
        for _ in range(tries):
            x, y = self.rng.uniform(radius, lx - radius), self.rng.uniform(radius, ly - radius)
            if self.fits(x, y, radius):
                return x, y
        return None

    def add(self, parts: list[Primitive], x: float, y: float, radius: float, height: float, item: int) -> None:
        self.primitives.extend(parts)
        self.footprints.append(Footprint(x=x, y=y, radius=radius, height=height, item=item))

    def wall_span_free(self, wall: int, u0: float, u1: float, z0: float, z1: float, gap: float = 0.15) -> bool:
        """Whether a span on a wall keeps clear of the wall's openings."""
        return all(
            o.wall != wall or u1 + gap <= o.u0 or o.u1 + gap <= u0 or z1 <= o.z0 or o.z1 <= z0 for o in self.openings
        )

    def wall_length(self, wall: int) -> float:
        return self.size[1] if wall < 2 else self.size[0]

    def wall_point(self, wall: int, u: float, inset: float) -> tuple[float, float]:
        """Floor-plan point ``inset`` metres into the room from wall ``wall`` at along-wall u."""
        lx, ly, _ = self.size
        return ((inset, u), (lx - inset, u), (u, inset), (u, ly - inset))[wall]


def add_openings(lay: Layout) -> None:
    rng, lz = lay.rng, lay.size[2]
    kinds = ["window"] * int(rng.integers(0, 3)) + ["door"] * int(rng.integers(0, 2))
    for kind in kinds:
        for _ in range(10):
            wall = int(rng.integers(4))
            width = rng.uniform(0.8, 2.0) if kind == "window" else rng.uniform(0.8, 1.0)
            if width > lay.wall_length(wall) - 0.5:
                continue
            u0 = rng.uniform(0.25, lay.wall_length(wall) - width - 0.25)
            if kind == "window":
                z0 = rng.uniform(0.6, 1.1)
                z1 = min(lz - 0.2, z0 + rng.uniform(0.7, 1.5))
            else:
                z0, z1 = 0.0, min(lz - 0.1, rng.uniform(2.0, 2.2))
            # Openings never share a stretch of wall, whatever their heights.
            if lay.wall_span_free(wall, u0, u0 + width, 0.0, lz):
                lay.openings.append(Opening(wall=wall, u0=u0, u1=u0 + width, z0=z0, z1=z1))
                break


def add_cabinets(lay: Layout) -> None:
    rng = lay.rng
    for _ in range(int(rng.integers(0, 3))):
        wall = int(rng.integers(4))
        width, depth, height = rng.uniform(0.5, 1.5), rng.uniform(0.35, 0.6), rng.uniform(0.8, 2.1)
        if width > lay.wall_length(wall) - 0.4:
            continue
        u = rng.uniform(0.2 + width / 2, lay.wall_length(wall) - 0.2 - width / 2)
        if not lay.wall_span_free(wall, u - width / 2, u + width / 2, 0.0, height, gap=0.05):
            continue
        x, y = lay.wall_point(wall, u, depth / 2 + 0.01)
        radius = math.hypot(width, depth) / 2
        if not lay.fits(x, y, radius * 0.7):  # against a wall, the disc overstates the box
            continue
        half = (depth / 2, width / 2, height / 2) if wall < 2 else (width / 2, depth / 2, height / 2)
        item = lay.new_item()
        mat = lay.material(CABINET)
        lay.add([Box(center=(x, y, height / 2), half=half, yaw=0.0, class_id=CABINET, material=mat, item=item)],
                x, y, radius * 0.7, height, item)


def add_tables_and_chairs(lay: Layout) -> None:
    rng = lay.rng
    for _ in range(int(rng.integers(lay.tables[0], lay.tables[1] + 1))):
        width, depth, height = rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0), rng.uniform(0.7, 0.8)
        radius = math.hypot(width, depth) / 2
        spot = lay.random_spot(radius)
        if spot is None:
            continue
        # Mostly square to the walls, sometimes skewed.
        skew = rng.normal(0, 0.08) if rng.random() < 0.5 else rng.uniform(-0.8, 0.8)
        table = Placement(*spot, yaw=float(rng.integers(4) * math.pi / 2 + skew))
        item = lay.new_item()
        mat = lay.material(TABLE)
        leg_mat = mat if rng.random() < 0.6 else lay.material(TABLE)
        lay.add(_table(table, (width, depth, height), mat, leg_mat, item), *spot, radius, height, item)
        lay.tops.append((table, width, depth, height, item))
        # Chairs at the table's sides, facing it (their footprints may overlap the table's).
        chair_mat, chair_leg = lay.material(CHAIR), lay.material(CHAIR)
        for side in rng.permutation(4)[: int(rng.integers(0, 5))]:
            along_x = side < 2  # sides 0, 1 face the table's ±x ends; 2, 3 its ±y sides
            sign = 1 if side % 2 == 0 else -1
            dist = (width if along_x else depth) / 2 + rng.uniform(0.1, 0.3)
            slide = rng.uniform(-0.2, 0.2) * (depth if along_x else width)
            local = (sign * dist, slide) if along_x else (slide, sign * dist)
            c, s = math.cos(table.yaw), math.sin(table.yaw)
            cx, cy = table.x + c * local[0] - s * local[1], table.y + s * local[0] + c * local[1]
            if not lay.fits(cx, cy, 0.3, ignore=item, gap=0.02):
                continue
            chair = lay.new_item()
            at = Placement(cx, cy, math.atan2(table.y - cy, table.x - cx) + rng.normal(0, 0.15))
            lay.add(_chair(at, chair_mat, chair_leg, chair), cx, cy, 0.3, 0.9, chair)
    for _ in range(int(rng.integers(0, 3))):  # free-standing chairs
        spot = lay.random_spot(0.32)
        if spot is not None:
            item = lay.new_item()
            at = Placement(*spot, yaw=rng.uniform(0, 2 * math.pi))
            lay.add(_chair(at, lay.material(CHAIR), lay.material(CHAIR), item), *spot, 0.32, 0.9, item)


def table_spot(lay: Layout, margin: float) -> tuple[float, float, float, int] | None:
    """A random point on a table top: x, y, top height and the table's item id, ``margin`` from its edges.

    Objects put there take the table's item id, so removing the table removes them too.
    """
    if not lay.tops:
        return None
    table, w, d, h, item = lay.tops[int(lay.rng.integers(len(lay.tops)))]
    if w < 2 * margin or d < 2 * margin:
        return None
    u, v = lay.rng.uniform(-w / 2 + margin, w / 2 - margin), lay.rng.uniform(-d / 2 + margin, d / 2 - margin)
    c, s = math.cos(table.yaw), math.sin(table.yaw)
    return table.x + c * u - s * v, table.y + s * u + c * v, h, item


def add_crates(lay: Layout) -> None:
    """Crates on the floor (sometimes stacked two high) or, smaller, on tables."""
    rng = lay.rng
    for _ in range(int(rng.integers(0, 5))):
        size = rng.uniform(0.25, 0.6)
        half = (size / 2, size * rng.uniform(0.7, 1.3) / 2, size * rng.uniform(0.6, 1.0) / 2)
        yaw = float(rng.uniform(0, 2 * math.pi))
        kw = dict(class_id=CRATE, material=lay.material(CRATE))
        top = table_spot(lay, 0.2) if rng.random() < 0.3 else None
        if top is not None:
            x, y, base, table = top
            half = (half[0] / 2, half[1] / 2, half[2] / 2)
            lay.primitives.append(Box(center=(x, y, base + half[2]), half=half, yaw=yaw, item=table, **kw))
            continue
        radius = math.hypot(half[0], half[1])
        spot = lay.random_spot(radius)
        if spot is None:
            continue
        item = lay.new_item()
        parts: list[Primitive] = [Box(center=(*spot, half[2]), half=half, yaw=yaw, item=item, **kw)]
        height = 2 * half[2]
        if rng.random() < 0.25:
            small = tuple(h * rng.uniform(0.6, 0.9) for h in half)
            center = (*spot, height + small[2])
            parts.append(Box(center=center, half=small, yaw=yaw + rng.normal(0, 0.3), item=item, **kw))
            height += 2 * small[2]
        lay.add(parts, *spot, radius, height, item)


def add_balls(lay: Layout) -> None:
    rng = lay.rng
    for _ in range(int(rng.integers(0, 4))):
        mat = lay.material(BALL)
        top = table_spot(lay, 0.15) if rng.random() < 0.3 else None
        if top is not None:
            x, y, base, table = top
            r = rng.uniform(0.06, 0.14)
            lay.primitives.append(Sphere(center=(x, y, base + r), radius=r, class_id=BALL, material=mat, item=table))
            continue
        r = rng.uniform(0.1, 0.3)
        spot = lay.random_spot(r)
        if spot is not None:
            item = lay.new_item()
            lay.add([Sphere(center=(*spot, r), radius=r, class_id=BALL, material=mat, item=item)], *spot, r, 2 * r, item)


def add_bins(lay: Layout) -> None:
    rng = lay.rng
    for _ in range(int(rng.integers(0, 3))):
        r, h = rng.uniform(0.12, 0.25), rng.uniform(0.3, 0.7)
        spot = lay.random_spot(r)
        if spot is not None:
            item = lay.new_item()
            mat = lay.material(BIN)
            lay.add([Cylinder(*spot, z0=0.0, z1=h, radius=r, class_id=BIN, material=mat, item=item)], *spot, r, h, item)


def add_pictures(lay: Layout) -> None:
    rng, lz = lay.rng, lay.size[2]
    for _ in range(int(rng.integers(0, 4))):
        wall = int(rng.integers(4))
        width, height = rng.uniform(0.4, 1.2), rng.uniform(0.3, 0.9)
        zc = min(rng.uniform(1.3, 1.9), lz - 0.15 - height / 2)
        if width > lay.wall_length(wall) - 0.4:
            continue
        u = rng.uniform(0.2 + width / 2, lay.wall_length(wall) - 0.2 - width / 2)
        if not lay.wall_span_free(wall, u - width / 2, u + width / 2, zc - height / 2, zc + height / 2):
            continue
        x, y = lay.wall_point(wall, u, 0.017)  # 3 cm thick, 2 mm off the wall
        half = (0.015, width / 2, height / 2) if wall < 2 else (width / 2, 0.015, height / 2)
        mat = lay.material(PICTURE)
        lay.primitives.append(Box(center=(x, y, zc), half=half, yaw=0.0, class_id=PICTURE, material=mat, item=lay.new_item()))

