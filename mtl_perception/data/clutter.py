"""Clutter for randomised rooms: many small objects (boxes, book stacks, screens, cups and cans,
balls) on table tops and on the floor, labelled with the existing classes (crate, bin, ball),
and sheets of paper lying on tables (labelled table: they are part of its top surface).

Nothing interpenetrates: every new part's bounding box must clear every existing part's
(touching is allowed, so objects stand on tables and books on books).
"""
from __future__ import annotations

import math

import numpy as np

from .classes import BALL, BIN, CRATE, TABLE
from .furniture import Layout, table_spot
from .primitives import Box, Cylinder, Primitive, Sphere
from .textures import Material, Pattern

_CLEAR = 0.005  # m between bounding boxes


def _clear(lay: Layout, parts: list[Primitive]) -> bool:
    """Whether the parts' bounding boxes keep clear of every part already in the room."""
    if not lay.primitives:
        return True
    bounds = np.array([np.concatenate(p.bounds()) for p in lay.primitives])  # P×6: lo, hi
    for part in parts:
        lo, hi = part.bounds()
        lo, hi = lo + _CLEAR, hi - _CLEAR  # shrunk: touching faces do not count
        if np.any(np.all(lo < bounds[:, 3:], axis=1) & np.all(bounds[:, :3] < hi, axis=1)):
            return False
    return True


def _book_stack(lay: Layout, x: float, y: float, base: float, item: int) -> list[Primitive]:
    rng = lay.rng
    parts: list[Primitive] = []
    yaw = rng.uniform(0, math.pi)
    for _ in range(int(rng.integers(1, 5))):
        half = (rng.uniform(0.07, 0.15), rng.uniform(0.05, 0.11), rng.uniform(0.008, 0.025))
        center = (x + rng.normal(0, 0.01), y + rng.normal(0, 0.01), base + half[2])
        parts.append(Box(center=center, half=half, yaw=yaw + rng.normal(0, 0.15), class_id=CRATE, material=lay.material(CRATE), item=item))
        base += 2 * half[2]
    return parts


def _screen(lay: Layout, x: float, y: float, base: float, item: int) -> list[Primitive]:
    """A flat screen on a stand: a thin dark upright panel (a box, labelled crate)."""
    rng = lay.rng
    yaw, width, height = rng.uniform(0, math.pi), rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.4)
    dark = float(rng.uniform(0.02, 0.08))
    mat = Material(pattern=Pattern.PLAIN, color1=(dark,) * 3, color2=(dark,) * 3, grain=0.02,
                   specular=float(rng.uniform(0.2, 0.8)), shininess=float(rng.uniform(40.0, 200.0)))
    stand = Box(center=(x, y, base + 0.05), half=(0.03, 0.03, 0.05), yaw=yaw, class_id=CRATE, material=mat, item=item)
    panel = Box(center=(x, y, base + 0.1 + height / 2), half=(0.015, width / 2, height / 2), yaw=yaw,
                class_id=CRATE, material=mat, item=item)
    return [stand, panel]


def _paper(lay: Layout, x: float, y: float, base: float, item: int) -> list[Primitive]:
    """A sheet or a small stack of paper lying flat on a table top (labelled table)."""
    rng = lay.rng
    grey = float(rng.uniform(0.75, 0.95))
    mat = Material(pattern=Pattern.PLAIN, color1=(grey, grey, grey * rng.uniform(0.93, 1.0)), color2=(grey,) * 3, grain=0.03)
    half = (0.105, 0.1485, float(rng.uniform(0.001, 0.01)))  # A4
    return [Box(center=(x, y, base + half[2]), half=half, yaw=rng.uniform(0, math.pi), class_id=TABLE, material=mat, item=item)]


def _small_object(lay: Layout, x: float, y: float, base: float, item: int, on_table: bool) -> list[Primitive]:
    """One small object (or a stack of books) standing at (x, y) on a surface at height ``base``."""
    rng = lay.rng
    kind = int(rng.choice(6, p=[0.2, 0.15, 0.3, 0.1, 0.1, 0.15]))
    if kind == 0:  # a box
        s = math.exp(rng.uniform(math.log(0.06), math.log(0.35)))
        half = (s / 2, s * rng.uniform(0.5, 1.2) / 2, s * rng.uniform(0.3, 1.0) / 2)
        return [Box(center=(x, y, base + half[2]), half=half, yaw=rng.uniform(0, math.pi), class_id=CRATE,
                    material=lay.material(CRATE), item=item)]
    if kind == 1:
        return _book_stack(lay, x, y, base, item)
    if kind == 2:  # a cup, can, bottle or waste bin
        r, h = rng.uniform(0.03, 0.12), rng.uniform(0.06, 0.35)
        return [Cylinder(x, y, z0=base, z1=base + h, radius=r, class_id=BIN, material=lay.material(BIN), item=item)]
    if kind == 3:
        r = rng.uniform(0.03, 0.12)
        return [Sphere(center=(x, y, base + r), radius=r, class_id=BALL, material=lay.material(BALL), item=item)]
    if on_table:
        return _screen(lay, x, y, base, item) if kind == 4 else _paper(lay, x, y, base, item)
    return _book_stack(lay, x, y, base, item)


def _radius(parts: list[Primitive], x: float, y: float) -> float:
    lo = np.min([p.bounds()[0] for p in parts], axis=0)
    hi = np.max([p.bounds()[1] for p in parts], axis=0)
    return float(max(abs(lo[0] - x), abs(hi[0] - x), abs(lo[1] - y), abs(hi[1] - y)) * math.sqrt(2))


def add_clutter(lay: Layout, count: tuple[int, int], on_tables: float) -> None:
    """Between count[0] and count[1] small objects, each on a table with probability ``on_tables``
    (taking the table's item id, so clearing the table clears them) or else on the floor."""
    rng = lay.rng
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        top = table_spot(lay, 0.1) if rng.random() < on_tables else None
        if top is not None:
            x, y, base, table = top
            parts = _small_object(lay, x, y, base, table, on_table=True)
            if _clear(lay, parts):
                lay.primitives.extend(parts)
            continue
        spot = lay.random_spot(0.2)
        if spot is None:
            continue
        item = lay.new_item()
        parts = _small_object(lay, *spot, 0.0, item, on_table=False)
        if _clear(lay, parts):
            height = max(p.bounds()[1][2] for p in parts)
            lay.add(parts, *spot, _radius(parts, *spot), float(height), item)
