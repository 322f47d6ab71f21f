"""Live replay: the bag is played over loopback DDS into the perception node (a subprocess) and the
outputs come back with consistent latency figures and metrics against the bag's ground truth."""
from __future__ import annotations

import pytest

from support.bags import FPS, H, SEED, W, make_artifact
from mtl_perception.bag.make_bag import write_bag

pytestmark = pytest.mark.ros  # conftest skips it, with the reason, where rclpy is missing


def test_replay_through_node_delivers_outputs(tmp_path):
    from mtl_perception.bag.evaluate import write_report
    from mtl_perception.tools.replay_eval import format_report, replay_eval

    artifact = make_artifact(tmp_path)
    bag = tmp_path / "bag"
    frames = 6
    write_bag(bag, frames=frames, fps=FPS / 3, height=H, width=W, seed=SEED, storage="mcap")
    report = replay_eval(bag, model=artifact, rate=1.0, device="cpu", startup_timeout=60.0, drain=3.0,
                         log_dir=tmp_path / "logs")
    assert report["frames_published"] == frames
    assert report["frames_delivered"] >= 1, report
    assert 0.0 < report["delivered_fraction"] <= 1.0
    assert report["dropped"] == frames - report["frames_delivered"]
    latency = report["latency_ms"]
    assert 0.0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert latency["max"] < 30_000
    assert set(report["metrics"]) == {"segmentation", "depth", "normals"}
    assert report["matched"]["segmentation"] == report["frames_delivered"]
    assert 0.0 <= report["metrics"]["segmentation"]["pixel_acc"] <= 1.0
    text = format_report(report)
    assert "p50" in text and "delivered" in text
    write_report(report, tmp_path / "replay.json")
