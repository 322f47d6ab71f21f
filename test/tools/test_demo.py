"""`make demo`'s pieces: stream scoring by content digest and stamp, and the whole demo over DDS."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from mtl_perception.metrics import DepthMeter, NormalMeter, SegmentationMeter
from mtl_perception.tools.demo_scoring import MAX_PENDING, StreamScorer, frame_digest


@pytest.fixture(scope="module")
def frames():
    from mtl_perception.tools.synthetic_camera import render_frames

    _, frames = render_frames(seed=3, count=4, height=24, width=32, fps=15.0)
    return frames


def to_uint8(image):
    from mtl_perception.interop.image import float_to_rgb8 as quantise

    return quantise(image)


def outputs_of(frame):
    """What a perfect node would publish for `frame` (depth beyond 10 m as NaN)."""
    depth = np.where(frame.depth > 10.0, np.nan, frame.depth).astype(np.float32)
    return {"segmentation/labels": np.clip(frame.label, 0, None).astype(np.uint8), "depth/image": depth, "normals/image": frame.normal}


def feed(scorer, stamp, rgb, outputs, input_first=True):
    if input_first:
        scorer.add_input(stamp, rgb)
    for topic, array in outputs.items():
        scorer.add_output(stamp, topic, array)
    if not input_first:
        scorer.add_input(stamp, rgb)


def test_frames_are_distinct_so_digests_identify_them(frames):
    digests = {frame_digest(to_uint8(f.image)) for f in frames}
    assert len(digests) == len(frames)


@pytest.mark.parametrize("input_first", [True, False])
def test_perfect_outputs_score_perfectly_in_any_arrival_order(frames, input_first):
    scorer = StreamScorer(frames, num_classes=10, max_depth=10.0)
    for stamp, frame in enumerate(frames):
        feed(scorer, 1000 + stamp, to_uint8(frame.image), outputs_of(frame), input_first)
    results = scorer.results()
    assert scorer.scored == len(frames)
    labelled = any((f.label >= 0).any() for f in frames)
    assert labelled and results["segmentation"]["miou"] == 1.0
    assert results["depth"]["abs_err"] < 1e-5  # float32 depth vs float64 truth
    assert results["normals"]["mean"] < 0.05


def test_outputs_are_scored_against_the_frame_their_stamp_names(frames):
    """Outputs of frame 0 published under the stamp of an input that was frame 2 are scored
    against frame 2 — the result equals the meters computed directly on that pair."""
    scorer = StreamScorer(frames, num_classes=10, max_depth=10.0)
    wrong, truth = frames[0], frames[2]
    feed(scorer, 7, to_uint8(truth.image), outputs_of(wrong))
    seg, dep, nor = SegmentationMeter(scorer.meters["segmentation"].num_classes), DepthMeter(), NormalMeter()
    out = outputs_of(wrong)
    seg.update(out["segmentation/labels"][None].astype(np.int64), truth.label[None])
    dep.update(np.nan_to_num(out["depth/image"], nan=10.0)[None, None], truth.depth[None, None])
    nor.update(np.moveaxis(out["normals/image"], -1, 0)[None], np.moveaxis(truth.normal, -1, 0)[None])
    results = scorer.results()
    np.testing.assert_equal(results["segmentation"], seg.compute())  # NaN-aware: unseen classes
    np.testing.assert_equal(results["depth"], dep.compute())
    np.testing.assert_equal(results["normals"], nor.compute())
    assert results["segmentation"]["miou"] < 1.0


def test_unknown_inputs_and_incomplete_frames_are_not_scored(frames):
    scorer = StreamScorer(frames, num_classes=10, max_depth=10.0)
    noise = np.random.default_rng(0).integers(0, 256, to_uint8(frames[0].image).shape, dtype=np.uint8)
    feed(scorer, 1, noise, outputs_of(frames[0]))
    scorer.add_input(2, to_uint8(frames[1].image))
    scorer.add_output(2, "depth/image", outputs_of(frames[1])["depth/image"])  # labels and normals never come
    assert (scorer.inputs_seen, scorer.inputs_unknown, scorer.scored) == (2, 1, 0)
    assert scorer.results() == {}
    with pytest.raises(ValueError, match="not a scored topic"):
        scorer.add_output(3, "segmentation/color", noise)


def test_pending_frames_stay_bounded(frames):
    scorer = StreamScorer(frames, num_classes=10, max_depth=10.0)
    depth = outputs_of(frames[0])["depth/image"]
    for stamp in range(5 * MAX_PENDING):
        scorer.add_output(stamp, "depth/image", depth)
        scorer.add_input(10**6 + stamp, to_uint8(frames[0].image))
    assert all(count <= MAX_PENDING for count in scorer.waiting())


@pytest.mark.ros
def test_demo_runs_end_to_end_over_dds(tmp_path):
    """The real `mtl-perception demo`: node and camera processes, a recorder, scores and a panel."""
    from PIL import Image

    from support.artifacts import make_tiny_artifact

    model = make_tiny_artifact(tmp_path / "model", num_classes=10, input_size=(32, 40))
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID="83")
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "mtl_perception.cli", "demo", "--model", str(model), "--duration", "3",
        "--fps", "15", "--height", "48", "--width", "64", "--frames", "6", "--output", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    camera = re.search(r"camera frames\s+(\d+)", result.stdout)
    scored = re.search(r"accuracy \((\d+) frames\) mIoU ([\d.]+)", result.stdout)
    assert camera and int(camera.group(1)) > 0, result.stdout
    outputs = re.search(r"output frames\s+(\d+)\s+\((\d+) of the camera frames seen here", result.stdout)
    assert outputs, result.stdout
    seen_and_served = int(outputs.group(2))  # frames both seen here and served: in both counts
    assert 0 < seen_and_served <= min(int(camera.group(1)), int(outputs.group(1))), result.stdout
    assert scored and int(scored.group(1)) > 0, result.stdout
    assert 0.0 <= float(scored.group(2)) <= 1.0
    assert "matched no rendered frame" not in result.stdout
    clouds = re.search(r"point clouds\s+(\d+)", result.stdout)
    assert clouds and int(clouds.group(1)) > 0, result.stdout  # the node's cloud is recorded, for the panel
    with Image.open(out / "panel.png") as panel:
        # Issue 29: titles, row names, depth scale and legend around the tiles; 64-px tiles are enlarged 4x
        # (demo_panel.MIN_TILE_WIDTH) so the text reads. Was (5 * 64 + 4 * 4, 2 * 48 + 4): the tiles alone.
        tile_w, tile_h, gap, row_names, titles = 4 * 64, 4 * 48, 4 * 4, 22, 24
        assert panel.size[0] == row_names + 5 * tile_w + 4 * gap  # five tiles with their 4-px gaps, enlarged alike
        assert panel.size[1] > titles + 2 * tile_h + 4  # two rows under the titles, then the depth scale and the legend
