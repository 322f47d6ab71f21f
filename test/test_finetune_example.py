"""The README's fine-tuning example runs end to end on a tiny bag (issue 18 item 4).

make-bag (16UC1 depth) → bag-to-dataset (first 70 % train, last 30 % val) → eval the bundled
model → train --init it → eval the fine-tuned checkpoint. Only that it runs is asserted, plus
that fine-tuning started from the bundled weights; the measured gain is in the README.
"""
import json
from pathlib import Path

import pytest

from mtl_perception.cli import main as cli_main
from mtl_perception.runtime import read_meta
from mtl_perception.runtime.bundled import default_model_path

CONFIG = Path(__file__).resolve().parents[1] / "config" / "train" / "default.yaml"

pytest.importorskip("rosbags")


def test_finetune_pipeline_runs_on_a_tiny_bag(tmp_path):
    bag, data, run = tmp_path / "bag", tmp_path / "data", tmp_path / "run"
    bundled = str(default_model_path())
    net = read_meta(bundled).net  # the config must describe the bundled architecture, whichever is bundled
    architecture = [f"model.arch={net.arch}", f"model.width={net.width}", f"model.task_layers={net.task_layers}",
                    f"model.tasks=[{','.join(net.tasks)}]", f"model.base_channels=[{','.join(map(str, net.base_channels))}]",
                    f"model.decoder={net.decoder}"]
    assert cli_main(["make-bag", "--out", str(bag), "--frames", "20", "--height", "32", "--width", "48", "--seed", "123",
                     "--depth-encoding", "16UC1", "--no-progress"]) == 0
    assert cli_main(["bag-to-dataset", str(bag), "--out", str(data), "--image-topic", "/camera/image_raw",
                     "--depth-topic", "/ground_truth/depth", "--camera-info-topic", "/camera/camera_info",
                     "--val-fraction", "0.3", "--split-period-s", "1000", "--split-gap-s", "0", "--no-progress"]) == 0
    train_frames, val_frames = (len(list((data / split / "image").glob("*.npy"))) for split in ("train", "val"))
    assert (train_frames, val_frames) == (14, 6)  # 20 frames: the first 70 % train, the last 30 % val
    before = tmp_path / "before.json"
    assert cli_main(["eval", bundled, "--data", str(data), "--split", "val", "--json", str(before)]) == 0
    assert cli_main(["train", "--config", str(CONFIG), "--init", bundled, "--out", str(run),
                     f"data.root={data}", "data.height=32", "data.width=48", *architecture, "epochs=1",
                     "eval_every=1", "batch_size=4", "tensorboard=false", "plots=false", "threads=2"]) == 0
    after = tmp_path / "after.json"
    assert cli_main(["eval", str(run / "last.pt"), "--data", str(data), "--split", "val", "--json", str(after)]) == 0
    for path in (before, after):
        assert "depth" in json.loads(path.read_text())["metrics"]
