"""Normals from depth against the renderer's exact normals, and invalid where depth jumps or is missing."""
from __future__ import annotations

import numpy as np
import pytest

from mtl_perception.data import Camera, render_dataset_frame
from mtl_perception.data.normals_from_depth import normals_from_depth
from mtl_perception.interop.encodings import depth_from_16uc1, depth_to_16uc1

H, W = 32, 48
CAMERA = Camera.default(H, W)
FRAMES = 4


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


def _planar(normal: np.ndarray) -> np.ndarray:
    """Pixels whose exact normal equals that of all 8 neighbours: the inside of a flat face."""
    padded = np.pad(normal, ((1, 1), (1, 1), (0, 0)))
    same = np.abs(normal).sum(-1) > 0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same &= np.abs(padded[1 + dy : H + 1 + dy, 1 + dx : W + 1 + dx] - normal).max(-1) < 1e-5
    return same


def _valid(normal: np.ndarray) -> np.ndarray:
    return np.abs(normal).sum(-1) > 0


@pytest.fixture(scope="module")
def frames():
    return [render_dataset_frame(0, i, CAMERA) for i in range(FRAMES)]


@pytest.mark.parametrize("millimetres", [False, True], ids=["32FC1", "16UC1"])
def test_planar_surfaces_match_the_renderer(frames, millimetres):
    angles, covered, planar_total = [], 0, 0
    for frame in frames:
        depth = depth_from_16uc1(depth_to_16uc1(frame.depth)) if millimetres else frame.depth
        normal = normals_from_depth(depth, CAMERA)
        planar = _planar(frame.normal)
        both = planar & _valid(normal)
        angles.append(_angles(normal[both], frame.normal[both]))
        covered, planar_total = covered + both.sum(), planar_total + planar.sum()
    assert np.median(np.concatenate(angles)) <= 2.0
    assert covered >= 0.9 * planar_total  # flat faces stay valid, so the median is over most of them


def test_valid_normals_are_unit_and_face_the_camera(frames):
    for frame in frames:
        normal = normals_from_depth(frame.depth, CAMERA)
        valid = _valid(normal)
        rx, ry = CAMERA.rays()
        rays = np.stack([rx, ry, np.ones_like(rx)], -1)
        np.testing.assert_allclose(np.linalg.norm(normal[valid], axis=-1), 1.0, atol=1e-5)
        assert ((normal[valid] * rays[valid]).sum(-1) < 0).all()


def _jump_edges(depth: np.ndarray, ratio: float = 0.5) -> np.ndarray:
    """Both pixels of every 4-neighbour pair whose depths differ by more than `ratio` of the nearer."""
    edge = np.zeros(depth.shape, dtype=bool)
    for axis in (0, 1):
        d, e = np.moveaxis(depth, axis, 0), np.moveaxis(edge, axis, 0)
        jump = (np.abs(d[1:] - d[:-1]) > ratio * np.minimum(d[1:], d[:-1])) & (d[1:] > 0) & (d[:-1] > 0)
        e[1:] |= jump
        e[:-1] |= jump
    return edge


def test_invalid_at_depth_edges_of_rendered_frames(frames):
    edges = 0
    for frame in frames:
        edge = _jump_edges(frame.depth)
        assert not (_valid(normals_from_depth(frame.depth, CAMERA)) & edge).any()
        edges += edge.sum()
    assert edges > 20  # the frames do have occlusion edges to test


def _tilted_plane(normal: np.ndarray, through: float) -> np.ndarray:
    """Exact depth of the plane normal·X = normal·(0, 0, through) seen through CAMERA."""
    rx, ry = CAMERA.rays()
    return (normal[2] * through) / (normal[0] * rx + normal[1] * ry + normal[2])


def _crosses(mask: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour on the other side of `mask`'s outline (both sides)."""
    out = np.zeros_like(mask)
    for axis in (0, 1):
        m, o = np.moveaxis(mask, axis, 0), np.moveaxis(out, axis, 0)
        differ = m[1:] != m[:-1]
        o[1:] |= differ
        o[:-1] |= differ
    return out


def test_box_in_front_of_a_tilted_wall_with_holes():
    wall_normal = np.array([0.3, -0.2, -1.0]) / np.linalg.norm([0.3, -0.2, -1.0])
    depth = _tilted_plane(wall_normal, 3.0).astype(np.float32)
    box = (slice(10, 20), slice(15, 30))
    depth[box] = 1.0
    depth[5, 5] = 0.0
    depth[25, 40] = np.nan
    normal = normals_from_depth(depth, CAMERA)
    valid = _valid(normal)

    in_box = np.zeros((H, W), dtype=bool)
    in_box[box] = True
    box_ring = _crosses(in_box)  # a 4-neighbour on the other side of the box outline
    inside_box = in_box & ~box_ring
    hole = np.zeros((H, W), dtype=bool)
    hole[5, 5] = hole[25, 40] = True
    near_hole = _crosses(hole)
    border = np.ones((H, W), dtype=bool)
    border[1:-1, 1:-1] = False
    wall = ~box_ring & ~inside_box & ~near_hole & ~border

    assert not valid[box_ring | near_hole | border].any()
    assert valid[inside_box].all() and valid[wall].all()
    assert _angles(normal[inside_box], np.array([0.0, 0.0, -1.0])).max() < 0.05  # float32 depth
    assert _angles(normal[wall], wall_normal).max() < 0.05


def test_depth_of_another_size_is_refused():
    with pytest.raises(ValueError, match="camera"):
        normals_from_depth(np.ones((H, W + 1), np.float32), CAMERA)
