"""MTAN-layout loader: round trip, validation errors naming the file, augmentation, make-dataset."""
import math
import re

import numpy as np
import pytest
import torch

from mtl_perception.cli import main as cli_main
from mtl_perception.data import (
    NUM_CLASSES,
    AugmentConfig,
    Camera,
    DatasetError,
    MTANDataset,
    read_camera,
    render_dataset_frame,
    write_camera,
    write_sample,
)
from mtl_perception.data.transforms import hflip, photometric, scale_crop

CAM = Camera.default(24, 32)


@pytest.fixture()
def root(tmp_path):
    for i in range(3):
        write_sample(tmp_path / "train", i, render_dataset_frame(11, i, CAM))
    write_camera(tmp_path, CAM)
    return tmp_path


def test_round_trip(root):
    ds = MTANDataset(root, "train", num_classes=NUM_CLASSES)
    assert len(ds) == 3
    sample = ds[1]
    frame = render_dataset_frame(11, 1, CAM)
    assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, 24, 32)
    assert sample["segmentation"].dtype == torch.int64 and sample["segmentation"].shape == (24, 32)
    assert sample["depth"].shape == (1, 24, 32) and sample["normals"].shape == (3, 24, 32)
    assert np.array_equal(sample["image"].numpy().transpose(1, 2, 0), frame.image)
    assert np.array_equal(sample["segmentation"].numpy(), frame.label)
    assert np.array_equal(sample["depth"].numpy()[0], frame.depth)
    np.testing.assert_allclose(sample["normals"].numpy().transpose(1, 2, 0), frame.normal, atol=1e-6)
    assert read_camera(root) == CAM
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["depth"].shape == (2, 1, 24, 32)


def test_mtan_style_float_labels_and_uint8_images_are_cast(root):
    d = root / "train"
    label = np.load(d / "label" / "0.npy")
    np.save(d / "label" / "0.npy", label.astype(np.float32))  # MTAN's NYUv2 stores labels as float
    np.save(d / "image" / "0.npy", np.full((24, 32, 3), 255, dtype=np.uint8))
    sample = MTANDataset(root, "train")[0]
    assert np.array_equal(sample["segmentation"].numpy(), label)
    assert torch.all(sample["image"] == 1.0)


def corrupt_cases():
    ok_image = np.zeros((24, 32, 3), np.float32)
    return [
        ("image", ok_image[..., 0], "shape"),
        ("image", ok_image + 1.5, "expected \\[0, 1\\]"),
        ("image", np.full((24, 32, 3), "a"), "dtype"),
        ("label", np.full((24, 32), 0.5), "non-integer"),
        ("label", np.full((24, 32), -2), "expected \\[-1"),
        ("label", np.full((24, 32), NUM_CLASSES), "expected \\[-1"),
        ("depth", np.full((24, 32, 1), -1.0, np.float32), "negative"),
        ("depth", np.full((24, 32, 1), np.nan, np.float32), "NaN"),
        ("depth", np.ones((12, 32, 1), np.float32), "pixels"),  # size differs from the image
        ("normal", np.full((24, 32, 3), 2.0, np.float32), "unit length"),
        ("normal", np.zeros((24, 32, 2), np.float32), "shape"),
    ]


@pytest.mark.parametrize("modality,array,message", corrupt_cases())
def test_malformed_files_raise_naming_the_file(root, modality, array, message):
    path = root / "train" / modality / "2.npy"
    np.save(path, array)
    ds = MTANDataset(root, "train", num_classes=NUM_CLASSES)
    ds[0]  # other samples stay readable
    with pytest.raises(DatasetError, match=message) as err:
        ds[2]
    assert str(path) in str(err.value)
    assert isinstance(err.value, ValueError)


def test_missing_and_unreadable_files(root):
    missing = root / "train" / "label" / "1.npy"
    missing.unlink()
    with pytest.raises(DatasetError, match=re.escape(str(missing))):
        MTANDataset(root, "train")
    np.save(missing, np.zeros((24, 32), np.int64))
    garbage = root / "train" / "depth" / "0.npy"
    garbage.write_bytes(b"not an array")
    with pytest.raises(DatasetError, match=re.escape(str(garbage))):
        MTANDataset(root, "train")[0]
    with pytest.raises(DatasetError, match="val"):
        MTANDataset(root, "val")
    (root / "camera.json").write_text("{")
    with pytest.raises(DatasetError, match="camera.json"):
        read_camera(root)
    assert read_camera(root / "train") is None


def test_flip_negates_normal_x_only():
    sample = {
        "image": torch.rand(3, 4, 5),
        "segmentation": torch.randint(-1, 5, (4, 5)),
        "depth": torch.rand(1, 4, 5),
        "normals": torch.nn.functional.normalize(torch.randn(3, 4, 5), dim=0),
    }
    out = hflip(sample)
    for key in ("image", "segmentation", "depth"):
        assert torch.equal(out[key], sample[key][..., torch.arange(4, -1, -1)])
    mirrored = sample["normals"][..., torch.arange(4, -1, -1)]
    assert torch.equal(out["normals"][0], -mirrored[0])
    assert torch.equal(out["normals"][1:], mirrored[1:])


def test_scale_crop_divides_depth_and_keeps_labels_aligned():
    h, w = 6, 8
    sample = {
        "image": torch.full((3, h, w), 0.25),
        "segmentation": torch.arange(h * w).reshape(h, w) % 7 - 1,
        "depth": torch.arange(1, h * w + 1, dtype=torch.float32).reshape(1, h, w),
        "normals": torch.nn.functional.normalize(torch.randn(3, h, w), dim=0),
    }
    out = scale_crop(sample, top=2, left=4, height=3, width=4)  # zoom ×2 on both axes
    # Nearest-neighbour: output pixel (i, j) comes from crop pixel (i // 2, j // 2).
    rows = 2 + torch.arange(h) // 2
    cols = 4 + torch.arange(w) // 2
    src = (rows[:, None], cols[None, :])
    assert torch.equal(out["segmentation"], sample["segmentation"][src])
    assert torch.equal(out["depth"][0], sample["depth"][0][src] / 2.0)
    assert torch.equal(out["normals"], sample["normals"][(slice(None), *src)])
    assert torch.allclose(out["image"], torch.full((3, h, w), 0.25))


def test_photometric_jitter_touches_the_image_only(root):
    sample = MTANDataset(root, "train")[0]
    out = photometric(sample, brightness=1.3, contrast=0.8, saturation=0.5)
    assert not torch.equal(out["image"], sample["image"])
    assert out["image"].min() >= 0 and out["image"].max() <= 1
    for key in ("segmentation", "depth", "normals"):
        assert out[key] is sample[key]


def test_augmented_samples_stay_consistent_and_seeded(root):
    config = AugmentConfig(crop_scale=(1.5, 1.5), flip_prob=0.0)
    ds = MTANDataset(root, "train", augment=config, seed=5)
    plain = MTANDataset(root, "train")
    for i in range(len(ds)):
        a, ref = ds[i], plain[i]
        invalid = a["segmentation"] == -1
        assert torch.equal(invalid, a["depth"][0] == 0)
        assert torch.equal(invalid, ~a["normals"].ne(0).any(0))
        zoom = math.sqrt((24 / 16) * (32 / round(32 / 1.5)))
        originals = set(ref["depth"][ref["depth"] > 0].tolist())
        rescaled = (a["depth"][a["depth"] > 0] * zoom).tolist()
        assert all(min(abs(v - o) for o in originals) < 1e-4 * v for v in rescaled[::37])
    first = ds[0]["image"]
    assert torch.equal(first, ds[0]["image"])  # same seed and epoch: same draw
    ds.set_epoch(1)
    assert not torch.equal(first, ds[0]["image"])


def test_augmentation_presets_by_name(root):
    from mtl_perception.data import AUGMENT_PRESETS
    from mtl_perception.data.transforms import augment

    plain = MTANDataset(root, "train")
    camera = MTANDataset(root, "train", augment="camera", seed=5)
    assert camera.augment == AUGMENT_PRESETS["camera"]
    for i in range(len(camera)):
        expected = augment(plain[i], AUGMENT_PRESETS["camera"], np.random.default_rng([5, 0, i]))
        assert all(torch.equal(camera[i][k], expected[k]) for k in expected)
    assert MTANDataset(root, "train", augment="basic").augment == MTANDataset(root, "train", augment=True).augment
    assert MTANDataset(root, "train", augment="camera", crop_scale=(1.1, 1.3)).augment.crop_scale == (1.1, 1.3)
    with pytest.raises(ValueError, match="known: basic, camera"):
        MTANDataset(root, "train", augment="fisheye")


def test_make_dataset_end_to_end(tmp_path, capsys):
    out = tmp_path / "synthetic"
    args = ["make-dataset", "--out", str(out), "--train", "3", "--val", "2", "--height", "48", "--width", "64", "--seed", "7"]
    assert cli_main(args) == 0
    cam = read_camera(out)
    assert cam == Camera.default(48, 64)
    train, val = MTANDataset(out, "train", num_classes=NUM_CLASSES), MTANDataset(out, "val", num_classes=NUM_CLASSES)
    assert (len(train), len(val)) == (3, 2)
    assert np.array_equal(train[0]["image"].numpy().transpose(1, 2, 0), render_dataset_frame(7, 0, cam).image)
    images = [s["image"] for s in (*train, *val)]
    assert all(not torch.equal(a, b) for k, a in enumerate(images) for b in images[k + 1 :])  # disjoint frames
    import cv2

    preview = cv2.imread(str(out / "preview.png"))
    assert preview is not None and preview.shape[1] > 4 * 64 and preview.shape[0] > 3 * 48
    assert cli_main(args) == 2  # refuses to overwrite silently
    assert cli_main([*args[:4], "1", *args[5:], "--overwrite"]) == 0
    assert len(MTANDataset(out, "train")) == 1  # no stale samples survive


def _uint8_image_root(tmp_path):
    """Frames written with uint8 images, as a camera (or a bag conversion) delivers them."""
    for i in range(4):
        frame = render_dataset_frame(12, i, CAM)
        write_sample(tmp_path / "train", i, frame)
        np.save(tmp_path / "train" / "image" / f"{i}.npy", np.rint(frame.image * 255).astype(np.uint8))
    return tmp_path


@pytest.mark.parametrize("augment", [False, True])
def test_in_memory_dataset_yields_the_file_backed_batches(tmp_path, augment):
    from mtl_perception.data import InMemoryDataset

    root = _uint8_image_root(tmp_path)
    files = MTANDataset(root, "train", augment=augment, seed=5)
    memory = InMemoryDataset(MTANDataset(root, "train", augment=augment, seed=5))
    assert len(memory) == len(files) == 4
    for epoch in range(2):
        files.set_epoch(epoch)
        memory.set_epoch(epoch)
        for expected, got in zip(torch.utils.data.DataLoader(files, batch_size=3), torch.utils.data.DataLoader(memory, batch_size=3)):
            assert expected.keys() == got.keys()
            for key in ("image", "segmentation", "depth"):
                assert expected[key].dtype == got[key].dtype and torch.equal(expected[key], got[key]), key
            # Normals are held as float16: the file value rounded to half precision (then augmented alike).
            rounded = expected["normals"].half().float()
            tolerance = 0.0 if not augment else 2e-3  # bilinear resampling mixes rounded neighbours
            assert (got["normals"] - rounded).abs().max().item() <= tolerance


def test_in_memory_dataset_rounds_float_images_to_camera_levels(root):
    from mtl_perception.data import InMemoryDataset

    files, memory = MTANDataset(root, "train"), InMemoryDataset(MTANDataset(root, "train"), limit=2)
    assert len(memory) == 2 and memory.nbytes == 2 * 24 * 32 * (3 * 1 + 2 + 4 + 3 * 2)
    expected = torch.round(files[1]["image"] * 255) / 255
    assert torch.equal(memory[1]["image"], expected)
    with pytest.raises(IndexError):
        memory[2]
