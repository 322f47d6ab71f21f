"""The demo's panel.png: the node's input and outputs above the ground truth, read without the README.

`demo_panel` is the bare grid (two rows of five tiles, colours from `colors`); `panel_figure`
adds what a reader needs to read it: column titles, row names, a class legend and the depth
colour scale. Small camera tiles are enlarged (nearest) so the text stays legible.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import colors
from ..interop.encodings import labels_to_mono8
from ..interop.image import float_to_rgb8
from ..interop.pointcloud import CloudOptions, build_cloud
from .demo_scoring import ScoredFrame

COLUMNS = ("input / wrong labels in red", "segmentation", "depth", "normals (x R, y G, z B)", "points from above")
ROWS = ("node", "ground truth")
MIN_TILE_WIDTH = 200  # tiles narrower than this are enlarged by a whole factor in the figure
ERROR_RGB = (255, 0, 0)
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
FONT_SCALE = 0.42
SCALE_HEIGHT = 12  # the depth colour bar, in pixels
SWATCH = 11  # a legend entry's colour square, in pixels
GAP = 4  # colors.panel's and stack_rows's default


def depth_range(scored: ScoredFrame, max_depth: float) -> float:
    """The far end of the panel's one depth scale: the ground truth's deepest valid pixel (`max_depth` if none)."""
    depth = scored.frame.depth
    return float(np.nanmax(depth)) if np.isfinite(depth).any() else max_depth


def wrong_labels(rgb: np.ndarray, predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The input, dimmed, with pixels whose predicted class differs from a labelled ground truth in red."""
    shown = (rgb.astype(np.uint16) * 2 // 5 + 80).astype(np.uint8)
    wrong = (truth >= 0) & (predicted.astype(np.int64) != truth)
    shown[wrong] = ERROR_RGB
    return shown


def demo_panel(scored: ScoredFrame, palette: Any, cloud: tuple[np.ndarray, np.ndarray] | None, k: list[float],
               max_depth: float = 10.0) -> np.ndarray:
    """Top: the node's input and outputs; bottom: where its labels are wrong, then the ground truth; one depth scale.

    The last column is the semantic cloud seen from above: the node's (`cloud`: xyz, labels;
    grey if none arrived for this frame) and the ground truth's, back-projected with `k`.
    """
    frame = scored.frame
    lut = colors.palette_lut(palette)
    hi = depth_range(scored, max_depth)
    height, width = frame.depth.shape
    truth = build_cloud(frame.depth, k, CloudOptions(stride=2, max_depth=max_depth), labels=frame.label)
    truth_xyz = np.stack([truth["x"], truth["y"], truth["z"]], axis=1)
    node_xyz, node_labels = cloud if cloud is not None else (np.empty((0, 3)), np.empty(0, np.int64))
    rgb = float_to_rgb8(frame.image)
    top = colors.panel([
        rgb,
        colors.colorize_labels(scored.labels, lut),
        colors.colorize_depth(scored.depth, 0.0, hi),
        colors.colorize_normals(scored.normals),
        colors.birds_eye(node_xyz, node_labels, lut, height, width, hi),
    ])  # fmt: skip
    bottom = colors.panel([
        wrong_labels(rgb, colors.resize_nearest(scored.labels, height, width), np.asarray(frame.label)),
        colors.colorize_labels(labels_to_mono8(frame.label), lut),
        colors.colorize_depth(frame.depth, 0.0, hi),
        colors.colorize_normals(frame.normal),
        colors.birds_eye(truth_xyz, truth["label"], lut, height, width, hi),
    ])  # fmt: skip
    return colors.stack_rows([top, bottom])


def _text(image: np.ndarray, text: str, x: int, baseline: int, *, outlined: bool = False) -> None:
    """Black text; `outlined`: white on a black outline, legible on any colour."""
    import cv2

    for colour, thickness in ((BLACK, 3), (WHITE, 1)) if outlined else ((BLACK, 1),):
        cv2.putText(image, text, (x, baseline), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, colour, thickness, cv2.LINE_AA)


def _text_width(text: str, scale: float = FONT_SCALE) -> int:
    import cv2

    return int(cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0])


def _fit(text: str, width: int) -> str:
    """`text`, cut with '..' until it fits `width` pixels."""
    while text and _text_width(text) > width:
        text = text[:-3] + ".." if len(text) > 3 else ""
    return text


def _row_label(text: str, height: int, width: int) -> np.ndarray:
    """A `height`×`width` strip with `text` written bottom to top, centred."""
    canvas = np.full((width, height, 3), 255, np.uint8)  # drawn lying down, then turned
    text = _fit(text, height - 4)
    _text(canvas, text, max(2, (height - _text_width(text)) // 2), width - 6)
    return np.ascontiguousarray(np.rot90(canvas))


def _legend(class_names: Sequence[str], palette: Any, width: int) -> np.ndarray:
    """Colour squares with class names, wrapped into lines `width` pixels wide."""
    lut = colors.palette_lut(palette)
    entries: list[tuple[tuple[int, int, int], str]] = [(tuple(int(c) for c in lut[i]), name) for i, name in enumerate(class_names)]
    entries.append((BLACK, "unlabelled"))
    line_height, lines, x = SWATCH + 8, [[(0, None, "classes:")]], _text_width("classes:") + 10
    for colour, name in entries:
        entry = SWATCH + 4 + _text_width(name) + 12
        if x and x + entry > width:
            lines.append([])
            x = 0
        lines[-1].append((x, colour, name))
        x += entry
    strip = np.full((line_height * len(lines) + 4, width, 3), 255, np.uint8)
    for row, line in enumerate(lines):
        top = 4 + row * line_height
        for x, colour, name in line:
            if colour is None:  # the line's heading
                _text(strip, name, x, top + SWATCH - 1)
                continue
            strip[top : top + SWATCH, x : x + SWATCH] = colour
            strip[top : top + SWATCH, x : x + SWATCH][[0, -1]] = 128  # an outline, so white and black read as squares
            strip[top : top + SWATCH, [x, x + SWATCH - 1]] = 128
            _text(strip, name, x + SWATCH + 4, top + SWATCH - 1)
    return strip


def _depth_scale(hi: float, width: int) -> np.ndarray:
    """The Turbo bar from 0 m to `hi` m, `width` pixels wide, labelled at both ends and the middle."""
    strip = np.full((SCALE_HEIGHT + 22, width, 3), 255, np.uint8)
    ramp = np.linspace(0.0, hi, width, dtype=np.float32)
    ramp[0] = hi / (2 * width)  # colorize_depth shows 0 m as invalid (black); the bar starts at its first colour
    strip[2 : 2 + SCALE_HEIGHT] = colors.colorize_depth(np.tile(ramp, (SCALE_HEIGHT, 1)), 0.0, hi)
    for text, x in (("0 m", 0), (f"{hi / 2:.1f}", (width - _text_width(f"{hi / 2:.1f}")) // 2),
                    (f"{hi:.1f} m", width - _text_width(f"{hi:.1f} m"))):
        _text(strip, text, max(0, x), SCALE_HEIGHT + 18)
    return strip


def panel_figure(scored: ScoredFrame, palette: Any, class_names: Sequence[str], cloud: tuple[np.ndarray, np.ndarray] | None,
                 k: list[float], max_depth: float = 10.0) -> np.ndarray:
    """`demo_panel` with column titles, row names, the depth scale (under the depth column; black: no depth)
    and the class legend: the picture the demo writes as panel.png (H×W×3 uint8 RGB)."""
    grid = demo_panel(scored, palette, cloud, k, max_depth)
    height, width = scored.frame.depth.shape
    factor = max(1, -(-MIN_TILE_WIDTH // width))
    if factor > 1:  # enlarge the tiles, not the gaps' meaning: gaps grow too, and the geometry below scales with them
        grid = np.repeat(np.repeat(grid, factor, axis=0), factor, axis=1)
    tile_w, tile_h, gap = width * factor, height * factor, GAP * factor
    if cloud is None:  # the node's cloud for this frame did not arrive: say so on its (grey) tile
        _text(grid, _fit("no cloud received", tile_w - 8), 4 * (tile_w + gap) + 4, 17, outlined=True)
    gutter = 22
    titles = np.full((24, grid.shape[1], 3), 255, np.uint8)
    for column, title in enumerate(COLUMNS):
        _text(titles, _fit(title, tile_w - 4), column * (tile_w + gap) + 2, 17)
    rows = [np.concatenate([_row_label(name, tile_h, gutter), grid[r * (tile_h + gap) : r * (tile_h + gap) + tile_h]], axis=1)
            for r, name in enumerate(ROWS)]
    scale = np.full((SCALE_HEIGHT + 22, grid.shape[1], 3), 255, np.uint8)
    depth_x = 2 * (tile_w + gap)
    scale[:, depth_x : depth_x + tile_w] = _depth_scale(depth_range(scored, max_depth), tile_w)
    _text(scale, _fit("depth (m), one scale for both rows; black: none", 2 * tile_w), 0, 14)
    body = [np.concatenate([np.full((part.shape[0], gutter, 3), 255, np.uint8), part], axis=1) for part in (titles, scale)]
    legend = _legend(class_names, palette, grid.shape[1] + gutter)
    return colors.stack_rows([body[0], *rows, body[1], legend], gap=GAP)
