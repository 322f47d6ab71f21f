"""The node's memory over lifecycle cycles, cycling frame sizes, and as a function of frame size.

One perception node (bundled model) and one client in this process, over loopback DDS, every
output subscribed. Three phases:

- cycles: `--cycles` deactivate → cleanup → configure → activate, two frames served after each;
- sizes: `--frames` frames cycling 8 camera sizes (more than the node keeps graphs for);
- peak: for each frame size, the process's peak RSS (VmHWM, reset before each frame) while it
  serves one frame of that size (its second: the first may trace), fitted as a + b·pixels.
  Run it in a fresh process (--cycles 0 --frames 0) so earlier phases do not set the floor.

    python benchmarks/probes/node_memory/probe_node_memory.py --no-peak --out cycles_and_sizes.json
    python benchmarks/probes/node_memory/probe_node_memory.py --cycles 0 --frames 0 --out peak.json
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(60 + os.getpid() % 40))

import numpy as np

SIZES = ((240, 320), (300, 400), (360, 480), (432, 768), (480, 640), (540, 960), (600, 800), (720, 1280))
PEAK_SIZES = ((480, 640), (720, 1280), (1080, 1920), (1440, 2560), (2160, 3840))


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := current RSS


class Rig:
    """The node, a client subscribed to every output, and one executor thread spinning both."""

    def __init__(self, backend: str) -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from mtl_perception.ros.node import PerceptionNode

        rclpy.init()
        overrides = [Parameter("backend", value=backend), Parameter("device", value="cpu"), Parameter("input_qos", value="reliable")]
        self.node = PerceptionNode(namespace="/memprobe", parameter_overrides=overrides)
        assert self.node.state == "active", self.node.last_transition_error
        self.client = rclpy.create_node("memprobe_client", namespace="/memprobe")
        self.publisher = self.client.create_publisher(Image, "image", QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE))
        self.stamps: set[int] = set()
        self._cond = threading.Condition()
        self.executor = MultiThreadedExecutor(num_threads=2)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self._subscribe_all()

    def _subscribe_all(self) -> None:
        from rosidl_runtime_py.utilities import get_message

        deadline = time.monotonic() + 10
        topics = []
        while time.monotonic() < deadline and not topics:
            topics = [(name, types[0]) for name, types in self.client.get_publisher_names_and_types_by_node("perception_node", "/memprobe")
                      if not name.endswith(("/diagnostics", "/rosout", "transition_event", "parameter_events"))]
            time.sleep(0.2)
        self.subscriptions = [self.client.create_subscription(get_message(kind), name, self._received, 5) for name, kind in topics]
        self.watch = next(name for name, _ in topics if name.endswith("segmentation/labels"))

    def _received(self, msg) -> None:
        stamp = getattr(getattr(msg, "header", None), "stamp", None)
        if stamp is not None:
            with self._cond:
                self.stamps.add(stamp.sec * 10**9 + stamp.nanosec)
                self._cond.notify_all()

    def serve(self, rgb: np.ndarray, timeout: float = 20.0) -> bool:
        from mtl_perception.interop.image import fill_image
        from sensor_msgs.msg import Image

        msg = Image()
        fill_image(msg, rgb, "rgb8")
        stamp = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
        msg.header.frame_id = "camera"
        self.publisher.publish(msg)
        with self._cond:
            return self._cond.wait_for(lambda: stamp in self.stamps, timeout)

    def cycle(self) -> None:
        for step in ("deactivate", "cleanup", "configure", "activate"):
            getattr(self.node, f"trigger_{step}")()
        assert self.node.state == "active", self.node.last_transition_error

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=5)
        self.node.shutdown_serving()
        self.node.destroy_node()
        self.client.destroy_node()
        rclpy.try_shutdown()


def frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def settled_rss() -> float:
    gc.collect()
    time.sleep(0.3)
    return status_mb("VmRSS")


def probe_cycles(rig: Rig, cycles: int) -> dict:
    rgb = frame(480, 640)
    for _ in range(3):
        rig.serve(rgb)
    rss = []
    for index in range(cycles):
        rig.cycle()
        served = sum(rig.serve(rgb) for _ in range(2))
        rss.append(settled_rss())
        print(f"cycle {index + 1}/{cycles}: RSS {rss[-1]:.0f} MB, {served}/2 served", flush=True)
    return {"cycles": cycles, "rss_mb": rss, "growth_after_first_mb": rss[-1] - rss[0]}


def probe_sizes(rig: Rig, frames: int) -> dict:
    warm = len(SIZES) * 2
    served, rss = 0, []
    for index in range(frames):
        height, width = SIZES[index % len(SIZES)]
        served += rig.serve(frame(height, width, index))
        if index + 1 in (warm, frames):
            rss.append(settled_rss())
    return {"frames": frames, "sizes": SIZES, "served": served, "rss_after_warmup_mb": rss[0], "rss_end_mb": rss[1],
            "growth_after_warmup_mb": rss[1] - rss[0]}


def probe_peak(rig: Rig) -> dict:
    from rclpy.parameter import Parameter

    rig.node.set_parameters([Parameter("max_frame_pixels", value=max(h * w for h, w in PEAK_SIZES))])
    points = []
    for height, width in PEAK_SIZES:
        rgb = frame(height, width)
        rig.serve(rgb)  # first frame of a size traces its graph; measure the second
        before = settled_rss()
        reset_peak()
        assert rig.serve(frame(height, width, 1), timeout=60)
        peak = status_mb("VmHWM")
        points.append({"height": height, "width": width, "pixels": height * width, "rss_before_mb": before, "peak_mb": peak})
        print(f"{height}x{width}: RSS {before:.0f} MB after its first frame, peak {peak:.0f} MB while serving the second", flush=True)
    pixels = [p["pixels"] for p in points]
    peaks = [p["peak_mb"] for p in points]
    slope, intercept = statistics.linear_regression(pixels, peaks)
    return {"points": points, "fit_peak_mb": {"per_megapixel": slope * 1e6, "intercept": intercept}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="torchscript")
    parser.add_argument("--cycles", type=int, default=30, help="lifecycle cycles (0: skip)")
    parser.add_argument("--frames", type=int, default=200, help="frames cycling 8 sizes (0: skip)")
    parser.add_argument("--no-peak", action="store_true", help="skip the peak-memory phase")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    rig = Rig(args.backend)
    try:
        result = {"backend": args.backend, "rss_start_mb": settled_rss()}
        if args.cycles:
            result["cycles"] = probe_cycles(rig, args.cycles)
        if args.frames:
            result["sizes"] = probe_sizes(rig, args.frames)
        if not args.no_peak:
            result["peak"] = probe_peak(rig)
    finally:
        rig.close()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
