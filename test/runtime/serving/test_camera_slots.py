"""Issue 30: per-camera latest-frame slots, taken fairly and batched by size (ROS-free)."""
from __future__ import annotations

import threading
import time

import pytest

from mtl_perception.runtime.serving import CameraSlots


def slots(*cameras: str) -> CameraSlots:
    return CameraSlots(cameras, batch_key=lambda frame: frame[1])  # frames are (name, size)


def test_each_camera_keeps_only_its_newest_frame_and_counts_its_drops():
    camera_slots = slots("front", "rear")
    assert camera_slots.put("front", ("f1", 1)) is False
    assert camera_slots.put("front", ("f2", 1)) is True  # replaced f1 before anyone took it
    camera_slots.put("rear", ("r1", 1))
    assert camera_slots.take_batch(timeout=0) == [("front", ("f2", 1)), ("rear", ("r1", 1))]
    assert (camera_slots.counts["front"].put, camera_slots.counts["front"].dropped) == (2, 1)
    assert (camera_slots.counts["rear"].put, camera_slots.counts["rear"].dropped) == (1, 0)
    assert camera_slots.take_batch(timeout=0) == []


def test_a_fast_camera_cannot_starve_a_slow_one():
    """The fast camera always has a frame waiting; the slow one's single frame is still taken next."""
    camera_slots = CameraSlots(("fast", "slow"))  # no batching: one frame per take
    taken = []
    camera_slots.put("fast", "fast0")
    camera_slots.put("slow", "slow0")
    for index in range(1, 6):
        taken += [camera for camera, _ in camera_slots.take_batch(timeout=0, max_batch=1)]
        camera_slots.put("fast", f"fast{index}")
    assert taken[:2] == ["fast", "slow"] and taken.count("slow") == 1


def test_frames_of_one_size_batch_and_other_sizes_wait_their_turn():
    camera_slots = slots("a", "b", "c")
    camera_slots.put("a", ("a", 480))
    camera_slots.put("b", ("b", 720))
    camera_slots.put("c", ("c", 480))
    assert [camera for camera, _ in camera_slots.take_batch(timeout=0)] == ["a", "c"]
    assert [camera for camera, _ in camera_slots.take_batch(timeout=0)] == ["b"]
    for camera in "abc":
        camera_slots.put(camera, (camera, 480))
    assert [camera for camera, _ in camera_slots.take_batch(timeout=0, max_batch=2)] == ["a", "b"]


def test_the_window_waits_for_a_late_camera_but_not_for_a_silent_one():
    camera_slots = slots("a", "b", "silent")
    camera_slots.put("a", ("a", 1))
    threading.Timer(0.05, camera_slots.put, ("b", ("b", 1))).start()
    started = time.monotonic()
    batch = camera_slots.take_batch(timeout=1.0, window_s=0.4)
    waited = time.monotonic() - started
    # b arrived within the window and joined; the silent camera cost at most the window.
    assert [camera for camera, _ in batch] == ["a", "b"]
    assert 0.3 <= waited < 2.0


def test_close_wakes_a_waiting_taker():
    camera_slots = slots("a")
    threading.Timer(0.05, camera_slots.close).start()
    assert camera_slots.take_batch(timeout=5.0) == []
    camera_slots.reopen()
    camera_slots.put("a", ("a", 1))
    assert camera_slots.take_batch(timeout=0) == [("a", ("a", 1))]


def test_camera_names_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        CameraSlots(("front", "front"))
    with pytest.raises(ValueError, match="at least one"):
        CameraSlots(())


def test_the_pipeline_serves_camera_batches_and_publishes_each_cameras_result():
    from mtl_perception.runtime.serving import InferenceThread, ServingPipeline

    camera_slots = CameraSlots(("front", "rear"), batch_key=lambda frame: frame.shape, window_s=0.2)
    published, done = [], threading.Event()
    batches = []

    def infer(batch):
        batches.append([camera for camera, _ in batch])
        return [(camera, frame.sum()) for camera, frame in batch]

    def publish(results):
        published.extend(results)
        if len(published) == 2:
            done.set()

    import numpy as np

    worker = InferenceThread("test-batch")
    pipeline = ServingPipeline(worker, infer, publish, on_error=lambda exc: False, slot=camera_slots)
    pipeline.start()
    try:
        camera_slots.put("front", np.ones((2, 2)))
        camera_slots.put("rear", np.full((2, 2), 3.0))
        assert done.wait(5.0)
    finally:
        assert pipeline.stop() == []
        worker.close(timeout=5.0)
    assert batches == [["front", "rear"]]  # one forward pass for both cameras
    assert sorted(published) == [("front", 4.0), ("rear", 12.0)]


def test_a_window_of_zero_with_max_batch_one_serves_one_camera_per_take():
    """The node's batch_window_ms 0: batching off, cameras still taken oldest-waiting first."""
    camera_slots = CameraSlots(("a", "b"), batch_key=lambda frame: 1, window_s=0.0, max_batch=1)
    camera_slots.put("a", "a0")
    camera_slots.put("b", "b0")
    assert camera_slots.get(timeout=0) == [("a", "a0")]
    assert camera_slots.get(timeout=0) == [("b", "b0")]
    assert camera_slots.get(timeout=0) is None
