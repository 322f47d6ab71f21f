"""bag-to-dataset: stamp pairing counts, time-block split, 16UC1 = 32FC1 within 1 mm, the dataset loads with
MTANDataset and matches the renderer, the CLI end to end, one-line errors and an --out it never clobbers."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mtl_perception.bag import messages as m
from mtl_perception.bag.frame_selection import pair_by_stamp, split_by_time
from mtl_perception.bag.io import BagWriter
from mtl_perception.bag.make_bag import CAMERA_INFO_TOPIC, GT_TOPICS, IMAGE_TOPIC, frame_stamp, write_bag
from mtl_perception.bag.to_dataset import Topics, convert_bag
from mtl_perception.cli import main as cli_main
from mtl_perception.data import Camera, MTANDataset, read_camera, render_sequence

H, W, FRAMES, FPS, SEED = 32, 48, 8, 15.0, 5
TOPICS = Topics(IMAGE_TOPIC, GT_TOPICS["depth"], CAMERA_INFO_TOPIC)
MS = 1_000_000


def _rendered_bag(path: Path, **kwargs) -> Path:
    write_bag(path, frames=FRAMES, fps=FPS, height=H, width=W, seed=SEED, **kwargs)
    return path


@pytest.fixture(scope="module")
def bags(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bags")
    return {
        "16UC1": _rendered_bag(root / "mm", depth_encoding="16UC1", compressed="png"),
        "32FC1": _rendered_bag(root / "m", depth_encoding="32FC1", storage="sqlite3"),
    }


@pytest.fixture(scope="module")
def truth() -> list:
    return list(render_sequence(SEED, FRAMES, Camera.default(H, W), fps=FPS))


def _convert(bag: Path, out: Path, **kwargs) -> dict:
    topics = kwargs.pop("topics", TOPICS)
    return convert_bag(bag, out, topics, **{"val_fraction": 0.25, "gap_s": 0.0, "progress": False, **kwargs})


def _arrays(root: Path, split: str, name: str) -> list[np.ndarray]:
    files = sorted((root / split / name).glob("*.npy"), key=lambda p: int(p.stem))
    return [np.load(f) for f in files]


# Stamps: 30 images at 15 fps; depth jittered within ±8 ms, frames 3, 10, 11 missing, frames 5 and
# 20 recorded twice, and two stray depth frames half a period away from any image.
IMAGES = [frame_stamp(i, FPS) for i in range(30)]
MISSING, DUPLICATED = {3, 10, 11}, (5, 20)
JITTER = np.random.default_rng(0).integers(-8 * MS, 8 * MS, size=30)
DEPTH = [s + int(j) for i, (s, j) in enumerate(zip(IMAGES, JITTER)) if i not in MISSING]
DEPTH += [IMAGES[i] + int(JITTER[i]) for i in DUPLICATED] + [IMAGES[7] + 33 * MS, IMAGES[25] + 33 * MS]
EXPECTED = {"images": 30, "depth_frames": 27 + 2 + 2, "matched": 27, "unmatched_images": 3,
            "unmatched_depth": 2, "duplicate_depth": 2, "duplicate_images": 0}


def test_pairing_counts_equal_the_constructed_ones():
    pairing = pair_by_stamp(IMAGES, DEPTH, 20 * MS)
    got = {"images": pairing.primary, "depth_frames": pairing.secondary, "matched": len(pairing.pairs),
           "unmatched_images": pairing.unmatched_primary, "unmatched_depth": pairing.unmatched_secondary,
           "duplicate_depth": pairing.duplicate_secondary, "duplicate_images": pairing.duplicate_primary}
    assert got == EXPECTED
    expected_pairs = {IMAGES[i]: IMAGES[i] + int(JITTER[i]) for i in range(30) if i not in MISSING}
    assert pairing.pairs == expected_pairs


def test_a_depth_frame_supervises_one_image_only():
    pairing = pair_by_stamp([0, 10 * MS], [6 * MS], 20 * MS)  # both within the window; the nearer wins
    assert pairing.pairs == {10 * MS: 6 * MS} and pairing.unmatched_primary == 1


def _jittered_bag(path: Path) -> Path:
    """A hand-made RGB-D bag with the stamps above (16UC1 depth of a wall at 2 m, 16×24 pixels)."""
    camera = Camera.default(16, 24)
    rgb = np.full((16, 24, 3), 128, np.uint8)
    depth = np.full((16, 24), 2000, np.uint16)
    with BagWriter(path, "mcap") as bag:
        for topic, msgtype in ((IMAGE_TOPIC, m.IMAGE), (GT_TOPICS["depth"], m.IMAGE), (CAMERA_INFO_TOPIC, m.CAMERA_INFO)):
            bag.add_topic(topic, msgtype)
        for stamp in IMAGES:
            bag.write(IMAGE_TOPIC, stamp, m.image_msg(rgb, "rgb8", stamp, "cam"))
            bag.write(CAMERA_INFO_TOPIC, stamp, m.camera_info_msg(camera, stamp, "cam"))
        for stamp in DEPTH:
            bag.write(GT_TOPICS["depth"], stamp + 3 * MS, m.image_msg(depth, "16UC1", stamp, "cam"))
    return path


def test_conversion_reports_the_constructed_counts(tmp_path):
    report = _convert(_jittered_bag(tmp_path / "bag"), tmp_path / "ds", max_dt_ms=20.0, val_fraction=0.0)
    assert {key: report[key] for key in EXPECTED} == EXPECTED
    assert report["train"] == 27 and report["val"] == 0
    assert len(MTANDataset(tmp_path / "ds", "train")) == 27
    thinned = _convert(tmp_path / "bag", tmp_path / "ds3", max_dt_ms=20.0, val_fraction=0.0, every=3)
    assert thinned["train"] == 9 and thinned["skipped_every"] == 18


def test_split_is_by_time_blocks_with_a_gap():
    stamps = [i * 100 * MS for i in range(300)]  # 30 s at 10 fps
    split = split_by_time(stamps, 0.2, period_ns=10_000 * MS, gap_ns=500 * MS)
    # Val is the last 2 s of each 10 s period (frames 80-99, 180-199, 280-299), less what lies closer than
    # 0.5 s to train: frames 80-84 after each cut, 96-99 before the next period's start.
    expected_val = [i for i in range(300) if 85 <= i % 100 <= 95 or i >= 285]
    assert split.val == [stamps[i] for i in expected_val]
    train, val = np.array(split.train) / 1e9, np.array(split.val) / 1e9
    assert np.abs(train[:, None] - val[None, :]).min() >= 0.5
    # 9 frames at each of the 3 train->val cuts and the 2 val->train period starts.
    assert split.dropped_at_boundaries == 300 - len(split.train) - len(split.val) == 5 * 9


def test_16uc1_and_32fc1_bags_give_the_same_dataset(bags, truth, tmp_path):
    reports = {enc: _convert(bag, tmp_path / enc) for enc, bag in bags.items()}
    assert reports["16UC1"]["train"] == reports["32FC1"]["train"] == 6 and reports["16UC1"]["val"] == 2
    for split in ("train", "val"):
        mm, metres = _arrays(tmp_path / "16UC1", split, "depth"), _arrays(tmp_path / "32FC1", split, "depth")
        for a, b in zip(mm, metres, strict=True):
            assert np.abs(a - b).max() <= 0.0005 + 1e-6  # rounding to whole millimetres
    exact = [np.asarray(f.depth) for f in truth]
    converted = _arrays(tmp_path / "32FC1", "train", "depth") + _arrays(tmp_path / "32FC1", "val", "depth")
    np.testing.assert_array_equal(np.stack(converted)[..., 0], np.stack(exact))


def test_converted_dataset_loads_and_matches_the_renderer(bags, truth, tmp_path):
    topics = Topics(IMAGE_TOPIC, GT_TOPICS["depth"], CAMERA_INFO_TOPIC, GT_TOPICS["segmentation"])
    _convert(bags["32FC1"], tmp_path / "labelled", topics=topics)
    _convert(bags["16UC1"], tmp_path / "unlabelled")
    assert read_camera(tmp_path / "labelled") == Camera.default(H, W)
    samples = [s for split in ("train", "val") for s in MTANDataset(tmp_path / "labelled", split)]
    assert len(samples) == FRAMES
    for sample, frame in zip(samples, truth):
        assert sample["image"].shape == (3, H, W) and sample["normals"].shape == (3, H, W)
        np.testing.assert_array_equal(sample["segmentation"].numpy(), frame.label)
        rgb = np.clip(np.rint(frame.image * 255), 0, 255) / 255
        np.testing.assert_allclose(sample["image"].numpy().transpose(1, 2, 0), rgb, atol=1e-6)
    for split in ("train", "val"):
        assert all((s["segmentation"] == -1).all() for s in MTANDataset(tmp_path / "unlabelled", split))


def _cli(bag: Path, out: Path, *extra: str) -> int:
    return cli_main(["bag-to-dataset", str(bag), "--out", str(out), "--image-topic", IMAGE_TOPIC,
                     "--depth-topic", GT_TOPICS["depth"], "--camera-info-topic", CAMERA_INFO_TOPIC,
                     "--split-gap-s", "0", "--no-progress", *extra])


def test_cli_end_to_end_and_overwrite(tmp_path, capsys):
    bag = tmp_path / "bag"
    assert cli_main(["make-bag", "--out", str(bag), "--frames", "4", "--height", "24", "--width", "32",
                     "--depth-encoding", "16UC1", "--no-progress"]) == 0
    out = tmp_path / "ds"
    assert _cli(bag, out, "--val-fraction", "0.5") == 0
    printed = capsys.readouterr().out
    assert "matched within 20 ms: 4" in printed and "wrote 2 train + 2 val samples" in printed
    assert _cli(bag, out) == 2 and "--overwrite" in capsys.readouterr().err
    assert _cli(bag, out, "--overwrite", "--val-fraction", "0") == 0
    assert not (out / "val").exists() and len(MTANDataset(out, "train")) == 4  # the old val files went
    (out / "notes.txt").write_text("mine")
    assert _cli(bag, out, "--overwrite") == 2 and (out / "notes.txt").read_text() == "mine"
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "keep.npy").write_bytes(b"x")
    assert _cli(bag, stranger, "--overwrite") == 2 and (stranger / "keep.npy").exists()
    assert _cli(bag, bag / "inside") == 2 and not (bag / "inside").exists()


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    return err


def test_clear_one_line_errors(bags, tmp_path, capsys):
    bag = bags["32FC1"]
    assert cli_main(["bag-to-dataset", str(bag), "--out", str(tmp_path / "a"), "--image-topic", "/nope",
                     "--depth-topic", GT_TOPICS["depth"], "--camera-info-topic", CAMERA_INFO_TOPIC]) == 2
    assert "'/nope' not found" in (err := _error(capsys)) and IMAGE_TOPIC in err
    assert cli_main(["bag-to-dataset", str(bag), "--out", str(tmp_path / "b"), "--image-topic", IMAGE_TOPIC,
                     "--depth-topic", GT_TOPICS["normals"], "--camera-info-topic", CAMERA_INFO_TOPIC, "--no-progress",
                     "--split-gap-s", "0"]) == 2
    assert "encoding '32FC3', expected 16UC1 or 32FC1" in _error(capsys)
    assert not (tmp_path / "b").exists()  # the failed conversion removed what it had written


def test_size_mismatch_and_truncated_bag(tmp_path, capsys):
    bag = tmp_path / "mismatch"
    with BagWriter(bag, "mcap") as writer:
        for topic, msgtype in ((IMAGE_TOPIC, m.IMAGE), (GT_TOPICS["depth"], m.IMAGE), (CAMERA_INFO_TOPIC, m.CAMERA_INFO)):
            writer.add_topic(topic, msgtype)
        writer.write(IMAGE_TOPIC, 1, m.image_msg(np.zeros((16, 24, 3), np.uint8), "rgb8", 1, "cam"))
        writer.write(GT_TOPICS["depth"], 1, m.image_msg(np.ones((8, 12), np.float32), "32FC1", 1, "cam"))
        writer.write(CAMERA_INFO_TOPIC, 1, m.camera_info_msg(Camera.default(16, 24), 1, "cam"))
    assert _cli(bag, tmp_path / "ds") == 2 and "is 12x8 but the image is 24x16" in _error(capsys)

    truncated = _rendered_bag(tmp_path / "truncated")
    mcap = next(truncated.glob("*.mcap"))
    os.truncate(mcap, mcap.stat().st_size // 2)
    assert _cli(truncated, tmp_path / "ds2") == 2
    assert "truncated" in _error(capsys) and not (tmp_path / "ds2").exists()


def test_16uc1_ground_truth_depth_reads_as_metres(truth):
    """bag-eval and replay-eval score a 16UC1 depth topic (make-bag --depth-encoding 16UC1) in metres."""
    from mtl_perception.interop.encodings import GT_ENCODINGS, depth_to_16uc1, ground_truth_to_meter

    assert "16UC1" in GT_ENCODINGS["depth"]
    exact = np.asarray(truth[0].depth, np.float32)
    exact[0, :3] = 0.0
    metres = ground_truth_to_meter("depth", depth_to_16uc1(exact))
    assert (metres[0, :3] == 0).all() and np.abs(metres - exact).max() <= 0.0005 + 1e-6
