"""Draws eval-rgbd's panel: a grid of chosen frames beside the model's predictions, one row a frame."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import colors

PANEL_TILE_HEIGHT = 240
PANEL_COLUMNS = ("rgb", "sensor depth", "predicted depth (median-scaled)", "sensor normals", "predicted normals", "segmentation")


@dataclass
class PanelRow:
    """What one panel row shows; sensor_normals all-zero where dropped."""

    stem: str
    rgb: np.ndarray
    depth: np.ndarray
    depth_ok: np.ndarray
    prediction: Any
    normals: np.ndarray
    scores: dict[str, Any]


def panel_indices(count: int, rows: int) -> set[int]:
    """`rows` frame indices spread evenly over `count` frames, first and last included."""
    if rows <= 0 or count <= 0:
        return set()
    return {int(i) for i in np.round(np.linspace(0, count - 1, min(rows, count)))}


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """Write `text` at the tile's top left, white on a black outline (legible on any colour)."""
    import cv2

    tile = np.array(tile, dtype=np.uint8, order="C")  # a copy: the frame itself stays as read
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile, text, (5, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, thickness, cv2.LINE_AA)
    return tile


def panel_tiles(row: PanelRow, lut: np.ndarray, height: int) -> list[np.ndarray]:
    """rgb | sensor depth | predicted depth (median-scaled, same colour scale) | sensor normals | predicted normals | segmentation.

    Each tile is resized (nearest) to `height` rows before its caption is written, so captions keep their size.
    """
    sensor = np.where(row.depth_ok, row.depth, 0.0)
    valid = sensor[row.depth_ok]
    low, high = (float(v) for v in np.percentile(valid, [1, 99])) if valid.size else (0.0, 1.0)
    pred, depth_scores, normal_scores = row.prediction, row.scores["depth"], row.scores["normals"]
    width = max(1, round(row.depth.shape[1] * height / row.depth.shape[0]))
    blank = np.full((height, width, 3), 96, dtype=np.uint8)
    tiles: list[tuple[np.ndarray, str]] = [(row.rgb, row.stem), (colors.colorize_depth(sensor, low, high), f"{low:.1f}-{high:.1f} m")]
    if pred.depth is None:
        tiles.append((blank, "no depth output"))
    else:
        scale = depth_scores["model"]["scale"] if depth_scores else 1.0
        caption = f"AbsRel {depth_scores['model']['si_abs_rel']:.2f}, x{scale:.2f}" if depth_scores else ""
        tiles.append((colors.colorize_depth(pred.depth * scale, low, high), caption))
    tiles.append((colors.colorize_normals(row.normals.astype(np.float32)), ""))
    if pred.normals is None:
        tiles.append((blank, "no normals output"))
    else:
        tiles.append((colors.colorize_normals(pred.normals), f"mean {normal_scores['model']['mean']:.1f} deg" if normal_scores else ""))
    tiles.append((blank, "no segmentation") if pred.segmentation is None else (colors.colorize_labels(pred.segmentation, lut), ""))
    return [_label(colors.resize_nearest(tile, height, width), caption) for tile, caption in tiles]


def panel_image(sections: Sequence[tuple[str, list[PanelRow]]], palette: Any, tile_height: int = PANEL_TILE_HEIGHT, gap: int = 4) -> np.ndarray:
    """One row per kept frame, a title bar naming the columns above each folder's rows (H×W×3 uint8 RGB)."""
    import cv2

    lut = colors.palette_lut(palette)
    parts: list[np.ndarray] = []
    for name, rows in sections:
        if not rows:
            continue
        height = min(tile_height, rows[0].depth.shape[0])
        images = [colors.panel(panel_tiles(row, lut, height), gap=gap) for row in rows]
        width = max(image.shape[1] for image in images)
        tile_width = (width - gap * (len(PANEL_COLUMNS) - 1)) / len(PANEL_COLUMNS)
        bar = np.full((38, width, 3), 255, dtype=np.uint8)
        cv2.putText(bar, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        for i, title in enumerate(PANEL_COLUMNS):
            cv2.putText(bar, title, (int(i * (tile_width + gap)) + 4, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        parts += [bar, *images]
    if not parts:
        raise ValueError("the panel has no rows")
    width = max(part.shape[1] for part in parts)
    padded = [np.pad(part, ((0, 0), (0, width - part.shape[1]), (0, 0)), constant_values=255) for part in parts]
    return colors.stack_rows(padded, gap=gap)


def write_panel(path: str | Path, image: np.ndarray) -> None:
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[:, :, ::-1])):
        raise OSError(f"could not write {path}")
