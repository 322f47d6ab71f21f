"""Scene description and the random indoor-room generator.

A scene is a room (floor, four walls, ceiling) with openings in the walls
(windows and doorways: rays leaving through them hit nothing, so those pixels
are invalid), furniture assembled from boxes, spheres and cylinders, point
lights and an ambient term. Appearance priors overlap between classes on
purpose: colour alone must not identify a class. A ``SceneStyle`` steers the
generator; its defaults are the classic rooms, draw for draw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Sequence

import numpy as np

from .appearance import RGB, random_material, styled_material, triple
from .classes import CEILING, FLOOR, WALL
from .clutter import add_clutter
from .furniture import (
    Footprint,
    KeepClear,
    Layout,
    Opening,
    add_balls,
    add_bins,
    add_cabinets,
    add_crates,
    add_openings,
    add_pictures,
    add_tables_and_chairs,
)
from .primitives import Primitive, Room
from .style import SceneStyle
from .textures import Material, Pattern

__all__ = ["Footprint", "KeepClear", "Light", "Opening", "Scene", "random_material", "random_room_size", "random_scene", "room_scene"]


@dataclass(frozen=True)
class Light:
    position: tuple[float, float, float]
    color: RGB  # radiant intensity per channel; irradiance falls off with distance²
    window: Opening | None = None  # daylight: the lamp is outside and shines in through this opening only
    radius: float | None = None  # area lamp's radius (m) for soft shadows; None: the Shading's lamp_radius


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


def _tint(rng: np.random.Generator) -> np.ndarray:
    """Warm, neutral or cool light colour."""
    return np.array(((1.0, 0.93, 0.82), (1.0, 1.0, 1.0), (0.88, 0.94, 1.0))[int(rng.integers(3))])


# Black-body colours (sRGB, D65 white, red = 1) by temperature in kelvin.
_KELVIN = np.array([2000.0, 2700.0, 3500.0, 4500.0, 5500.0, 6500.0, 8000.0])
_KELVIN_RGB = np.array([(1.0, 0.54, 0.16), (1.0, 0.655, 0.341), (1.0, 0.769, 0.537), (1.0, 0.859, 0.729),
                        (1.0, 0.925, 0.878), (1.0, 0.976, 0.992), (0.89, 0.91, 1.0)])


def kelvin_rgb(kelvin: float) -> np.ndarray:
    """Colour of a black body at ``kelvin`` (interpolated), red channel 1 below 6600 K."""
    return np.array([np.interp(kelvin, _KELVIN, _KELVIN_RGB[:, c]) for c in range(3)])


def _light_color(rng: np.random.Generator, style: SceneStyle) -> np.ndarray:
    if style.light_temperature is None:
        return _tint(rng)
    return kelvin_rgb(rng.uniform(*style.light_temperature))


def random_room_size(rng: np.random.Generator) -> tuple[float, float, float]:
    """Room extents (m) along x, y and z."""
    return (float(rng.uniform(3.5, 8.0)), float(rng.uniform(3.0, 7.0)), float(rng.uniform(2.4, 3.2)))


def _lamp_position(lay: Layout, style: SceneStyle) -> tuple[float, float, float]:
    """A ceiling lamp's position or, with probability ``low_lights``, a standing/desk lamp's."""
    rng, (lx, ly, lz) = lay.rng, lay.size
    if style.low_lights > 0 and rng.random() < style.low_lights:
        spot = lay.random_spot(0.15)
        if spot is not None:
            return (spot[0], spot[1], float(rng.uniform(0.6, 1.7)))
    return triple((rng.uniform(0.2, 0.8) * lx, rng.uniform(0.2, 0.8) * ly, lz - rng.uniform(0.3, 0.6)))


def _window_lights(lay: Layout, style: SceneStyle) -> list[Light]:
    """Daylight: for some windows (not doorways), a large bright lamp outside, above and in front,
    lighting a patch of the room through the window (sky light and sunshine)."""
    rng, lights = lay.rng, []
    for op in lay.openings:
        if op.z0 <= 0 or rng.random() >= style.window_light:
            continue
        distance, elevation = rng.uniform(1.5, 4.0), math.radians(rng.uniform(15.0, 55.0))
        u = (op.u0 + op.u1) / 2 + rng.uniform(-1.0, 1.0) * distance
        x, y = lay.wall_point(op.wall, u, -distance)
        z = (op.z0 + op.z1) / 2 + distance * math.tan(elevation)
        color = kelvin_rgb(rng.uniform(5000.0, 8000.0)) * rng.uniform(4.0, 12.0) * (1.0 + distance**2)
        lights.append(Light(position=(x, y, z), color=triple(color), window=op, radius=0.05 * distance))
    return lights


def _lights(lay: Layout, style: SceneStyle) -> list[Light]:
    rng = lay.rng
    lights = []
    for _ in range(int(rng.integers(style.lights[0], style.lights[1] + 1))):
        pos = _lamp_position(lay, style)
        lights.append(Light(position=pos, color=triple(_light_color(rng, style) * rng.uniform(*style.light_intensity))))
    if style.window_light > 0:
        lights += _window_lights(lay, style)
    return lights


def random_scene(
    rng: np.random.Generator,
    size: tuple[float, float, float] | None = None,
    keep_clear: KeepClear | None = None,
    style: SceneStyle | None = None,
) -> Scene:
    """A random furnished room; the same generator state gives the same scene.

    ``size`` fixes the room extents; ``keep_clear`` vetoes floor spots for furniture;
    ``style`` (default: classic) steers textures, furniture, clutter and lights.
    """
    style = SceneStyle() if style is None else style
    size = random_room_size(rng) if size is None else size
    materials = random_material if style.classic_materials else partial(styled_material, style=style)
    lay = Layout(size=size, rng=rng, keep_clear=keep_clear, materials=materials, tables=style.tables)
    for add in (add_openings, add_cabinets, add_tables_and_chairs, add_crates, add_balls, add_bins, add_pictures):
        add(lay)
    if style.clutter[1] > 0:
        add_clutter(lay, style.clutter, style.clutter_on_tables)

    wall = lay.material(WALL)
    walls = [wall] * 4
    if rng.random() < 0.25:  # an accent wall
        walls[int(rng.integers(4))] = lay.material(WALL)
    room_materials = (*walls, lay.material(FLOOR), lay.material(CEILING))
    lights = _lights(lay, style)
    sky = rng.uniform(0.8, 1.2)
    return Scene(
        room=Room(size=size),
        room_materials=room_materials,
        primitives=tuple(lay.primitives),
        openings=tuple(lay.openings),
        lights=tuple(lights),
        ambient=triple(_light_color(rng, style) * rng.uniform(*style.ambient)),
        footprints=tuple(lay.footprints),
        outside=(triple(np.minimum(1.0, np.array([0.86, 0.9, 0.95]) * sky)),
                 triple(np.minimum(1.0, np.array([0.45, 0.62, 0.92]) * sky))),
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
