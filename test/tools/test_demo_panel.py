"""The demo's panel.png reads on its own (issue 29): column titles, row names, a class legend, the depth
colour scale, and no blank tile (the ground-truth row's first tile was plain white)."""
from __future__ import annotations

import numpy as np
import pytest

from mtl_perception import colors
from mtl_perception.tools.demo_panel import COLUMNS, GAP, MIN_TILE_WIDTH, SCALE_HEIGHT, demo_panel, panel_figure

H, W = 48, 64
FACTOR = -(-MIN_TILE_WIDTH // W)  # small tiles are enlarged by a whole factor in the figure
TILE_W, TILE_H, TILE_GAP = W * FACTOR, H * FACTOR, GAP * FACTOR
GUTTER = 22  # the row names' strip, left of the tiles
TITLES = 24


@pytest.fixture(scope="module")
def scene():
    from mtl_perception.data import CLASS_NAMES, PALETTE
    from mtl_perception.interop.camera_info import pinhole_k
    from mtl_perception.interop.encodings import labels_to_mono8
    from mtl_perception.tools.demo_scoring import ScoredFrame
    from mtl_perception.tools.synthetic_camera import render_frames

    camera, frames = render_frames(7, 2, H, W, 15.0)
    frame = frames[0]
    predicted = np.clip(frame.label, 0, None).copy()
    predicted[: H // 4] = 3  # some wrong labels
    scored = ScoredFrame(frame, labels_to_mono8(predicted), frame.depth, frame.normal)
    figure = panel_figure(scored, PALETTE, CLASS_NAMES, (np.array([[0.0, 0.0, 2.0]]), np.array([0])), pinhole_k(camera))
    return scored, figure, CLASS_NAMES, PALETTE, pinhole_k(camera)


def _dark(region: np.ndarray) -> int:
    return int((region.max(axis=-1) < 100).sum())


def test_no_tile_is_blank(scene):
    scored, _, names, palette, k = scene
    cloud = (np.array([[0.0, 0.0, 2.0], [0.5, 0.1, 3.0]]), np.array([0, 1]))
    grid = demo_panel(scored, palette, cloud, k)
    for row in range(2):
        for column in range(5):
            tile = grid[row * (H + 4) : row * (H + 4) + H, column * (W + 4) : column * (W + 4) + W]
            assert len(np.unique(tile.reshape(-1, 3), axis=0)) > 1, (row, column)
    # No cloud for the frame: its grey tile says so in the figure.
    without = panel_figure(scored, palette, names, None, k)
    x = GUTTER + 4 * (TILE_W + TILE_GAP)
    cloud_tile = without[TITLES + GAP : TITLES + GAP + TILE_H, x : x + TILE_W]
    assert (cloud_tile.min(axis=-1) > 200).sum() > 30  # white caption on the grey


def test_wrong_labels_are_red_where_the_labels_differ(scene):
    scored, _, _, palette, k = scene
    grid = demo_panel(scored, palette, None, k)
    first = grid[H + 4 : 2 * H + 4, :W]
    wrong = (scored.frame.label >= 0) & (scored.labels.astype(np.int64) != scored.frame.label)
    assert wrong.any() and (~wrong).any()
    red = np.all(first == (255, 0, 0), axis=-1)
    np.testing.assert_array_equal(red, wrong)


def test_every_column_has_a_title(scene):
    _, figure, _, _, _ = scene
    assert len(COLUMNS) == 5
    for column in range(5):
        x = GUTTER + column * (TILE_W + TILE_GAP)
        assert _dark(figure[:TITLES, x : x + TILE_W]) > 30, COLUMNS[column]
    tiles = figure[TITLES + GAP : TITLES + GAP + TILE_H, GUTTER:]
    assert tiles.shape[1] == 5 * TILE_W + 4 * TILE_GAP  # the tiles follow the titles, right of the row names
    assert _dark(figure[TITLES + GAP : TITLES + GAP + TILE_H, :GUTTER]) > 20  # "node"
    assert _dark(figure[TITLES + 2 * GAP + TILE_H : TITLES + 2 * GAP + 2 * TILE_H, :GUTTER]) > 20  # "ground truth"


def test_depth_scale_under_the_depth_column(scene):
    scored, figure, _, _, _ = scene
    top = TITLES + 3 * GAP + 2 * TILE_H
    x = GUTTER + 2 * (TILE_W + TILE_GAP)
    bar = figure[top + 2 : top + 2 + SCALE_HEIGHT, x : x + TILE_W]
    row = bar[SCALE_HEIGHT // 2]
    lut = {tuple(c) for c in colors.DEPTH_LUT.tolist()}
    assert all(tuple(pixel) in lut for pixel in row.tolist())  # Turbo colours only, as the depth tiles
    assert tuple(row[-1]) == tuple(colors.DEPTH_LUT[-1]) and len({tuple(p) for p in row.tolist()}) > 100  # 0 m .. far, a ramp
    labels = figure[top + 2 + SCALE_HEIGHT : top + SCALE_HEIGHT + 22, x : x + TILE_W]
    assert _dark(labels[:, : TILE_W // 4]) > 10 and _dark(labels[:, -TILE_W // 4 :]) > 10  # "0 m" and the far end


def test_legend_shows_every_class_colour(scene):
    _, figure, names, palette, _ = scene
    legend = figure[TITLES + 4 * GAP + 2 * TILE_H + SCALE_HEIGHT + 22 :]
    assert _dark(legend) > 100  # the names
    for name, colour in zip(names, colors.palette_lut(palette)[: len(names)]):
        assert np.all(legend == colour, axis=-1).sum() >= 9 * 9, name  # its swatch
