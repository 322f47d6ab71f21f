"""Semantic classes of the synthetic indoor scenes and their display colours."""
from __future__ import annotations

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "floor",
    "wall",
    "ceiling",
    "table",
    "chair",
    "cabinet",
    "crate",
    "ball",
    "bin",
    "picture",
)
NUM_CLASSES: int = len(CLASS_NAMES)

# Class ids by name, for the scene generator.
FLOOR, WALL, CEILING, TABLE, CHAIR, CABINET, CRATE, BALL, BIN, PICTURE = range(NUM_CLASSES)


def _palette() -> np.ndarray:
    # Display colours only (previews, ROS colour images); never used for rendering.
    palette = np.array(
        [
            [152, 223, 138],  # floor
            [174, 199, 232],  # wall
            [255, 187, 120],  # ceiling
            [214, 39, 40],  # table
            [31, 119, 180],  # chair
            [148, 103, 189],  # cabinet
            [140, 86, 75],  # crate
            [255, 127, 14],  # ball
            [44, 160, 44],  # bin
            [227, 119, 194],  # picture
        ],
        dtype=np.uint8,
    )
    palette.setflags(write=False)  # shared by every importer
    return palette


PALETTE: np.ndarray = _palette()
