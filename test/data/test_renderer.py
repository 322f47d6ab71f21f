"""Renderer geometry checked against float64 pinhole algebra, plus determinism and masks."""
import math

import numpy as np
import pytest

from mtl_perception.data import (
    CLASS_NAMES,
    PALETTE,
    Box,
    Camera,
    Cylinder,
    Opening,
    Renderer,
    Sphere,
    pose_from_angles,
    random_pose,
    random_scene,
    render,
    render_dataset_frame,
    render_sequence,
    room_scene,
)
from mtl_perception.data.scene import plain_material

# Odd sizes: the principal point falls on a pixel centre, so that pixel's ray is the optical axis.
CAM = Camera.default(33, 45)
FLOOR, WALL, CEILING = (CLASS_NAMES.index(n) for n in ("floor", "wall", "ceiling"))


def pixel_rays(camera: Camera) -> np.ndarray:
    """H×W×3 optical-frame rays K⁻¹[u, v, 1] in float64, independent of the renderer's own."""
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    pix = np.stack([u, v, np.ones_like(u)], axis=-1)
    return pix @ np.linalg.inv(camera.matrix).T


def test_classes_and_palette():
    assert len(CLASS_NAMES) >= 8 and len(set(CLASS_NAMES)) == len(CLASS_NAMES)
    assert PALETTE.shape == (len(CLASS_NAMES), 3) and PALETTE.dtype == np.uint8
    assert len({tuple(c) for c in PALETTE}) == len(PALETTE)
    with pytest.raises(ValueError):
        PALETTE[0, 0] = 1  # shared constant is read-only


def test_camera_intrinsics():
    cam = Camera.default(144, 192)
    assert math.degrees(2 * math.atan(192 / 2 / cam.fx)) == pytest.approx(65.0)
    assert (cam.cx, cam.cy) == (95.5, 71.5)
    half = cam.scaled(72, 96)
    assert (half.fx, half.cx, half.cy) == pytest.approx((cam.fx / 2, 47.5, 35.5))  # centred stays centred
    assert half.scaled(144, 192) == cam
    assert Camera.from_dict(cam.to_dict()) == cam


def test_wall_at_known_distance_gives_exact_depth():
    scene = room_scene((4.0, 20.0, 20.0))  # the far wall fills the whole view
    frame = render(scene, pose_from_angles(np.array([1.0, 10.0, 10.0]), yaw=0.0, pitch=0.0), CAM)
    assert np.all(frame.depth == np.float32(3.0))
    assert np.all(frame.label == WALL)
    assert np.all(frame.normal == np.array([0.0, 0.0, -1.0], dtype=np.float32))


def test_tilted_view_of_a_plane_matches_float64_algebra():
    scene = room_scene((4.0, 20.0, 20.0))
    pose = pose_from_angles(np.array([1.0, 9.0, 11.0]), yaw=0.3, pitch=-0.2, roll=0.1)
    frame = render(scene, pose, CAM)
    rays_world = pixel_rays(CAM) @ pose.rotation.T
    expected = (4.0 - pose.position[0]) / rays_world[..., 0]  # wall x = 4, depth = ray parameter at z = 1
    assert np.all(frame.label == WALL)
    np.testing.assert_allclose(frame.depth, expected, rtol=1e-5)


def test_primitives_on_the_optical_axis():
    mat = plain_material()
    origin = np.array([1.0, 5.0, 1.0])
    cases = [
        (Box(center=(4.0, 5.0, 1.0), half=(0.5, 0.4, 0.3), yaw=0.0, class_id=6, material=mat), 2.5),
        (Box(center=(4.0, 5.0, 1.0), half=(0.5, 0.5, 0.3), yaw=math.pi / 4, class_id=6, material=mat), 3.0 - 0.5 * math.sqrt(2)),
        (Sphere(center=(4.0, 5.0, 1.0), radius=0.5, class_id=7, material=mat), 2.5),
        (Cylinder(x=4.0, y=5.0, z0=0.0, z1=2.0, radius=0.4, class_id=8, material=mat), 2.6),
    ]
    for prim, depth in cases:
        frame = render(room_scene((8.0, 10.0, 3.0), [prim]), pose_from_angles(origin, 0.0, 0.0), CAM)
        centre = (CAM.height // 2, CAM.width // 2)
        assert frame.label[centre] == prim.class_id
        assert frame.depth[centre] == pytest.approx(depth, rel=1e-6)
        # Every surface here faces the camera head-on along the axis (the yawed box shows an edge:
        # its normal there is one of the two faces at ±45°).
        n = frame.normal[centre]
        assert n[2] == pytest.approx(-1.0, abs=1e-6) or abs(n[2]) == pytest.approx(math.sqrt(0.5), abs=1e-6)


def scene_frames(seeds=range(6)):
    for seed in seeds:
        rng = np.random.default_rng(seed)
        scene, pose = random_pose(random_scene(rng), rng)
        yield scene, pose, render(scene, pose, CAM, rng)


def test_normals_are_unit_and_face_the_camera():
    rays = pixel_rays(CAM)
    for _, _, frame in scene_frames():
        valid = frame.depth > 0
        n = frame.normal[valid].astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
        assert np.all(np.sum(n * rays[valid], axis=1) < 0)


def test_floor_and_ceiling_back_project_onto_their_planes():
    rays = pixel_rays(CAM)
    checked = 0
    for scene, pose, frame in scene_frames(range(8)):
        world = (frame.depth[..., None] * rays) @ pose.rotation.T + pose.position
        for cls, height, up in ((FLOOR, 0.0, 1.0), (CEILING, scene.room.size[2], -1.0)):
            mask = frame.label == cls
            if not mask.any():
                continue
            checked += 1
            np.testing.assert_allclose(world[mask][:, 2], height, atol=1e-4)
            # The plane's normal (inward, +z for the floor) expressed in the camera frame: Rᵀ n.
            expected = pose.rotation.T @ np.array([0.0, 0.0, up])
            np.testing.assert_allclose(frame.normal[mask], np.broadcast_to(expected, (mask.sum(), 3)), atol=1e-6)
    assert checked >= 4


def test_window_pixels_are_invalid_in_every_task_and_objects_in_front_are_not():
    window = Opening(wall=1, u0=4.0, u1=6.0, z0=0.5, z1=1.5)  # in the far wall x = 8, straight ahead
    ball = Sphere(center=(6.0, 5.0, 1.0), radius=0.15, class_id=7, material=plain_material())
    frame = render(room_scene((8.0, 10.0, 3.0), [ball], [window]), pose_from_angles(np.array([1.0, 5.0, 1.0]), 0.0, 0.0), CAM)
    centre = (CAM.height // 2, CAM.width // 2)
    assert frame.label[centre] == 7 and frame.depth[centre] == pytest.approx(4.85, rel=1e-6)
    # Just beside the ball the ray leaves through the window: depth x=8 at 7 m would be inside [4, 6] × [0.5, 1.5].
    beside = (centre[0], centre[1] + 3)
    assert frame.label[beside] == -1 and frame.depth[beside] == 0 and not frame.normal[beside].any()


def test_invalid_masks_agree():
    invalid_seen = 0
    frames = [f for _, _, f in scene_frames(range(6))] + [render_dataset_frame(0, i, CAM) for i in range(10)]
    for frame in frames:
        by_label = frame.label == -1
        by_depth = frame.depth == 0
        by_normal = ~np.any(frame.normal != 0, axis=-1)
        assert np.array_equal(by_label, by_depth) and np.array_equal(by_label, by_normal)
        invalid_seen += int(by_label.sum())
        assert frame.image.dtype == np.float32 and frame.image.min() >= 0 and frame.image.max() <= 1
        assert frame.label.dtype == np.int64 and frame.label.max() < len(CLASS_NAMES)
        assert np.all(np.isfinite(frame.depth)) and frame.depth.dtype == np.float32
    assert invalid_seen > 0  # the generator does produce openings


def test_same_seed_same_output():
    a, b, c = (render_dataset_frame(3, i, CAM) for i in (5, 5, 6))
    for field in ("image", "label", "depth", "normal"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.depth, c.depth)
    clean = Renderer(CAM)
    scene, pose, _ = next(scene_frames([1]))
    assert np.array_equal(clean.render(scene, pose).image, clean.render(scene, pose).image)


def test_sequence_is_deterministic_and_smooth():
    fps = 15.0
    first = list(render_sequence(2, 8, CAM, fps=fps))
    again = list(render_sequence(2, 8, CAM, fps=fps))
    assert len(first) == 8
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.depth, y.depth) for x, y in zip(first, again))
    steps = [np.linalg.norm(b.pose.position - a.pose.position) for a, b in zip(first, first[1:])]
    assert 0 < min(steps) and max(steps) < 1.0 / fps  # under 1 m/s walking speed
    turns = [np.degrees(np.arccos(np.clip((np.trace(a.pose.rotation.T @ b.pose.rotation) - 1) / 2, -1, 1))) for a, b in zip(first, first[1:])]
    assert max(turns) < 5.0  # degrees per frame
    # The camera never sits inside furniture: all depths stay clear of the near plane.
    assert all(f.depth[f.depth > 0].min() > 0.05 for f in first)
