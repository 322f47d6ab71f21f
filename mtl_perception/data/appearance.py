"""Appearance priors: colour families shared by several classes and per-class pattern weights,
so colour alone never identifies a class (``random_material``, the classic scenes), and the
randomised materials of ``styled_material``: random palettes with indoor saturation,
photographic textures and highlights, drawn on top of the classic prior."""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .classes import CEILING, NUM_CLASSES, WALL
from .style import SceneStyle
from .textures import PHOTO_PATTERNS, Material, Pattern

RGB = tuple[float, float, float]

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


def choice(rng: np.random.Generator, weights: Sequence[float]) -> int:
    w = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(len(w), p=w / w.sum()))


def triple(values) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in values)
    return (x, y, z)


def _family_rgb(rng: np.random.Generator, family: int) -> RGB:
    h, s, v = _FAMILIES[family]
    h = (h + rng.normal(0.0, 0.03)) % 1.0
    s = float(np.clip(s * rng.uniform(0.6, 1.3), 0.0, 1.0))
    v = float(np.clip(v * rng.uniform(0.75, 1.15), 0.05, 1.0))
    return triple(colorsys.hsv_to_rgb(h, s, v))


def random_material(rng: np.random.Generator, class_id: int) -> Material:
    """A material drawn from the class's appearance prior."""
    prior = _APPEARANCE[class_id]
    family = choice(rng, prior.families)
    color1 = _family_rgb(rng, family)
    if rng.random() < 0.3:  # a second colour from the same class prior, else a shade of the first
        color2 = _family_rgb(rng, choice(rng, prior.families))
    else:
        k = rng.uniform(0.55, 0.85) if rng.random() < 0.7 else rng.uniform(1.15, 1.4)
        color2 = triple(np.minimum(1.0, np.array(color1) * k))
    direction = rng.normal(size=3)
    if rng.random() < 0.7:  # mostly axis-aligned stripes (planks, panels); sometimes oblique
        direction = np.eye(3)[rng.integers(3)]
    lo, hi = prior.scale
    return Material(
        pattern=Pattern(choice(rng, prior.patterns)),
        color1=color1,
        color2=color2,
        scale=float(math.exp(rng.uniform(math.log(lo), math.log(hi)))),
        direction=triple(direction / np.linalg.norm(direction)),
        offset=triple(rng.uniform(0.1, 0.9, size=3)),
        grain=float(rng.uniform(0.03, 0.2)),
    )



# ---------------------------------------------------------------------------
# Randomised materials (SceneStyle): per class, weights over PHOTO_PATTERNS (fractal, wood,
# fabric, carpet), a size factor for the texture's scale, the contrast range and how glossy.
@dataclass(frozen=True)
class _Photo:
    patterns: tuple[float, float, float, float]
    size: float
    contrast: tuple[float, float]
    gloss: float


_PHOTO: tuple[_Photo, ...] = (
    _Photo((2, 4, 0, 3), 1.0, (0.3, 1.0), 0.6),  # floor
    _Photo((5, 0.3, 1, 0), 1.0, (0.05, 0.35), 0.15),  # wall
    _Photo((1, 0.2, 0, 0), 1.0, (0.05, 0.25), 0.05),  # ceiling
    _Photo((1, 4, 0.3, 0), 0.5, (0.4, 1.2), 1.0),  # table
    _Photo((1, 2, 3, 0.5), 0.3, (0.4, 1.2), 0.6),  # chair
    _Photo((1, 3, 0.3, 0), 0.5, (0.3, 1.0), 0.7),  # cabinet
    _Photo((2, 3, 2, 0), 0.25, (0.4, 1.5), 0.4),  # crate
    _Photo((2, 0, 2, 0), 0.25, (0.4, 1.5), 1.0),  # ball
    _Photo((2, 0.5, 1, 0), 0.25, (0.3, 1.2), 0.8),  # bin
    _Photo((4, 0, 1, 0), 0.3, (1.0, 2.5), 0.8),  # picture
)
assert len(_PHOTO) == NUM_CLASSES
# Scale range (m) per photographic pattern, before the class's size factor.
_PHOTO_SCALE = {Pattern.FRACTAL: (0.2, 2.0), Pattern.WOOD: (0.1, 0.3), Pattern.FABRIC: (0.1, 0.6), Pattern.CARPET: (0.3, 1.5)}


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def palette_rgb(rng: np.random.Generator) -> RGB:
    """A colour from an open palette with indoor statistics: any hue, mostly low saturation
    (beta(1.3, 3.5): mean 0.27), mid to light values."""
    s = rng.beta(1.3, 3.5)
    v = 0.05 + 0.9 * rng.beta(2.5, 1.8)
    return triple(colorsys.hsv_to_rgb(rng.random(), s, v))


def _photo_pattern(rng: np.random.Generator, class_id: int, mat: Material) -> Material:
    prior = _PHOTO[class_id]
    pattern = PHOTO_PATTERNS[choice(rng, prior.patterns)]
    lo, hi = _PHOTO_SCALE[pattern]
    direction = mat.direction
    if pattern == Pattern.WOOD:  # grain along a horizontal axis: floor boards, table tops
        direction = (1.0, 0.0, 0.0) if rng.random() < 0.5 else (0.0, 1.0, 0.0)
    return replace(
        mat,
        pattern=pattern,
        scale=_log_uniform(rng, lo * prior.size, hi * prior.size),
        contrast=float(rng.uniform(*prior.contrast)),
        direction=direction,
    )


def styled_material(rng: np.random.Generator, class_id: int, style: SceneStyle) -> Material:
    """The classic prior's material, then (per ``style``) a random palette, a photographic
    texture and a highlight; walls and ceilings lose most classic checkers and stripes."""
    mat = random_material(rng, class_id)
    if rng.random() < style.random_palette:
        c1 = palette_rgb(rng)
        c2 = palette_rgb(rng) if rng.random() < 0.3 else triple(np.array(c1) * rng.uniform(0.5, 0.9))
        mat = replace(mat, color1=c1, color2=c2)
    if rng.random() < (style.textured_walls if class_id in (WALL, CEILING) else style.photo_textures):
        mat = _photo_pattern(rng, class_id, mat)
    elif class_id in (WALL, CEILING) and mat.pattern != Pattern.PLAIN and rng.random() < 0.7:
        mat = replace(mat, pattern=Pattern.PLAIN)  # real walls and ceilings are mostly plain paint
    gloss = 0.0 if mat.pattern in (Pattern.FABRIC, Pattern.CARPET) else _PHOTO[class_id].gloss
    return replace(mat, specular=float(rng.uniform(*style.specular)) * gloss, shininess=_log_uniform(rng, 8.0, 150.0))
