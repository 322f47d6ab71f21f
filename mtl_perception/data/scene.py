"""Scene description and the random indoor-room generator.

A scene is a room (floor, four walls, ceiling) with openings in the walls
(windows and doorways: rays leaving through them hit nothing, so those pixels
are invalid), furniture assembled from boxes, spheres and cylinders, point
lights and an ambient term. Appearance priors overlap between classes on
purpose: colour alone must not identify a class.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from .classes import BALL, BIN, CABINET, CEILING, CHAIR, CRATE, FLOOR, NUM_CLASSES, PICTURE, TABLE, WALL
from .primitives import Box, Cylinder, Primitive, Room, Sphere
from .textures import Material, Pattern

RGB = tuple[float, float, float]
# keep_clear(x, y, radius) -> False where a floor disc must stay empty (e.g. a camera path).
KeepClear = Callable[[float, float, float], bool]


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
class Light:
    position: tuple[float, float, float]
    color: RGB  # radiant intensity per channel; irradiance falls off with distance²


@dataclass(frozen=True)
class Footprint:
    """Floor-plan disc an item occupies, for placing items and cameras without collisions."""

    x: float
    y: float
    radius: float
    height: float
    item: int


@dataclass(frozen=True, eq=False)
class Scene:
    room: Room
    room_materials: tuple[Material, ...]  # one per room face, in Room face order
    primitives: tuple[Primitive, ...] = ()
    openings: tuple[Opening, ...] = ()
    lights: tuple[Light, ...] = ()
    ambient: RGB = (0.35, 0.35, 0.35)
    footprints: tuple[Footprint, ...] = ()
    outside: tuple[RGB, RGB] = ((0.85, 0.88, 0.92), (0.45, 0.62, 0.9))  # horizon, zenith seen through openings

    def without_items(self, items: Sequence[int]) -> "Scene":
        """The same scene with the given furniture items removed."""
        drop = set(items)
        return replace(
            self,
            primitives=tuple(p for p in self.primitives if p.item not in drop),
            footprints=tuple(f for f in self.footprints if f.item not in drop),
        )

    def blocking_items(self, x: float, y: float, clearance: float) -> list[int]:
        """Items whose footprint comes within ``clearance`` of the floor point (x, y)."""
        return [f.item for f in self.footprints if math.hypot(f.x - x, f.y - y) < f.radius + clearance]

    def is_free(self, x: float, y: float, clearance: float) -> bool:
        """Whether a disc of radius ``clearance`` at (x, y) is inside the room and clear of all items."""
        lx, ly, _ = self.room.size
        inside = clearance <= x <= lx - clearance and clearance <= y <= ly - clearance
        return inside and not self.blocking_items(x, y, clearance)


# ---------------------------------------------------------------------------
# Appearance priors. Colour families are shared by several classes (wood is a
# floor, a table, a chair, a cabinet, a crate), so the colour distributions overlap.
_FAMILIES: tuple[tuple[float, float, float], ...] = (  # HSV
    (0.08, 0.55, 0.60),  # 0 wood
    (0.06, 0.60, 0.32),  # 1 dark wood
    (0.00, 0.00, 0.90),  # 2 white
    (0.00, 0.00, 0.55),  # 3 grey
    (0.11, 0.25, 0.85),  # 4 beige
    (0.60, 0.50, 0.60),  # 5 blue
    (0.00, 0.65, 0.65),  # 6 red
    (0.33, 0.45, 0.50),  # 7 green
    (0.14, 0.60, 0.85),  # 8 yellow
    (0.00, 0.00, 0.15),  # 9 black
)


@dataclass(frozen=True)
class _Appearance:
    families: tuple[float, ...]  # weight per colour family
    patterns: tuple[float, float, float, float]  # weight per Pattern: plain, checker, stripes, noise
    scale: tuple[float, float]  # pattern period range (m), sampled log-uniformly


_APPEARANCE: tuple[_Appearance, ...] = (
    _Appearance((3, 2, 0.5, 2, 1, 0.3, 0, 0, 0, 0), (1, 2, 3, 2), (0.12, 0.8)),  # floor
    _Appearance((0, 0, 3, 1, 3, 1, 0.3, 1, 0.5, 0), (3, 1, 1, 2), (0.1, 1.0)),  # wall
    _Appearance((0, 0, 5, 1, 1, 0, 0, 0, 0, 0), (4, 1, 0.5, 1), (0.2, 1.0)),  # ceiling
    _Appearance((3, 2, 1, 1, 0, 0, 0, 0, 0, 1), (1, 0.5, 2, 2), (0.05, 0.4)),  # table
    _Appearance((2, 1, 0, 1, 0, 1, 1, 0.5, 0, 2), (2, 0.5, 1, 1), (0.04, 0.3)),  # chair
    _Appearance((2, 1, 2, 1, 1, 0, 0, 0, 0, 0), (2, 0.5, 2, 1), (0.08, 0.6)),  # cabinet
    _Appearance((3, 0, 0, 1, 1, 0, 0, 0.5, 0, 0), (1, 1, 3, 1), (0.04, 0.25)),  # crate
    _Appearance((0, 0, 1, 0, 0, 2, 2, 2, 2, 0), (2, 2, 2, 1), (0.05, 0.3)),  # ball
    _Appearance((0, 0, 1, 2, 0, 1, 0.5, 1, 0, 2), (3, 1, 1, 1), (0.04, 0.3)),  # bin
    _Appearance((0, 0, 1, 0, 0, 1, 1, 1, 1, 1), (0.5, 2, 2, 3), (0.03, 0.3)),  # picture
)
assert len(_APPEARANCE) == NUM_CLASSES


def _choice(rng: np.random.Generator, weights: Sequence[float]) -> int:
    w = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(len(w), p=w / w.sum()))


def _triple(values) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in values)
    return (x, y, z)


def _family_rgb(rng: np.random.Generator, family: int) -> RGB:
    h, s, v = _FAMILIES[family]
    h = (h + rng.normal(0.0, 0.03)) % 1.0
    s = float(np.clip(s * rng.uniform(0.6, 1.3), 0.0, 1.0))
    v = float(np.clip(v * rng.uniform(0.75, 1.15), 0.05, 1.0))
    return _triple(colorsys.hsv_to_rgb(h, s, v))


def random_material(rng: np.random.Generator, class_id: int) -> Material:
    """A material drawn from the class's appearance prior."""
    prior = _APPEARANCE[class_id]
    family = _choice(rng, prior.families)
    color1 = _family_rgb(rng, family)
    if rng.random() < 0.3:  # a second colour from the same class prior, else a shade of the first
        color2 = _family_rgb(rng, _choice(rng, prior.families))
    else:
        k = rng.uniform(0.55, 0.85) if rng.random() < 0.7 else rng.uniform(1.15, 1.4)
        color2 = _triple(np.minimum(1.0, np.array(color1) * k))
    direction = rng.normal(size=3)
    if rng.random() < 0.7:  # mostly axis-aligned stripes (planks, panels); sometimes oblique
        direction = np.eye(3)[rng.integers(3)]
    lo, hi = prior.scale
    return Material(
        pattern=Pattern(_choice(rng, prior.patterns)),
        color1=color1,
        color2=color2,
        scale=float(math.exp(rng.uniform(math.log(lo), math.log(hi)))),
        direction=_triple(direction / np.linalg.norm(direction)),
        offset=_triple(rng.uniform(0.1, 0.9, size=3)),
        grain=float(rng.uniform(0.03, 0.2)),
    )


# ---------------------------------------------------------------------------
# Furniture builders. Each returns the parts of one item in world coordinates.


@dataclass(frozen=True)
class _Placement:
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
    at: _Placement, size: tuple[float, float, float], mat: Material, leg_mat: Material, item: int
) -> list[Primitive]:
    width, depth, height = size
    top = 0.02  # half thickness of the top
    board = at.box((0.0, 0.0, height - top), (width / 2, depth / 2, top), class_id=TABLE, material=mat, item=item)
    reach = (width / 2 - 0.06, depth / 2 - 0.06)
    return [board, *at.legs(reach, 0.05, height - 2 * top, class_id=TABLE, material=leg_mat, item=item)]


def _chair(at: _Placement, mat: Material, leg_mat: Material, item: int) -> list[Primitive]:
    """A chair facing +x in its own frame (backrest on the −x side)."""
    seat_h, half = 0.45, 0.22
    seat = at.box((0.0, 0.0, seat_h - 0.025), (half, half, 0.025), class_id=CHAIR, material=mat, item=item)
    back = at.box((-half + 0.02, 0.0, seat_h + 0.22), (0.02, half, 0.22), class_id=CHAIR, material=mat, item=item)
    reach = (half - 0.03, half - 0.03)
    return [seat, back, *at.legs(reach, 0.04, seat_h - 0.05, class_id=CHAIR, material=leg_mat, item=item)]


@dataclass
class _Layout:
    """Mutable state while one scene is being generated (local to ``random_scene``)."""

    size: tuple[float, float, float]
    rng: np.random.Generator
    primitives: list[Primitive] = field(default_factory=list)
    footprints: list[Footprint] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)
    tops: list[tuple[_Placement, float, float, float, int]] = field(default_factory=list)  # frame, w, d, h, item
    keep_clear: KeepClear | None = None
    next_item: int = 0

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


def _add_openings(lay: _Layout) -> None:
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


def _add_cabinets(lay: _Layout) -> None:
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
        mat = random_material(rng, CABINET)
        lay.add([Box(center=(x, y, height / 2), half=half, yaw=0.0, class_id=CABINET, material=mat, item=item)],
                x, y, radius * 0.7, height, item)


def _add_tables_and_chairs(lay: _Layout) -> None:
    rng = lay.rng
    for _ in range(int(rng.integers(0, 3))):
        width, depth, height = rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0), rng.uniform(0.7, 0.8)
        radius = math.hypot(width, depth) / 2
        spot = lay.random_spot(radius)
        if spot is None:
            continue
        # Mostly square to the walls, sometimes skewed.
        skew = rng.normal(0, 0.08) if rng.random() < 0.5 else rng.uniform(-0.8, 0.8)
        table = _Placement(*spot, yaw=float(rng.integers(4) * math.pi / 2 + skew))
        item = lay.new_item()
        mat = random_material(rng, TABLE)
        leg_mat = mat if rng.random() < 0.6 else random_material(rng, TABLE)
        lay.add(_table(table, (width, depth, height), mat, leg_mat, item), *spot, radius, height, item)
        lay.tops.append((table, width, depth, height, item))
        # Chairs at the table's sides, facing it (their footprints may overlap the table's).
        chair_mat, chair_leg = random_material(rng, CHAIR), random_material(rng, CHAIR)
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
            at = _Placement(cx, cy, math.atan2(table.y - cy, table.x - cx) + rng.normal(0, 0.15))
            lay.add(_chair(at, chair_mat, chair_leg, chair), cx, cy, 0.3, 0.9, chair)
    for _ in range(int(rng.integers(0, 3))):  # free-standing chairs
        spot = lay.random_spot(0.32)
        if spot is not None:
            item = lay.new_item()
            at = _Placement(*spot, yaw=rng.uniform(0, 2 * math.pi))
            lay.add(_chair(at, random_material(rng, CHAIR), random_material(rng, CHAIR), item), *spot, 0.32, 0.9, item)


def _table_spot(lay: _Layout, margin: float) -> tuple[float, float, float, int] | None:
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


def _add_crates(lay: _Layout) -> None:
    """Crates on the floor (sometimes stacked two high) or, smaller, on tables."""
    rng = lay.rng
    for _ in range(int(rng.integers(0, 5))):
        size = rng.uniform(0.25, 0.6)
        half = (size / 2, size * rng.uniform(0.7, 1.3) / 2, size * rng.uniform(0.6, 1.0) / 2)
        yaw = float(rng.uniform(0, 2 * math.pi))
        kw = dict(class_id=CRATE, material=random_material(rng, CRATE))
        top = _table_spot(lay, 0.2) if rng.random() < 0.3 else None
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


def _add_balls(lay: _Layout) -> None:
    rng = lay.rng
    for _ in range(int(rng.integers(0, 4))):
        mat = random_material(rng, BALL)
        top = _table_spot(lay, 0.15) if rng.random() < 0.3 else None
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


def _add_bins(lay: _Layout) -> None:
    rng = lay.rng
    for _ in range(int(rng.integers(0, 3))):
        r, h = rng.uniform(0.12, 0.25), rng.uniform(0.3, 0.7)
        spot = lay.random_spot(r)
        if spot is not None:
            item = lay.new_item()
            mat = random_material(rng, BIN)
            lay.add([Cylinder(*spot, z0=0.0, z1=h, radius=r, class_id=BIN, material=mat, item=item)], *spot, r, h, item)


def _add_pictures(lay: _Layout) -> None:
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
        mat = random_material(rng, PICTURE)
        lay.primitives.append(Box(center=(x, y, zc), half=half, yaw=0.0, class_id=PICTURE, material=mat, item=lay.new_item()))


def _tint(rng: np.random.Generator) -> np.ndarray:
    """Warm, neutral or cool light colour."""
    return np.array(((1.0, 0.93, 0.82), (1.0, 1.0, 1.0), (0.88, 0.94, 1.0))[int(rng.integers(3))])


def random_room_size(rng: np.random.Generator) -> tuple[float, float, float]:
    """Room extents (m) along x, y and z."""
    return (float(rng.uniform(3.5, 8.0)), float(rng.uniform(3.0, 7.0)), float(rng.uniform(2.4, 3.2)))


def random_scene(
    rng: np.random.Generator,
    size: tuple[float, float, float] | None = None,
    keep_clear: KeepClear | None = None,
) -> Scene:
    """A random furnished room; the same generator state gives the same scene.

    ``size`` fixes the room extents; ``keep_clear`` vetoes floor spots for furniture.
    """
    size = random_room_size(rng) if size is None else size
    lay = _Layout(size=size, rng=rng, keep_clear=keep_clear)
    _add_openings(lay)
    _add_cabinets(lay)
    _add_tables_and_chairs(lay)
    _add_crates(lay)
    _add_balls(lay)
    _add_bins(lay)
    _add_pictures(lay)

    wall = random_material(rng, WALL)
    walls = [wall] * 4
    if rng.random() < 0.25:  # an accent wall
        walls[int(rng.integers(4))] = random_material(rng, WALL)
    room_materials = (*walls, random_material(rng, FLOOR), random_material(rng, CEILING))

    lights = []
    for _ in range(int(rng.integers(1, 4))):  # ceiling lamps
        pos = (rng.uniform(0.2, 0.8) * size[0], rng.uniform(0.2, 0.8) * size[1], size[2] - rng.uniform(0.3, 0.6))
        lights.append(Light(position=_triple(pos), color=_triple(_tint(rng) * rng.uniform(1.5, 4.0))))
    sky = rng.uniform(0.8, 1.2)
    return Scene(
        room=Room(size=size),
        room_materials=room_materials,
        primitives=tuple(lay.primitives),
        openings=tuple(lay.openings),
        lights=tuple(lights),
        ambient=_triple(_tint(rng) * rng.uniform(0.2, 0.45)),
        footprints=tuple(lay.footprints),
        outside=(_triple(np.minimum(1.0, np.array([0.86, 0.9, 0.95]) * sky)),
                 _triple(np.minimum(1.0, np.array([0.45, 0.62, 0.92]) * sky))),
    )


def plain_material(rgb: RGB = (0.7, 0.7, 0.7)) -> Material:
    """A uniform material, for hand-built test scenes."""
    return Material(pattern=Pattern.PLAIN, color1=rgb, color2=rgb, grain=0.0)


def room_scene(
    size: tuple[float, float, float], primitives: Sequence[Primitive] = (), openings: Sequence[Opening] = ()
) -> Scene:
    """A hand-built scene: plain grey room lit by one light at the ceiling's centre."""
    light = Light(position=(size[0] / 2, size[1] / 2, size[2] - 0.2), color=(2.0, 2.0, 2.0))
    return Scene(
        room=Room(size=size),
        room_materials=tuple(plain_material() for _ in range(6)),
        primitives=tuple(primitives),
        openings=tuple(openings),
        lights=(light,),
    )
