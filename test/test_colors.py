"""The one colouring (mtl_perception.colors) and REP 118 depth masking, checked against hand-computed values."""
import numpy as np
import pytest

from mtl_perception import colors as vz
from mtl_perception.interop.encodings import mask_depth


def test_palette_and_labels():
    lut = vz.palette_lut([(10, 20, 30), (40, 50, 60)], unlabelled=(1, 2, 3))
    labels = np.array([[0, 1], [255, 7]], np.uint8)
    out = vz.colorize_labels(labels, lut)
    np.testing.assert_array_equal(out, [[[10, 20, 30], [40, 50, 60]], [[1, 2, 3], [1, 2, 3]]])
    with pytest.raises(ValueError):
        vz.palette_lut([(0, 0, 300)])


def test_overlay_blend_and_resize():
    rgb = np.array([[[100, 0, 200]]], np.uint8).repeat(4, 0).repeat(4, 1)
    colour = np.full((2, 2, 3), (0, 255, 100), np.uint8)
    out = vz.overlay(rgb, colour, 0.25)
    assert out.shape == (2, 2, 3)
    # 0.25*colour + 0.75*rgb, rounded
    np.testing.assert_array_equal(out[0, 0], [75, 64, 175])
    np.testing.assert_array_equal(vz.overlay(rgb[:2, :2], colour, 0.0), rgb[:2, :2])
    with pytest.raises(ValueError):
        vz.overlay(rgb, colour, 1.5)


def test_resize_nearest_matches_pixel_centres():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.testing.assert_array_equal(vz.resize_nearest(img, 2, 2), [[5, 7], [13, 15]])
    np.testing.assert_array_equal(vz.resize_nearest(img[:2, :2], 4, 4)[:, 0], [0, 0, 4, 4])


def test_mask_depth_rep118():
    depth = np.array([0.5, 0.0, -1.0, np.inf, np.nan, 9.99, 10.01], np.float32)
    out = mask_depth(depth, 10.0)
    np.testing.assert_array_equal(np.isnan(out), [False, True, True, True, True, False, True])
    assert out[0] == 0.5 and out[5] == np.float32(9.99)
    assert depth[1] == 0.0  # input untouched


def test_colorize_depth_and_normals():
    depth = np.array([[1.0, 3.0, np.nan]], np.float32)
    out = vz.colorize_depth(depth, 1.0, 3.0)
    np.testing.assert_array_equal(out[0, 0], vz.DEPTH_LUT[0])
    np.testing.assert_array_equal(out[0, 1], vz.DEPTH_LUT[255])
    np.testing.assert_array_equal(out[0, 2], [0, 0, 0])
    normals = np.array([[[0, 0, -1], [1, 0, 0], [0, 0, 0]]], np.float32)
    np.testing.assert_array_equal(vz.colorize_normals(normals), [[[128, 128, 0], [255, 128, 128], [0, 0, 0]]])


def test_panel_layout():
    a = np.zeros((10, 20, 3), np.uint8)
    b = np.full((5, 5), 7, np.uint8)
    out = vz.panel([a, b], gap=2)
    assert out.shape == (10, 20 + 2 + 10, 3)
    assert (out[:, 20:22] == 255).all() and (out[:, 22:] == 7).all()
