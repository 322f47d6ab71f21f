"""Domain randomisation: the "randomized" render style keeps labels, depth and normals exact, and the
"camera" augmentation preset moves images the way real cameras do while leaving the targets alone."""
import math

import numpy as np
import pytest
import torch

from mtl_perception.cli import main as cli_main
from mtl_perception.data import (
    AUGMENT_PRESETS,
    CLASS_NAMES,
    RENDER_STYLES,
    AugmentConfig,
    Box,
    Camera,
    MTANDataset,
    Opening,
    RenderStyle,
    Renderer,
    random_pose,
    random_scene,
    render_dataset_frame,
    render_sequence,
    render_style,
)
from mtl_perception.data import camera_effects as fx
from mtl_perception.data.lighting import ShadowCaster, through_opening
from mtl_perception.data.noise import fbm
from mtl_perception.data.normals_from_depth import normals_from_depth
from mtl_perception.data.primitives import intersect_boxes
from mtl_perception.data.scene import plain_material
from mtl_perception.data.textures import Pattern
from mtl_perception.data.transforms import augment, camera, hflip, photometric, scale_crop

CAM = Camera.default(48, 64)
RANDOMIZED = RENDER_STYLES["randomized"]
FLOOR, CEILING = CLASS_NAMES.index("floor"), CLASS_NAMES.index("ceiling")


def randomized_views(seeds):
    """(scene, pose, frame) rendered in the randomized style from the public building blocks."""
    renderer = Renderer(CAM, RANDOMIZED.sensor, RANDOMIZED.shading)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        scene, pose = random_pose(random_scene(rng, style=RANDOMIZED.scene), rng, style=RANDOMIZED.pose)
        yield scene, pose, renderer.render(scene, pose, rng)


@pytest.fixture(scope="module")
def views():
    return list(randomized_views(range(8)))


def pixel_rays(camera: Camera) -> np.ndarray:
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    return np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(camera.matrix).T


# --- render styles ---------------------------------------------------------------------------


def test_styles_are_named_and_classic_is_the_default():
    assert set(RENDER_STYLES) == {"classic", "randomized"}
    assert RENDER_STYLES["classic"] == RenderStyle() and render_style("randomized") is RANDOMIZED
    with pytest.raises(ValueError, match="known: classic, randomized"):
        render_style("photoreal")
    default, classic = render_dataset_frame(4, 2, CAM), render_dataset_frame(4, 2, CAM, style="classic")
    for field in ("image", "label", "depth", "normal"):
        assert np.array_equal(getattr(default, field), getattr(classic, field))


def test_randomized_masks_agree_and_normals_are_unit_facing_the_camera(views):
    rays = pixel_rays(CAM)
    for _, _, frame in views:
        invalid = frame.label == -1
        assert np.array_equal(invalid, frame.depth == 0) and np.array_equal(invalid, ~frame.normal.any(-1))
        valid = ~invalid
        n = frame.normal[valid].astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
        assert np.all(np.sum(n * rays[valid], axis=1) < 0)
        assert frame.image.dtype == np.float32 and 0 <= frame.image.min() and frame.image.max() <= 1
        assert frame.label.max() < len(CLASS_NAMES)


def test_randomized_floor_and_ceiling_back_project_onto_their_planes(views):
    rays = pixel_rays(CAM)
    checked = 0
    for scene, pose, frame in views:
        world = (frame.depth[..., None] * rays) @ pose.rotation.T + pose.position
        for cls, height, up in ((FLOOR, 0.0, 1.0), (CEILING, scene.room.size[2], -1.0)):
            mask = frame.label == cls
            if mask.any():
                checked += 1
                np.testing.assert_allclose(world[mask][:, 2], height, atol=1e-4)
                expected = pose.rotation.T @ np.array([0.0, 0.0, up])
                np.testing.assert_allclose(frame.normal[mask], np.broadcast_to(expected, (mask.sum(), 3)), atol=1e-6)
    assert checked >= 6


def test_randomized_normals_from_depth_match_on_planar_pixels(views):
    """As for the classic frames (test_normals_from_depth): inside flat faces the normal computed
    from the rendered depth agrees with the rendered normal."""
    h, w = CAM.height, CAM.width
    angles, covered, planar_total = [], 0, 0
    for _, _, frame in views:
        padded = np.pad(frame.normal, ((1, 1), (1, 1), (0, 0)))
        planar = frame.normal.any(-1)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                planar &= np.abs(padded[1 + dy : h + 1 + dy, 1 + dx : w + 1 + dx] - frame.normal).max(-1) < 1e-5
        from_depth = normals_from_depth(frame.depth, CAM)
        both = planar & from_depth.any(-1)
        cos = np.clip((from_depth[both] * frame.normal[both]).sum(-1), -1.0, 1.0)
        angles.append(np.degrees(np.arccos(cos)))
        covered, planar_total = covered + both.sum(), planar_total + planar.sum()
    assert np.median(np.concatenate(angles)) <= 2.0
    assert covered >= 0.85 * planar_total


def test_randomized_camera_height_pitch_and_roll_ranges():
    pose_style = RANDOMIZED.pose
    assert (pose_style.height, pose_style.pitch_deg) == ((0.3, 1.8), (-35.0, 10.0))
    heights, pitches, rolls = [], [], []
    for seed in range(40):
        rng = np.random.default_rng(1000 + seed)
        scene, pose = random_pose(random_scene(rng, style=RANDOMIZED.scene), rng, style=pose_style)
        z, top = pose.position[2], min(1.8, scene.room.size[2] - pose_style.ceiling_gap)
        assert 0.3 <= z <= top
        forward, right = pose.rotation[:, 2], pose.rotation[:, 0]
        pitch = math.degrees(math.asin(forward[2]))
        assert -35.0 - 1e-9 <= pitch <= 10.0 + 1e-9
        heights.append(z)
        pitches.append(pitch)
        rolls.append(math.degrees(math.asin(-right[2] / math.cos(math.radians(pitch)))))  # tilt of the x axis
    assert min(heights) < 0.6 and max(heights) > 1.5  # robot-low to hand-held
    assert min(pitches) < -25.0 and max(pitches) > 0.0
    assert 3.0 < np.std(rolls) < 7.0  # roll std is 5 degrees: some roll, never upside down


def test_randomized_style_is_reproducible_and_differs_by_index():
    a, b, c = (render_dataset_frame(6, i, CAM, style="randomized") for i in (3, 3, 4))
    for field in ("image", "label", "depth", "normal"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.depth, c.depth)
    first, again = (list(render_sequence(2, 3, CAM, style="randomized")) for _ in range(2))
    assert all(np.array_equal(x.image, y.image) for x, y in zip(first, again))


def test_randomized_rooms_are_more_varied_than_classic():
    def stats(style):
        scenes = [random_scene(np.random.default_rng(k), style=RENDER_STYLES[style].scene) for k in range(10)]
        materials = [m for s in scenes for m in (*s.room_materials, *(p.material for p in s.primitives))]
        frames = [render_dataset_frame(9, i, CAM, style=style) for i in range(10)]
        return (
            np.mean([len(s.primitives) for s in scenes]),
            np.mean([m.pattern >= Pattern.FRACTAL for m in materials]),
            np.mean([m.specular > 0 for m in materials]),
            np.mean([len(s.lights) for s in scenes]),
            np.mean([np.mean(f.label >= CLASS_NAMES.index("table")) for f in frames]),  # object pixels
        )

    classic, randomized = stats("classic"), stats("randomized")
    assert classic[1:3] == (0.0, 0.0)  # flat colours and matte surfaces only
    assert randomized[0] >= 2 * classic[0]  # clutter
    assert randomized[1] >= 0.5 and randomized[2] >= 0.5  # photographic textures, highlights
    assert randomized[3] > classic[3]
    assert randomized[4] >= 1.5 * classic[4]  # objects fill more of the view


def test_shadow_rays_find_the_occluder_between_lamp_and_point():
    box = Box(center=(2.0, 2.0, 1.0), half=(0.2, 0.2, 0.2), yaw=0.3, class_id=6, material=plain_material())
    lamp = np.array([2.0, 2.0, 2.5])
    points = np.array([[2.0, 2.0, 0.0], [3.5, 2.0, 0.0], [2.0, 2.0, 1.2], [2.0, 2.1, 0.5]], dtype=np.float32).T
    # Under the box, beside it, on its lit top face (no self-shadow), and just under it.
    assert ShadowCaster([box]).in_shadow(lamp, points).tolist() == [True, False, False, True]
    window = Opening(wall=0, u0=1.0, u1=2.0, z0=1.0, z1=2.0)  # wall x = 0, along-wall u = y
    outside = np.array([-1.0, 1.5, 2.5])
    inside = np.array([[1.0, 1.5, 0.5], [1.0, 3.0, 0.5]], dtype=np.float32).T  # crosses x = 0 at z = 1.5 / y = 2.25
    assert through_opening(outside, inside, window, (4.0, 4.0, 3.0)).tolist() == [True, False]


def test_batched_box_intersection_equals_the_boxes_one_by_one():
    mat = plain_material()
    boxes = [Box(center=(1.0 + k, 2.0, 0.5 * k + 0.3), half=(0.3, 0.2 + 0.1 * k, 0.25), yaw=0.4 * k, class_id=6, material=mat)
             for k in range(3)]
    rng = np.random.default_rng(2)
    d = [rng.normal(size=(9, 11)).astype(np.float32) for _ in range(3)]
    origin = np.array([0.2, 1.9, 0.8])
    batched = intersect_boxes(boxes, origin, *d)
    assert batched.shape == (3, 9, 11) and np.isfinite(batched).any()
    for k, box in enumerate(boxes):
        np.testing.assert_array_equal(batched[k], box.intersect(origin, *d))


def test_fractal_noise_fades_to_its_mean_beyond_the_pixel_footprint():
    rng = np.random.default_rng(0)
    x, y, z = (rng.uniform(0, 50, 20000).astype(np.float32) for _ in range(3))
    sharp = fbm(x, y, z, np.zeros_like(x))
    assert 0.1 < sharp.std() < 0.3 and abs(sharp.mean()) < 0.02
    assert not fbm(x, y, z, np.full_like(x, 0.5)).any()  # pixels a half period wide: nothing left to alias


def test_make_dataset_randomized_style(tmp_path):
    out = tmp_path / "dr"
    args = ["make-dataset", "--out", str(out), "--train", "2", "--val", "1", "--height", "24", "--width", "32",
            "--seed", "5", "--style", "randomized", "--preview", "0"]
    assert cli_main(args) == 0
    sample = MTANDataset(out, "train")[1]
    expected = render_dataset_frame(5, 1, Camera.default(24, 32), style="randomized")
    assert np.array_equal(sample["image"].numpy().transpose(1, 2, 0), expected.image)
    assert np.array_equal(sample["depth"].numpy()[0], expected.depth)


# --- camera augmentation ---------------------------------------------------------------------


def _sample(seed=1, size=(48, 64)):
    frame = render_dataset_frame(seed, 0, Camera.default(*size))
    return {
        "image": torch.from_numpy(frame.image.transpose(2, 0, 1).copy()),
        "segmentation": torch.from_numpy(frame.label),
        "depth": torch.from_numpy(frame.depth[None].copy()),
        "normals": torch.from_numpy(frame.normal.transpose(2, 0, 1).copy()),
    }


def _only(**kwargs) -> AugmentConfig:
    return AugmentConfig(**kwargs)


def test_basic_preset_is_the_original_augmentation_draw_for_draw():
    assert AUGMENT_PRESETS["basic"] == AugmentConfig() and not AugmentConfig().any_camera_effect
    sample = _sample()
    for seed in range(6):
        rng, ref_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        out = augment(sample, AUGMENT_PRESETS["basic"], rng)
        # The original pipeline, written out: scale-crop, flip, then brightness/contrast/saturation.
        ref, (h, w) = sample, sample["image"].shape[-2:]
        scale = ref_rng.uniform(1.0, 1.2)
        ch, cw = max(1, round(h / scale)), max(1, round(w / scale))
        if scale > 1.0 and (ch, cw) != (h, w):
            ref = scale_crop(ref, int(ref_rng.integers(0, h - ch + 1)), int(ref_rng.integers(0, w - cw + 1)), ch, cw)
        if ref_rng.random() < 0.5:
            ref = hflip(ref)
        ref = photometric(ref, *(ref_rng.uniform(0.8, 1.2) for _ in range(3)))
        for key in ref:
            assert torch.equal(out[key], ref[key])
        assert rng.random() == ref_rng.random()  # and no extra random numbers were drawn


def test_camera_effects_never_touch_the_targets():
    sample = _sample()
    for seed in range(5):
        out = camera(sample, AUGMENT_PRESETS["camera"], np.random.default_rng(seed))
        assert all(out[k] is sample[k] for k in ("segmentation", "depth", "normals"))
        assert out["image"].dtype == torch.float32 and out["image"].shape == sample["image"].shape
        assert 0 <= out["image"].min() and out["image"].max() <= 1 and not torch.equal(out["image"], sample["image"])
        full = augment(sample, AUGMENT_PRESETS["camera"], np.random.default_rng(seed))
        invalid = full["segmentation"] == -1
        assert torch.equal(invalid, full["depth"][0] == 0) and torch.equal(invalid, ~full["normals"].ne(0).any(0))
    a, b = (camera(sample, AUGMENT_PRESETS["camera"], np.random.default_rng(7))["image"] for _ in range(2))
    assert torch.equal(a, b)


def test_exposure_and_gamma_follow_their_formulas():
    image = np.random.default_rng(0).uniform(0.0, 0.6, (8, 8, 3)).astype(np.float32)
    doubled = fx.camera_effects(image, _only(exposure_prob=1.0, exposure=(2.0, 2.0)), np.random.default_rng(0))
    np.testing.assert_allclose(doubled, np.minimum(image * 2.0 ** (1 / 2.2), 1.0), rtol=1e-5, atol=1e-6)
    curved = fx.camera_effects(image, _only(gamma_prob=1.0, gamma=(1.5, 1.5)), np.random.default_rng(0))
    np.testing.assert_allclose(curved, image**1.5, rtol=1e-5, atol=1e-7)


def test_white_balance_gains_are_measured_back_from_a_grey_image():
    grey = np.full((16, 16, 3), 0.5, dtype=np.float32)
    config = _only(white_balance_prob=1.0, white_balance=0.2)
    measured = []
    for seed in range(6):
        out = fx.camera_effects(grey, config, np.random.default_rng(seed))
        gains = (out.reshape(-1, 3).mean(0) / 0.5) ** 2.2  # back to linear: the gain per channel
        rng = np.random.default_rng(seed)
        rng.random()  # the "is it on" draw
        expected = np.exp(rng.uniform(-0.2, 0.2, size=3))
        np.testing.assert_allclose(gains, expected / expected[1], rtol=1e-4)
        assert np.ptp(out.reshape(-1, 3), axis=0).max() < 1e-6  # a flat image stays flat
        measured.append(gains)
    measured = np.array(measured)
    np.testing.assert_allclose(measured[:, 1], 1.0, rtol=1e-6)  # green is the reference
    assert measured[:, [0, 2]].min() >= math.exp(-0.4) - 1e-6 and measured[:, [0, 2]].max() <= math.exp(0.4) + 1e-6
    assert np.ptp(measured[:, 0]) > 0.05 and np.ptp(measured[:, 2]) > 0.05


@pytest.mark.parametrize("level", [0.0, 0.25])
def test_sensor_noise_variance_matches_the_model_on_a_flat_image(level):
    flat = np.full((256, 256, 3), level, dtype=np.float32)
    noisy = fx.sensor_noise(flat, shot=0.04, read=0.01, rng=np.random.default_rng(3))
    variance = 0.04**2 * level + 0.01**2
    n = noisy.size
    assert abs(noisy.mean() - level) < 5 * math.sqrt(variance / n)
    assert noisy.var() == pytest.approx(variance, rel=5 * math.sqrt(2 / n))


def test_jpeg_round_trip_changes_a_textured_image_but_keeps_its_format():
    rng = np.random.default_rng(0)
    textured = np.clip(0.5 + 0.25 * rng.standard_normal((48, 64, 3)), 0, 1).astype(np.float32)
    low, high = fx.jpeg(textured, 30), fx.jpeg(textured, 95)
    for out in (low, high):
        assert out.shape == textured.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    err_low, err_high = np.abs(low - textured).mean(), np.abs(high - textured).mean()
    assert err_low > 0.02 and err_high < err_low


def test_vignetting_darkens_corners_not_the_centre():
    out = fx.vignette(np.ones((33, 45, 3), dtype=np.float32), 0.4)
    assert np.all(out[16, 22] == 1.0)
    for corner in (out[0, 0], out[0, -1], out[-1, 0], out[-1, -1]):
        np.testing.assert_allclose(corner, 0.6, rtol=1e-6)
    assert np.all(np.diff(out[16, 22:, 0]) <= 0)  # monotone fall-off towards the edge


def test_blurs_keep_energy_and_spread_along_their_direction():
    dot = np.zeros((21, 21, 3), dtype=np.float32)
    dot[10, 10] = 1.0
    lens = fx.gaussian_blur(dot, 1.0)
    assert lens.sum() == pytest.approx(3.0, rel=1e-5) and lens[10, 10, 0] < 0.2
    np.testing.assert_allclose(lens[10, 11], lens[11, 10], rtol=1e-6)  # isotropic
    streak = fx.motion_blur(dot, 6.0, 0.0)  # horizontal
    assert streak.sum() == pytest.approx(3.0, rel=1e-5)
    assert streak[10].sum() > 0.99 * streak.sum() and np.count_nonzero(streak[10, :, 0]) >= 6


def test_chromatic_shift_moves_red_out_and_blue_in():
    image = np.zeros((41, 61, 3), dtype=np.float32)
    image[35:38, 52:55] = 1.0  # a square near the lower right corner
    out = fx.chromatic_shift(image, 1.0)
    np.testing.assert_array_equal(out[..., 1], image[..., 1])  # green is the reference

    def centre_distance(channel):
        v, u = np.mgrid[0:41, 0:61]
        w = channel / channel.sum()
        return math.hypot((u * w).sum() - 30.0, (v * w).sum() - 20.0)

    base = centre_distance(image[..., 1])
    corner = math.hypot(30.0, 20.0)
    assert centre_distance(out[..., 0]) - base == pytest.approx(base / corner, rel=0.05)
    assert base - centre_distance(out[..., 2]) == pytest.approx(base / corner, rel=0.05)


def test_augment_config_rejects_bad_camera_settings():
    with pytest.raises(ValueError, match="jpeg_prob"):
        AugmentConfig(jpeg_prob=1.5)
    with pytest.raises(ValueError, match="blur_sigma"):
        AugmentConfig(blur_sigma=(2.0, 1.0))
    with pytest.raises(ValueError, match="jpeg_quality"):
        AugmentConfig(jpeg_quality=(0, 50))
    assert AUGMENT_PRESETS["camera"].any_camera_effect
