"""interop/pointcloud.py: geometry against the renderer, validity filters, and the PointCloud2 layout."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mtl_perception.data import Camera, Sphere, look_at, render, room_scene
from mtl_perception.data.primitives import ROOM_FACE_NORMALS
from mtl_perception.data.scene import plain_material
from mtl_perception.interop.camera_info import pinhole_k
from mtl_perception.interop.pointcloud import (
    POINT_DTYPE, UNLABELLED, CloudOptions, build_cloud, fill_point_cloud, pack_rgb, read_cloud,
)

ROOM = (4.0, 3.0, 2.5)
BALL = Sphere(center=(2.6, 1.6, 0.9), radius=0.45, class_id=7, material=plain_material())
STRIDE = 3


@pytest.fixture(scope="module")
def rendered():
    camera = Camera.default(96, 128)
    pose = look_at(np.array([0.7, 0.5, 1.3]), np.array([3.0, 2.0, 0.9]))
    return camera, render(room_scene(ROOM, [BALL]), pose, camera)


def surface_distance_and_normal(world: np.ndarray, on_ball: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each world point's distance to its surface (the ball, else the nearest room face) and that surface's normal."""
    size = np.asarray(ROOM)
    face_distances = np.concatenate([world, size - world], axis=1)[:, [0, 3, 1, 4, 2, 5]]  # room face order
    nearest_face = face_distances.argmin(1)
    offset = world - np.asarray(BALL.center)
    radius = np.linalg.norm(offset, axis=1)
    distance = np.where(on_ball, np.abs(radius - BALL.radius), face_distances.min(1))
    normal = np.where(on_ball[:, None], offset / radius[:, None], ROOM_FACE_NORMALS[nearest_face])
    return distance, normal


def test_ground_truth_depth_gives_points_on_rendered_surfaces_with_their_normals(rendered):
    camera, frame = rendered
    options = CloudOptions(stride=STRIDE, max_depth=100.0, organized=True)
    labels = np.where(frame.label >= 0, frame.label, UNLABELLED).astype(np.uint8)
    grid = build_cloud(frame.depth, tuple(pinhole_k(camera)), options, labels=labels, normals=frame.normal)
    assert grid.shape == (len(range(0, 96, STRIDE)), len(range(0, 128, STRIDE)))
    points = grid.reshape(-1)
    optical = np.stack([points["x"], points["y"], points["z"]], 1).astype(np.float64)
    world = optical @ frame.pose.rotation.T + frame.pose.position
    on_ball = points["label"] == BALL.class_id
    assert 50 < on_ball.sum() < on_ball.size - 50, "the view must hold both the ball and the room"
    distance, normal_world = surface_distance_and_normal(world, on_ball)
    assert distance.mean() <= 1e-3, distance.mean()
    # normals: exactly the rendered ones at the sampled pixels, and the surfaces' own normals
    cloud_normals = np.stack([points["normal_x"], points["normal_y"], points["normal_z"]], 1)
    np.testing.assert_array_equal(cloud_normals, frame.normal[::STRIDE, ::STRIDE].reshape(-1, 3))
    expected = normal_world @ frame.pose.rotation  # world -> optical frame: Rᵀ n
    np.testing.assert_allclose(cloud_normals, expected, atol=1e-5)


def test_invalid_points_are_nan_when_organized_and_dropped_when_dense():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 6.0, (20, 30)).astype(np.float32)
    depth[0, 0], depth[2, 4], depth[4, 8] = np.nan, 0.0, np.inf
    confidence = rng.uniform(0.0, 1.0, (20, 30)).astype(np.float32)
    k = (25.0, 0.0, 14.5, 0.0, 24.0, 9.5, 0.0, 0.0, 1.0)
    options = CloudOptions(stride=2, max_depth=5.0, min_confidence=0.3, organized=True)
    grid = build_cloud(depth, k, options, confidence=confidence)
    # the rule spelled out pixel by pixel
    expected_valid = np.array(
        [[bool(np.isfinite(depth[v, u]) and 0 < depth[v, u] <= 5.0 and confidence[v, u] >= 0.3) for u in range(0, 30, 2)] for v in range(0, 20, 2)]
    )
    assert grid.shape == (10, 15)
    np.testing.assert_array_equal(np.isfinite(grid["z"]), expected_valid)
    v, u = 2 * 3, 2 * 5  # one valid point, back-projected by hand
    assert expected_valid[3, 5]
    z = depth[v, u]
    np.testing.assert_allclose([grid["x"][3, 5], grid["y"][3, 5], grid["z"][3, 5]], [(u - 14.5) / 25.0 * z, (v - 9.5) / 24.0 * z, z], rtol=1e-6)
    dense = build_cloud(depth, k, CloudOptions(stride=2, max_depth=5.0, min_confidence=0.3), confidence=confidence)
    assert dense.shape == (int(expected_valid.sum()),)
    np.testing.assert_array_equal(dense.view(np.uint8), grid[expected_valid].view(np.uint8))  # bytes: NaN fields compare
    # maps the model lacks: label unlabelled, normals NaN
    assert (dense["label"] == UNLABELLED).all() and np.isnan(dense["normal_x"]).all()


def test_default_stride_keeps_a_vga_cloud_under_20k_points():
    stride = CloudOptions().stride
    assert len(range(0, 480, stride)) * len(range(0, 640, stride)) < 20_000


def test_rgb_packs_as_0x00rrggbb_and_is_sampled_from_a_larger_image():
    assert pack_rgb(np.array([255, 128, 1], np.uint8)).view(np.uint32) == 0xFF8001
    rgb = np.zeros((8, 12, 3), np.uint8)
    rgb[..., 0] = np.arange(12, dtype=np.uint8)[None, :] * 10  # red encodes the column
    rgb[..., 1] = np.arange(8, dtype=np.uint8)[:, None] * 20  # green encodes the row
    grid = build_cloud(np.ones((4, 6), np.float32), (5.0, 0, 2.5, 0, 5.0, 1.5, 0, 0, 1), CloudOptions(stride=1, organized=True), rgb=rgb)
    bits = grid["rgb"].view(np.uint32)
    # output pixel (r, c) of a 2x smaller map covers input pixels 2r..2r+1, 2c..2c+1; nearest = 2r+1, 2c+1
    np.testing.assert_array_equal((bits >> 16) & 0xFF, np.broadcast_to((2 * np.arange(6) + 1) * 10, (4, 6)))
    np.testing.assert_array_equal((bits >> 8) & 0xFF, np.broadcast_to((2 * np.arange(4)[:, None] + 1) * 20, (4, 6)))


@pytest.mark.ros
def test_sensor_msgs_py_reads_the_packed_message():
    if importlib.util.find_spec("sensor_msgs_py") is None:
        pytest.skip("sensor_msgs_py is not installed (it is a wheel in ../shared/ros2-cli; `make setup` installs it)")
    from sensor_msgs.msg import PointCloud2, PointField
    from sensor_msgs_py import point_cloud2

    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 3.0, (6, 8)).astype(np.float32)
    depth[1, 1] = np.nan
    labels = rng.integers(0, 10, (6, 8)).astype(np.uint8)
    normals = rng.normal(size=(6, 8, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    k = (6.0, 0.0, 3.5, 0.0, 6.0, 2.5, 0.0, 0.0, 1.0)
    for organized in (True, False):
        points = build_cloud(depth, k, CloudOptions(stride=1, organized=organized), rgb=rgb, labels=labels, normals=normals)
        msg = fill_point_cloud(PointCloud2(), points, PointField)
        read = point_cloud2.read_points(msg, skip_nans=False)
        assert read.dtype.names == POINT_DTYPE.names
        np.testing.assert_array_equal(read.view(np.uint8), np.ascontiguousarray(points.reshape(-1)).view(np.uint8))
        assert msg.is_dense is (not organized) and (msg.height, msg.width) == ((6, 8) if organized else (1, 47))
        ours = read_cloud(msg).reshape(-1)  # this package's reader agrees with the upstream one
        np.testing.assert_array_equal(ours.view(np.uint8), read.view(np.uint8))


def test_read_cloud_round_trips_and_rejects_short_payloads():
    from types import SimpleNamespace

    rng = np.random.default_rng(2)
    depth = rng.uniform(0.5, 3.0, (4, 5)).astype(np.float32)
    points = build_cloud(depth, (4.0, 0.0, 2.0, 0.0, 4.0, 1.5, 0.0, 0.0, 1.0), CloudOptions(stride=1, organized=True))
    msg = fill_point_cloud(SimpleNamespace(), points, lambda **kw: SimpleNamespace(**kw))
    np.testing.assert_array_equal(read_cloud(msg).view(np.uint8), np.ascontiguousarray(points).view(np.uint8))
    msg.data = msg.data[:-1]
    with pytest.raises(ValueError, match="short"):
        read_cloud(msg)
