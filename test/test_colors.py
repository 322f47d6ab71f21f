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


def test_colorize_normals_matches_a_per_pixel_reference_on_special_values():
    """The vectorised passes against the definition, pixel by pixel in float64, on the edge cases."""
    rng = np.random.default_rng(4)
    normals = rng.normal(size=(6, 50, 3)).astype(np.float32)
    normals[0, :10] = 0.0  # all-zero: black
    normals[0, 10:20] = -0.0
    normals[1, :5, 1] = np.nan  # any non-finite channel: black
    normals[1, 5:10, 0], normals[1, 10:15, 2] = np.inf, -np.inf
    normals[2] = np.arange(150, dtype=np.float32).reshape(50, 3) % 256 / 127.5 - 1.0  # exact half-way points
    normals[3, :, 0] = 0.0  # one zero channel is still a normal
    normals[4] *= 3.0  # beyond [-1, 1]: clipped

    def reference(n):
        if not np.all(np.isfinite(n)) or not np.any(n != 0):
            return [0, 0, 0]
        # np.rint, like the float32 path: half-way points round to even
        return [int(np.rint((min(max(float(np.float32(c)), -1.0), 1.0) + 1.0) * 127.5)) for c in n]

    expected = np.array([[reference(px) for px in row] for row in normals], np.uint8)
    np.testing.assert_array_equal(vz.colorize_normals(normals), expected)


def test_panel_layout():
    a = np.zeros((10, 20, 3), np.uint8)
    b = np.full((5, 5), 7, np.uint8)
    out = vz.panel([a, b], gap=2)
    assert out.shape == (10, 20 + 2 + 10, 3)
    assert (out[:, 20:22] == 255).all() and (out[:, 22:] == 7).all()


def _frame(h=12, w=16, classes=5):
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    label = rng.integers(-1, classes, (h, w))
    depth = rng.uniform(0.5, 6.0, (h, w)).astype(np.float32)
    depth[0, :3] = 0.0  # invalid
    normal = rng.normal(size=(h, w, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    normal[1, :2] = 0.0  # invalid
    image = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
    return SimpleNamespace(image=image, label=label, depth=depth, normal=normal)


def _tiles(row, width, count=4, gap=4):
    return [row[:, k * (width + gap): k * (width + gap) + width] for k in range(count)]


def test_preview_demo_panel_and_training_plot_colour_alike():
    """The same labels, depth and normals give the same pixels in all three views (the node: test_node)."""
    import torch

    from mtl_perception.data import PALETTE
    from mtl_perception.interop.encodings import labels_to_mono8
    from mtl_perception.tools.dataset_preview import preview_tiles
    from mtl_perception.tools.demo import demo_panel
    from mtl_perception.tools.demo_scoring import ScoredFrame
    from mtl_perception.training.plots import prediction_panels

    frame = _frame()
    h, w = frame.depth.shape
    palette = PALETTE[:5]
    lut = vz.palette_lut(palette)
    top = float(frame.depth.max())
    preview = preview_tiles(frame, vz.palette_lut(PALETTE), top)[1:]
    predicted = np.clip(frame.label, 0, None)
    k = [10.0, 0.0, w / 2, 0.0, 10.0, h / 2, 0.0, 0.0, 1.0]
    panel = demo_panel(ScoredFrame(frame, labels_to_mono8(predicted), frame.depth, frame.normal), palette, None, k)
    demo_pred, demo_gt = _tiles(panel[:h], w)[1:], _tiles(panel[h + 4:], w)[1:]
    logits = torch.nn.functional.one_hot(torch.from_numpy(predicted), 5).permute(2, 0, 1).float()
    targets = {"segmentation": torch.from_numpy(frame.label), "depth": torch.from_numpy(frame.depth)[None],
               "normals": torch.from_numpy(frame.normal).permute(2, 0, 1)}
    outputs = {"segmentation": logits, "depth": targets["depth"], "normals": targets["normals"]}
    plot = dict(prediction_panels(torch.from_numpy(frame.image).permute(2, 0, 1), targets, outputs, lut))
    plot_gt = [plot["seg gt"], plot["depth gt"], plot["normals gt"]]
    plot_pred = [plot["seg pred"], plot["depth pred"], plot["normals pred"]]
    expected_gt = [vz.colorize_labels(frame.label, lut), vz.colorize_depth(frame.depth, 0.0, top), vz.colorize_normals(frame.normal)]
    for views in (preview, demo_gt, plot_gt):
        for got, want in zip(views, expected_gt):
            np.testing.assert_array_equal(got, want)
    for got, want in zip(plot_pred, demo_pred):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(demo_pred[0], vz.colorize_labels(predicted, lut))


def test_labels_any_integer_dtype_and_invalid_ids_are_black():
    lut = vz.palette_lut([(10, 20, 30), (40, 50, 60)])
    out = vz.colorize_labels(np.array([[-1, 0, 1, 2, 300]], np.int64), lut)
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [10, 20, 30], [40, 50, 60], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError):
        vz.colorize_labels(np.zeros((1, 1), np.float32), lut)


def test_birds_eye_places_points_by_hand_and_the_highest_wins():
    lut = vz.palette_lut([(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    # A 10 × 20 view of 5 m: 2 px per metre; row = floor(10 − 2z), column = floor(10 + 2x).
    xyz = np.array([
        [0.0, 1.0, 1.0],     # row 8, col 10
        [0.0, -1.0, 1.2],    # row 7, col 10: optical y points down, so y −1.0 is the higher point
        [0.1, -0.5, 1.1],    # row 7, col 10 as well, but lower: drawn first, then covered
        [2.0, 0.0, 4.9],     # row 0, col 14
        [9.0, 0.0, 1.0],     # col 28: outside the view
        [np.nan, 0.0, 1.0],  # not finite
    ])
    labels = np.array([0, 1, 2, 1, 0, 0])
    image = vz.birds_eye(xyz, labels, lut, 10, 20, 5.0)
    assert image.shape == (10, 20, 3)
    assert tuple(image[8, 10]) == (255, 0, 0)
    assert tuple(image[7, 10]) == (0, 255, 0)
    assert tuple(image[0, 14]) == (0, 255, 0)
    painted = (image != np.array(vz.BIRDS_EYE_BACKGROUND, np.uint8)).any(axis=2)
    assert painted.sum() == 3
    with pytest.raises(ValueError, match="max_range"):
        vz.birds_eye(xyz, labels, lut, 10, 20, 0.0)
