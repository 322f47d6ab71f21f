"""Render styles: every knob of the synthetic data, grouped by the job it steers, and the named styles.

A ``RenderStyle`` bundles how rooms are generated (``SceneStyle``), where the camera stands
(``PoseStyle``), how surfaces are lit (``Shading``) and how the camera responds (``SensorModel``).
Every default reproduces the original renderer ("classic") draw for draw, so a classic dataset is
byte-identical to one rendered before styles existed. "randomized" is domain randomisation for
transfer to real cameras: photographic textures and palettes, several lights with soft shadows and
highlights, cluttered rooms, hand-held to robot-height cameras and a display gamma with optical blur.
"""
from __future__ import annotations

from dataclasses import dataclass, field

Range = tuple[float, float]


@dataclass(frozen=True)
class SensorModel:
    """Camera response: auto-exposure target, vignetting and noise (the random parts draw from rng).

    With ``gamma`` the exposure and noise happen in linear light and the output is display-encoded
    (value ** (1 / gamma)); ``blur`` is the optical blur's Gaussian sigma in pixels, applied first;
    ``white_balance`` pulls the mean colour towards grey before exposure. Each is drawn per frame
    from its range (the range's middle without rng); None leaves it out (classic).
    """

    exposure_target: Range = (0.36, 0.5)  # mean brightness auto-exposure aims for
    max_gain: float = 3.0
    vignetting: Range = (0.0, 0.3)  # relative fall-off at the image corner
    read_noise: Range = (0.004, 0.02)  # std of additive noise
    shot_noise: Range = (0.0, 0.03)  # std of noise ∝ sqrt(signal)
    gamma: Range | None = None
    blur: Range | None = None
    white_balance: Range | None = None  # auto white balance strength: 0 none, 1 a grey-world mean


@dataclass(frozen=True)
class Shading:
    """Lighting model: hard or soft shadows from every lamp (a lamp of ``lamp_radius`` metres
    sampled by ``lamp_samples`` points, interleaved over the pixels) and darker room edges
    (``corner_shade``: the ambient term's loss where two room faces meet). Highlights come from
    the materials' ``specular``."""

    shadows: bool = False
    lamp_samples: int = 1
    lamp_radius: float = 0.0
    corner_shade: float = 0.0

    def __post_init__(self) -> None:
        # 1, 2 or 4 samples: every 2×2 block of pixels then holds each sample equally often.
        if self.lamp_samples not in (1, 2, 4) or self.lamp_radius < 0 or not 0 <= self.corner_shade < 1:
            raise ValueError(f"need lamp_samples in (1, 2, 4), lamp_radius >= 0 and 0 <= corner_shade < 1, got {self}")


@dataclass(frozen=True)
class SceneStyle:
    """Room generation. Probabilities are per material (``photo_textures`` for floors, furniture
    and objects, ``textured_walls`` for walls and ceilings, ``random_palette`` for each colour);
    counts are inclusive ranges; ``light_temperature`` (kelvin) replaces the three classic tints."""

    photo_textures: float = 0.0
    textured_walls: float = 0.0
    random_palette: float = 0.0
    specular: Range = (0.0, 0.0)  # highlight strength drawn per material
    tables: tuple[int, int] = (0, 2)
    clutter: tuple[int, int] = (0, 0)  # extra small objects per room
    clutter_on_tables: float = 0.0  # probability a small object goes on a table
    lights: tuple[int, int] = (1, 3)
    light_intensity: Range = (1.5, 4.0)
    low_lights: float = 0.0  # probability a lamp is a standing or desk lamp, not a ceiling lamp
    window_light: float = 0.0  # probability a window lets in a daylight lamp
    ambient: Range = (0.2, 0.45)
    light_temperature: Range | None = None

    @property
    def classic_materials(self) -> bool:
        return self.photo_textures == 0 and self.textured_walls == 0 and self.random_palette == 0 and self.specular[1] == 0


@dataclass(frozen=True)
class PoseStyle:
    """Camera placement for dataset frames: height above the floor (m, at most ``ceiling_gap``
    below the ceiling), pitch (degrees, negative looks down), roll's std (degrees); with
    probability ``aim_at_items`` the camera stands near a piece of furniture and looks at it."""

    height: Range = (0.7, 1.9)
    ceiling_gap: float = 0.4
    pitch_deg: Range = (-38.0, 8.0)
    roll_std_deg: float = 3.0
    aim_at_items: float = 0.0


@dataclass(frozen=True)
class RenderStyle:
    name: str = "classic"
    scene: SceneStyle = field(default_factory=SceneStyle)
    pose: PoseStyle = field(default_factory=PoseStyle)
    shading: Shading = field(default_factory=Shading)
    sensor: SensorModel = field(default_factory=SensorModel)


RANDOMIZED = RenderStyle(
    name="randomized",
    scene=SceneStyle(
        photo_textures=0.75,
        textured_walls=0.5,
        random_palette=0.35,
        specular=(0.0, 0.5),
        tables=(1, 3),
        clutter=(8, 32),
        clutter_on_tables=0.7,
        lights=(1, 4),
        light_intensity=(1.0, 5.0),
        low_lights=0.25,
        window_light=0.6,
        ambient=(0.08, 0.35),
        light_temperature=(2700.0, 6500.0),
    ),
    pose=PoseStyle(height=(0.3, 1.8), pitch_deg=(-35.0, 10.0), roll_std_deg=5.0, aim_at_items=0.6),
    shading=Shading(shadows=True, lamp_samples=4, lamp_radius=0.06, corner_shade=0.35),
    sensor=SensorModel(
        exposure_target=(0.18, 0.4),
        max_gain=8.0,
        vignetting=(0.0, 0.3),
        read_noise=(0.001, 0.008),
        shot_noise=(0.0, 0.02),
        gamma=(1.8, 2.4),
        blur=(0.3, 0.8),
        white_balance=(0.3, 1.0),
    ),
)

RENDER_STYLES: dict[str, RenderStyle] = {"classic": RenderStyle(), "randomized": RANDOMIZED}


def render_style(style: str | RenderStyle) -> RenderStyle:
    """The style of that name (or the style itself); unknown names raise ValueError listing the known ones."""
    if isinstance(style, RenderStyle):
        return style
    try:
        return RENDER_STYLES[style]
    except KeyError:
        raise ValueError(f"unknown render style {style!r}; known: {', '.join(RENDER_STYLES)}") from None
