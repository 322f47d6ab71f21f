"""`mtl-perception demo`: the node, a synthetic camera and a recorder over loopback DDS.

The node and the synthetic camera each run as their own process, as on a robot, so frames
cross real DDS and the camera's timer never waits on this process's GIL. This process records
the camera's images and every output for N seconds, then prints the camera rate, output FPS,
latency p50/p95, drops and accuracy against the renderer's ground truth, and writes
demo_output/panel.png. Ground truth is re-rendered here from the same seed; each recorded input
image is matched to its trajectory frame by content digest, and outputs to inputs by stamp.
"""
from __future__ import annotations

import argparse
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import visualize as vz
from .demo_scoring import SCORED_TOPICS, ScoredFrame, StreamScorer, describe
from .harness import loopback_env
from .image_codec import ImageFormatError, float_to_rgb8, image_to_array
from .serving import stamp_to_ns

NAMESPACE = "/demo"
DEMO_MAX_DEPTH = 10.0  # passed to the node; NaN in its depth output means beyond this
OUTPUTS = {
    "segmentation/labels": "Image",
    "segmentation/color": "Image",
    "segmentation/overlay": "Image",
    "depth/image": "Image",
    "depth/camera_info": "CameraInfo",
    "normals/image": "Image",
    "normals/color": "Image",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=12.0, help="seconds to record (default 12)")
    parser.add_argument("--fps", type=float, default=15.0, help="camera rate, 10-30 Hz (default 15)")
    parser.add_argument("--model", default="", help="deploy artifact directory (default: the bundled model)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--height", type=int, default=240, help="camera height (default 240)")
    parser.add_argument("--width", type=int, default=320, help="camera width (default 320)")
    parser.add_argument("--frames", type=int, default=60, help="trajectory frames rendered up front, played back and forth")
    parser.add_argument("--seed", type=int, default=7, help="scene / trajectory seed")
    parser.add_argument("--output", default="demo_output", help="directory for panel.png and node.log")
    parser.add_argument("--startup-timeout", type=float, default=90.0, help="seconds to wait for the node to come up")


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


class _Recorder:
    """Subscribes to the camera image and every output; keeps rates; scores on its own thread.

    Callbacks only decode and enqueue, so scoring never delays the arrival times (latency)
    or makes the best-effort camera subscription drop frames.
    """

    def __init__(self, node: Any, scorer: StreamScorer) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSPresetProfiles, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image

        self.node = node
        self.scorer = scorer
        self.lock = threading.Lock()
        self.counts = {topic: 0 for topic in OUTPUTS}
        self.output_arrivals: list[float] = []
        self.input_arrivals: list[float] = []
        self.latency_ms: list[float] = []
        self.diagnostics: dict[str, str] = {}
        self._to_score: queue.SimpleQueue = queue.SimpleQueue()
        self._scoring = threading.Thread(target=self._score_loop, name="demo_scoring", daemon=True)
        self._scoring.start()
        # Deep histories: this process deserialises ~2.6 MB per frame in Python and may lag a moment.
        qos = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE)
        camera_qos = QoSPresetProfiles.SENSOR_DATA.value
        camera_qos.depth = 30  # best effort, but a deep history so a busy moment loses nothing
        kinds = {"Image": Image, "CameraInfo": CameraInfo}
        self.output_subs = [node.create_subscription(kinds[k], t, self._callback(t), qos) for t, k in OUTPUTS.items()]
        self.other_subs = [
            node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10),
            node.create_subscription(Image, "image", self._on_input, camera_qos),
        ]

    def _callback(self, topic: str):
        def callback(msg: Any) -> None:
            now = self.node.get_clock().now().nanoseconds
            stamp = stamp_to_ns(msg.header)
            with self.lock:
                self.counts[topic] += 1
                if topic == "segmentation/labels":
                    self.output_arrivals.append(time.monotonic())
                    self.latency_ms.append((now - stamp) / 1e6)
            if topic in SCORED_TOPICS:
                try:
                    self._to_score.put((self.scorer.add_output, (stamp, topic, image_to_array(msg))))
                except ImageFormatError as exc:
                    self.node.get_logger().error(f"{topic}: {exc}", throttle_duration_sec=2.0)

        return callback

    def _on_input(self, msg: Any) -> None:
        try:
            rgb = image_to_array(msg)
        except ImageFormatError as exc:
            self.node.get_logger().error(f"image: {exc}", throttle_duration_sec=2.0)
            return
        with self.lock:
            self.input_arrivals.append(time.monotonic())
        self._to_score.put((self.scorer.add_input, (stamp_to_ns(msg.header), rgb)))

    def _score_loop(self) -> None:
        while True:
            item = self._to_score.get()
            if item is None:
                return
            method, arguments = item
            method(*arguments)

    def finish_scoring(self, timeout: float = 30.0) -> None:
        """Score everything received so far, then stop the scoring thread."""
        self._to_score.put(None)
        self._scoring.join(timeout)

    def _on_diagnostics(self, msg: Any) -> None:
        from .diagnostics import values_of

        if msg.status and NAMESPACE in msg.status[0].name:
            with self.lock:
                self.diagnostics = values_of(msg)

    def ready(self) -> bool:
        return all(sub.get_publisher_count() > 0 for sub in self.output_subs)


def _start_node(args: argparse.Namespace, model: str, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "mtl_perception.ros.node", "--ros-args",
        "-r", f"__ns:={NAMESPACE}",
        "-p", f"model_path:={model}",
        "-p", f"device:={args.device}",
        "-p", "diagnostics_period:=0.5",
        "-p", f"max_depth:={DEMO_MAX_DEPTH}",
    ]  # fmt: skip
    log = log_path.open("w")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _start_camera(args: argparse.Namespace, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "mtl_perception.ros.synthetic_camera", "--ros-args",
        "-r", f"__ns:={NAMESPACE}",
        "-p", f"fps:={args.fps}",
        "-p", f"seed:={args.seed}",
        "-p", f"num_frames:={max(2, args.frames)}",
        "-p", f"height:={args.height}",
        "-p", f"width:={args.width}",
    ]  # fmt: skip
    log = log_path.open("w")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run(args: argparse.Namespace) -> int:
    if not 10.0 <= args.fps <= 30.0:
        print(f"demo: --fps must be in 10..30, got {args.fps}", file=sys.stderr)
        return 2
    env = loopback_env(default_domain_id=str(100 + os.getpid() % 100))
    from ..runtime import ArtifactError, default_model_path, read_meta

    try:
        model = Path(args.model) if args.model else default_model_path()
        meta = read_meta(model)
    except ArtifactError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"demo: model {meta.name!r} ({model}), camera {args.width}x{args.height} @ {args.fps:g} Hz, "
          f"{args.duration:g} s, ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, discovery LOCALHOST")  # fmt: skip

    # As the launch file does: CPU inference threads sleep instead of spinning between layers.
    node_env = {**env, "OMP_WAIT_POLICY": env.get("OMP_WAIT_POLICY", "PASSIVE")}
    node = _start_node(args, str(model), node_env, out_dir / "node.log")
    try:
        # Ground truth renders here while the node starts; the camera renders the same frames.
        from .synthetic_camera import render_frames

        _, frames = render_frames(args.seed, max(2, args.frames), args.height, args.width, args.fps)
        scorer = StreamScorer(frames, len(meta.class_names), max_depth=DEMO_MAX_DEPTH)
        return _record(args, scorer, node, out_dir, meta.palette)
    finally:
        _stop_process(node)


def _record(args: argparse.Namespace, scorer: StreamScorer, node: subprocess.Popen, out_dir: Path, palette: Any) -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    node_log, camera_log = out_dir / "node.log", out_dir / "camera.log"
    rclpy.init()
    # Single-threaded: once the spin thread has joined, no callback can still touch the node.
    executor = SingleThreadedExecutor()
    listener = rclpy.create_node("demo_recorder", namespace=NAMESPACE)
    recorder = _Recorder(listener, scorer)
    executor.add_node(listener)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    camera = None
    try:
        deadline = time.monotonic() + args.startup_timeout
        while not recorder.ready():
            if node.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {node.returncode}" if node.poll() is not None else f"not ready after {args.startup_timeout:g} s"
                print(f"demo: the node {why}; its log ({node_log}):\n{_tail(node_log)}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        camera = _start_camera(args, dict(os.environ), camera_log)
        while not recorder.input_arrivals:  # the camera renders its trajectory before it publishes
            if camera.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {camera.returncode}" if camera.poll() is not None else "published nothing"
                print(f"demo: the synthetic camera {why}; its log ({camera_log}):\n{_tail(camera_log)}", file=sys.stderr)
                return 1
            time.sleep(0.05)
        print(f"demo: node and camera are up; recording for {args.duration:g} s ...")
        start = time.monotonic()
        while time.monotonic() - start < args.duration and node.poll() is None and camera.poll() is None:
            time.sleep(0.1)
        _stop_process(camera)
        time.sleep(1.0)  # let the last outputs drain
    finally:
        if camera is not None:
            _stop_process(camera)
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=10.0)
        listener.destroy_node()
        rclpy.try_shutdown()
    recorder.finish_scoring()
    if node.poll() is not None:
        print(f"demo: the node exited early ({node.returncode}); log:\n{_tail(node_log)}", file=sys.stderr)
    with recorder.lock:
        counts, diag = dict(recorder.counts), dict(recorder.diagnostics)
        inputs, outputs, latency = list(recorder.input_arrivals), list(recorder.output_arrivals), list(recorder.latency_ms)
    if not outputs:
        print(f"demo: no outputs received; node log ({node_log}):\n{_tail(node_log)}", file=sys.stderr)
        return 1

    print("")
    print(f"camera frames         {len(inputs)}  ({_rate(inputs):.1f} Hz received of {args.fps:g} Hz requested, {args.width}x{args.height})")
    print(f"output frames         {len(outputs)}  (node diagnostics: processed {diag.get('frames_processed', '?')}, "
          f"dropped {diag.get('frames_dropped', '?')}, bad {diag.get('frames_bad', '?')})")  # fmt: skip
    print("outputs per topic     " + "  ".join(f"{topic} {count}" for topic, count in counts.items()))
    print(f"output fps            {_rate(outputs):.2f}")
    print(f"latency (stamp age)   p50 {_percentile(latency, 50):.1f} ms   p95 {_percentile(latency, 95):.1f} ms")
    print(f"inference (node)      p50 {diag.get('inference_ms_p50', '?')} ms   p95 {diag.get('inference_ms_p95', '?')} ms on {diag.get('device', '?')}")
    print(describe(scorer.results(), scorer.scored))
    if scorer.inputs_unknown:
        print(f"warning: {scorer.inputs_unknown} camera images matched no rendered frame (camera and demo rendered differently?)")
    if scorer.last is not None:
        path = out_dir / "panel.png"
        _write_panel(path, scorer.last, palette)
        print(f"panel                 {path}  (top: input | segmentation | depth | normals from the node; bottom: ground truth)")
    return 0


def _rate(arrivals: list[float]) -> float:
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 and arrivals[-1] > arrivals[0] else math.nan


def _write_panel(path: Path, scored: ScoredFrame, palette: Any) -> None:
    from PIL import Image as PILImage

    frame = scored.frame
    lut = vz.palette_lut(palette)
    hi = float(np.nanmax(frame.depth)) if np.isfinite(frame.depth).any() else DEMO_MAX_DEPTH
    top = vz.panel([
        float_to_rgb8(frame.image),
        vz.colorize_labels(scored.labels, lut),
        vz.colorize_depth(scored.depth, 0.0, hi),
        vz.colorize_normals(scored.normals),
    ])  # fmt: skip
    gt_labels = np.where(frame.label < 0, vz.UNLABELLED, frame.label).astype(np.uint8)
    bottom = vz.panel([
        np.full(frame.image.shape, 255, np.uint8),
        vz.colorize_labels(gt_labels, lut),
        vz.colorize_depth(np.where(frame.depth > 0, frame.depth, np.nan), 0.0, hi),
        vz.colorize_normals(frame.normal),
    ])  # fmt: skip
    image = np.concatenate([top, np.full((4, top.shape[1], 3), 255, np.uint8), bottom], axis=0)
    PILImage.fromarray(image).save(path)
