"""Serving core without ROS: one-slot buffer, rate and percentile statistics, CameraInfo scaling."""
import math
import threading
import time

import numpy as np
import pytest

from mtl_perception.interop.camera_info import Intrinsics, scale_intrinsics, validate_intrinsics
from mtl_perception.runtime.serving import InferenceThread, LatestSlot, Percentiles, RateMeter


def test_inference_thread_runs_every_job_in_order_on_one_thread():
    runner = InferenceThread("test_inference")
    names, order = [], []

    def job(i):
        names.append(threading.current_thread().name)
        order.append(i)
        return i * i

    futures = [runner.submit(job, i) for i in range(20)]
    assert [f.result(timeout=5) for f in futures] == [i * i for i in range(20)]
    assert order == list(range(20)) and set(names) == {"test_inference"}
    assert not runner.is_current() and runner.submit(runner.is_current).result(timeout=5)

    def boom():
        raise ValueError("bad frame")

    with pytest.raises(ValueError, match="bad frame"):
        runner.submit(boom).result(timeout=5)
    assert runner.submit(job, 3).result(timeout=5) == 9  # an exception does not end the thread
    queued = runner.submit(time.sleep, 0.05), runner.submit(job, 4)
    runner.close(timeout=5)
    assert queued[1].done() and queued[1].result() == 16  # close finishes queued jobs first
    with pytest.raises(RuntimeError, match="closed"):
        runner.submit(job, 5)


def test_slot_keeps_latest_and_counts_drops():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.get(timeout=0) == 3
    assert (slot.put_count, slot.dropped) == (3, 2)
    assert slot.get(timeout=0.01) is None
    assert slot.put(4) is False  # taken slot: no drop
    assert slot.dropped == 2


def test_slot_get_blocks_until_put_and_close_wakes():
    slot = LatestSlot()
    got = []
    consumer = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    consumer.start()
    time.sleep(0.05)
    slot.put("frame")
    consumer.join(timeout=5)
    assert got == ["frame"]
    waiter = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    start = time.monotonic()
    waiter.start()
    slot.close()
    waiter.join(timeout=5)
    assert got[-1] is None and time.monotonic() - start < 2
    slot.reopen()
    slot.put("again")
    assert slot.get(timeout=0) == "again"


def test_slot_memory_bounded_under_fast_producer():
    slot = LatestSlot()
    for i in range(10000):
        slot.put(np.zeros(10))
    assert slot.dropped == 9999 and slot.get(timeout=0) is not None


def test_rate_meter_window():
    meter = RateMeter(window_s=2.0, clock=lambda: 0.0)
    for i in range(11):
        meter.tick(now=i * 0.1)  # 10 Hz for one second
    assert meter.rate(now=1.0) == pytest.approx(10.0)
    assert meter.rate(now=2.95) == 0.0  # only the tick at 1.0 s is still inside the 2 s window
    assert meter.rate(now=10.0) == 0.0  # everything aged out
    assert meter.count == 11


def test_percentiles():
    p = Percentiles(capacity=100)
    assert math.isnan(p.p50)
    for v in range(1, 101):
        p.add(float(v))
    p.add(float("nan"))  # ignored
    assert p.p50 == pytest.approx(50.5)
    assert p.p95 == pytest.approx(95.05)
    for v in range(100):
        p.add(1000.0)  # capacity drops the old samples
    assert p.p50 == 1000.0


def test_scale_intrinsics_half_pixel_convention():
    k = (500.0, 0.0, 319.5, 0.0, 400.0, 239.5, 0.0, 0.0, 1.0)
    p = (500.0, 0.0, 319.5, -25.0, 0.0, 400.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0)
    out = scale_intrinsics(Intrinsics(640, 480, k, p, (64, 48, 320, 240)), 320, 120)
    sx, sy = 0.5, 0.25
    # the image centre stays the centre: (319.5 + 0.5)·0.5 − 0.5 = 159.5
    assert out.k == pytest.approx((250.0, 0.0, 159.5, 0.0, 100.0, 59.5, 0.0, 0.0, 1.0))
    assert out.p == pytest.approx((250.0, 0.0, 159.5, -12.5, 0.0, 100.0, 59.5, 0.0, 0.0, 0.0, 1.0, 0.0))
    assert (out.width, out.height) == (320, 120)
    assert out.roi == (32, 12, 160, 60)
    # a ray through a pixel centre maps to the resized pixel centre
    u = 100.0
    x = (u - k[2]) / k[0]
    assert out.k[0] * x + out.k[2] == pytest.approx((u + 0.5) * sx - 0.5)
    same = scale_intrinsics(Intrinsics(0, 0, k, p), 640, 480)
    assert same.k == pytest.approx(k)


def test_validate_intrinsics():
    good_k = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1]
    good_p = [1.0] * 12
    assert validate_intrinsics(64, 48, good_k, good_p) is None
    assert "NaN" in validate_intrinsics(64, 48, [math.nan] + good_k[1:], good_p)
    assert "focal" in validate_intrinsics(64, 48, [0.0] + good_k[1:], good_p)
    assert "entries" in validate_intrinsics(64, 48, good_k[:4], good_p)


HEAP_PROBE = """
import resource, sys
import numpy as np
from mtl_perception.runtime.serving import keep_frame_buffers_in_heap
applied = keep_frame_buffers_in_heap() if sys.argv[1] == "tuned" else False
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def frame():  # six 4 MB output buffers alive at once, all freed after publishing
    return [np.ones(1 << 20, np.float32) for _ in range(6)]
for _ in range(3):  # warm up: the first frames are faulted in either way
    frame()
before = faults()
for _ in range(20):
    frame()
print(applied, (faults() - before) / 20)
"""


def heap_probe(mode: str, **env: str) -> tuple[str, float]:
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", HEAP_PROBE, mode], env={**clean, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    applied, per_frame = done.stdout.split()
    return applied, float(per_frame)


def test_frame_buffers_are_reused_from_the_heap_not_faulted_in_each_frame():
    """By default glibc hands a frame's freed 24 MB back to the OS and faults it in again next frame.

    Its adaptive thresholds follow the largest block freed (4 MB to mmap, 8 MB to trim), so six
    4 MB buffers freed together leave a free top of heap above the trim threshold.
    """
    applied, default_faults = heap_probe("default")
    assert default_faults >= 2000  # of the 6,144 pages in 24 MB (3,046 measured here)
    applied, tuned_faults = heap_probe("tuned")
    assert applied == "True" and tuned_faults < 10


def test_heap_settings_leave_a_users_own_malloc_tuning_alone():
    applied, faults = heap_probe("tuned", MALLOC_ARENA_MAX="2")
    assert applied == "False" and faults >= 2000
    applied, _ = heap_probe("tuned", GLIBC_TUNABLES="glibc.malloc.trim_threshold=1")
    assert applied == "False"


def test_os_thread_name_is_set_and_inherited_by_threads_started_later():
    """The stage's name shows in /proc, and a pool the stage starts (OpenMP, ONNX Runtime) carries it too."""
    from mtl_perception.runtime.serving import name_os_thread

    def comm(native_id: int) -> str:
        return open(f"/proc/self/task/{native_id}/comm").read().strip()

    seen = {}

    def stage():
        seen["named"] = name_os_thread("mtl_test_stage_long_name")
        seen["stage"] = comm(threading.get_native_id())
        child = threading.Thread(target=lambda: seen.update(child=comm(threading.get_native_id())))
        child.start()
        child.join()

    runner = InferenceThread("test_names", os_name="mtl_test_inf")
    assert runner.submit(lambda: comm(threading.get_native_id())).result(timeout=5) == "mtl_test_inf"
    runner.close()
    worker = threading.Thread(target=stage)
    worker.start()
    worker.join()
    assert seen == {"named": True, "stage": "mtl_test_stage_", "child": "mtl_test_stage_"}  # 15 bytes kept


def test_pipeline_with_two_workers_publishes_in_frame_order():
    """Frames run two at a time and finish out of order; the publisher still sends them in order."""
    from mtl_perception.runtime.serving import ServingPipeline

    workers = [InferenceThread("test_worker_a"), InferenceThread("test_worker_b")]
    started, published, threads = [], [], set()
    cond = threading.Condition()
    delays = [0.03 if i % 3 == 0 else 0.001 for i in range(30)]  # every third frame is slow

    def infer(i):
        with cond:
            started.append(i)
            threads.add(threading.current_thread().name)
            cond.notify_all()
        time.sleep(delays[i])
        return i

    def publish(i):
        with cond:
            published.append(i)
            cond.notify_all()

    pipeline = ServingPipeline(workers, infer, publish, on_error=lambda exc: False)
    pipeline.start()
    try:
        for i in range(30):
            pipeline.offer(i)
            with cond:  # each frame taken before the next arrives: nothing is dropped
                assert cond.wait_for(lambda: len(started) > i, timeout=5)
        with cond:
            assert cond.wait_for(lambda: len(published) == 30, timeout=10)
        with pytest.raises(RuntimeError, match="only while the pipeline is stopped"):
            pipeline.use_workers(workers[:1])
    finally:
        assert pipeline.stop() == []
        for worker in workers:
            worker.close(timeout=5)
    assert published == list(range(30))
    assert threads == {"test_worker_a", "test_worker_b"} and pipeline.slot.dropped == 0


@pytest.mark.parametrize(
    ("requested", "device", "cores", "environ", "expected"),
    [
        (0, "cpu", 2, {}, (2, 1)),  # auto on this project's 2-core CPU
        (0, "cpu", 8, {}, (2, 4)),
        (0, "cpu", 1, {}, (1, None)),
        (0, "cuda", 16, {}, (1, None)),
        (1, "cpu", 2, {}, (1, None)),  # one worker keeps torch's default threads
        (3, "cpu", 8, {}, (3, 2)),
        (0, "cpu", 2, {"OMP_NUM_THREADS": "2"}, (2, None)),  # the user's thread count is kept
    ],
)
def test_inference_plan(requested, device, cores, environ, expected):
    from mtl_perception.runtime.serving import plan_inference

    plan = plan_inference(requested, device, cores, environ)
    assert (plan.workers, plan.threads_per_worker) == expected
