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
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..interop.camera_info import pinhole_k
from ..interop.image import image_to_array
from ..interop.pointcloud import read_cloud
from ..metrics import percentile
from .demo_panel import demo_panel, panel_figure  # noqa: F401 - demo_panel: the grid alone, for callers of this module
from .demo_scoring import SCORED_TOPICS, StreamScorer, describe
from .env import loopback_env
from .node_process import CAMERA_MODULE, ManagedProcess, ProcessError, ros_command, start_node
from .recorder import NodeDiagnostics, OutputRecorder

NAMESPACE = "/demo"
DEMO_MAX_DEPTH = 10.0  # passed to the node; NaN in its depth output means beyond this
INPUT_TOPIC = "image"
LATENCY_TOPIC = "segmentation/labels"
OUTPUTS = {
    "segmentation/labels": "Image",
    "segmentation/color": "Image",
    "segmentation/overlay": "Image",
    "depth/image": "Image",
    "depth/camera_info": "CameraInfo",
    "normals/image": "Image",
    "normals/color": "Image",
    "points": "PointCloud2",
}
CLOUD_TOPIC = "points"


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


def _scoring_consumer(scorer: StreamScorer) -> Any:
    """Decodes the camera image and the scored outputs on the recorder's worker and feeds `scorer`."""

    def consume(topic: str, stamp: int, msg: Any, _arrived: int) -> None:
        if topic == INPUT_TOPIC:
            scorer.add_input(stamp, image_to_array(msg))
        elif topic in SCORED_TOPICS:
            scorer.add_output(stamp, topic, image_to_array(msg))
        elif topic == CLOUD_TOPIC:
            points = read_cloud(msg).reshape(-1)
            scorer.add_cloud(stamp, np.stack([points["x"], points["y"], points["z"]], axis=1), points["label"])

    return consume


@contextmanager
def _listening(scorer: StreamScorer, keep: int) -> Iterator[tuple[OutputRecorder, NodeDiagnostics]]:
    """An rclpy context with the recorder node spinning on a thread (single-threaded executor).

    The recorder keeps the stamps of the last `keep` messages per topic (the summary's counts).
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSPresetProfiles, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    rclpy.init()
    executor = SingleThreadedExecutor()
    listener = rclpy.create_node("demo_recorder", namespace=NAMESPACE)
    # Deep histories: this process deserialises ~2.6 MB per frame in Python and may lag a moment.
    qos: dict[str, Any] = {topic: QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE) for topic in OUTPUTS}
    qos[INPUT_TOPIC] = QoSPresetProfiles.SENSOR_DATA.value
    qos[INPUT_TOPIC].depth = 30  # best effort, as the node's input, but deep so a busy moment loses nothing
    kinds = {"Image": Image, "CameraInfo": CameraInfo, "PointCloud2": PointCloud2}
    topics = {**{topic: kinds[kind] for topic, kind in OUTPUTS.items()}, INPUT_TOPIC: Image}
    recorder = OutputRecorder(listener, topics, qos, consume=_scoring_consumer(scorer), keep=keep)
    diagnostics = NodeDiagnostics(listener, NAMESPACE)
    executor.add_node(listener)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield recorder, diagnostics
    finally:
        # Once the spin thread has joined, no callback can still touch the node.
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=10.0)
        listener.destroy_node()
        rclpy.try_shutdown()


def _camera_command(args: argparse.Namespace) -> list[str]:
    params = {"fps": args.fps, "seed": args.seed, "num_frames": max(2, args.frames), "height": args.height, "width": args.width}
    return ros_command(CAMERA_MODULE, namespace=NAMESPACE, params=params)


def _record(args: argparse.Namespace, node: ManagedProcess, recorder: OutputRecorder, out_dir: Path) -> None:
    """Wait for the node, start the camera, record for --duration, stop the camera."""
    node.wait_until(lambda: recorder.connected(OUTPUTS), args.startup_timeout)
    with ManagedProcess("synthetic camera", _camera_command(args), out_dir / "camera.log") as camera:
        # The camera renders its trajectory before it publishes.
        camera.wait_until(lambda: recorder.counts[INPUT_TOPIC] > 0, args.startup_timeout, what="publishing")
        print(f"demo: node and camera are up; recording for {args.duration:g} s ...")
        start = time.monotonic()
        while time.monotonic() - start < args.duration and node.alive() and camera.alive():
            time.sleep(0.1)
    time.sleep(1.0)  # let the last outputs drain


def _stamps_to_keep(args: argparse.Namespace) -> int:
    """Every stamp of the run, with room for start-up and the drain, so the summary counts all of them."""
    return max(4096, math.ceil(2 * args.fps * (args.duration + args.startup_timeout)))


def _rate(arrivals_ns: list[int]) -> float:
    times = sorted(arrivals_ns)
    span = (times[-1] - times[0]) / 1e9 if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else math.nan


def _summary(args: argparse.Namespace, recorder: OutputRecorder, diag: dict[str, str], scorer: StreamScorer) -> list[str]:
    counts, arrivals = recorder.snapshot()
    inputs, outputs = list(arrivals[INPUT_TOPIC].values()), arrivals[LATENCY_TOPIC]
    latency = [(arrived - stamp) / 1e6 for stamp, arrived in outputs.items()]
    # The node matches the camera before this recorder does, so it serves frames never seen here.
    served_seen = len(arrivals[INPUT_TOPIC].keys() & outputs.keys())
    return [
        f"camera frames         {counts[INPUT_TOPIC]}  ({_rate(inputs):.1f} Hz received here of {args.fps:g} Hz requested, {args.width}x{args.height})",
        f"output frames         {counts[LATENCY_TOPIC]}  ({served_seen} of the camera frames seen here; node diagnostics: "
        f"processed {diag.get('frames_processed', '?')}, dropped {diag.get('frames_dropped', '?')}, bad {diag.get('frames_bad', '?')})",
        "outputs per topic     " + "  ".join(f"{topic} {counts[topic]}" for topic in OUTPUTS),
        f"output fps            {_rate(list(outputs.values())):.2f}",
        f"latency (stamp age)   p50 {percentile(latency, 50):.1f} ms   p95 {percentile(latency, 95):.1f} ms",
        f"point clouds          {counts[CLOUD_TOPIC]}  ({_mean_points(scorer)} points each, camera optical frame)",
        f"inference (node)      p50 {diag.get('inference_ms_p50', '?')} ms   p95 {diag.get('inference_ms_p95', '?')} ms on {diag.get('device', '?')}",
    ]


def _mean_points(scorer: StreamScorer) -> str:
    return f"{np.mean(scorer.cloud_points):.0f}" if scorer.cloud_points else "?"


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
    params = {"model_path": model, "device": args.device, "diagnostics_period": 0.5, "max_depth": DEMO_MAX_DEPTH}
    with start_node(out_dir / "node.log", namespace=NAMESPACE, params=params, env=node_env) as node:
        # Ground truth renders here while the node starts; the camera renders the same frames.
        from .synthetic_camera import render_frames

        camera, frames = render_frames(args.seed, max(2, args.frames), args.height, args.width, args.fps)
        scorer = StreamScorer(frames, len(meta.class_names), max_depth=DEMO_MAX_DEPTH)
        try:
            with _listening(scorer, _stamps_to_keep(args)) as (recorder, diagnostics):
                _record(args, node, recorder, out_dir)
            recorder.finish(timeout=30.0)
        except ProcessError as err:
            print(f"demo: {err}", file=sys.stderr)
            return 1
        if not node.alive():
            print(f"demo: the node exited early ({node.returncode}); log:\n{node.tail()}", file=sys.stderr)
    return _report(args, recorder, diagnostics.latest(), scorer, out_dir, (meta.palette, meta.class_names, camera), node)


def _report(args: argparse.Namespace, recorder: OutputRecorder, diag: dict[str, str], scorer: StreamScorer, out_dir: Path,
            view: tuple[Any, Any], node: ManagedProcess) -> int:
    """Print the figures and write the panel; `view` is (palette, class names, renderer camera)."""
    palette, class_names, camera = view
    if not recorder.counts[LATENCY_TOPIC]:
        print(f"demo: no outputs received; node log ({node.log_path}):\n{node.tail()}", file=sys.stderr)
        return 1
    print("\n" + "\n".join(_summary(args, recorder, diag, scorer)))
    print(describe(scorer.results(), scorer.scored))
    if scorer.inputs_unknown:
        print(f"warning: {scorer.inputs_unknown} camera images matched no rendered frame (camera and demo rendered differently?)")
    if scorer.last is not None:
        from PIL import Image as PILImage

        path = out_dir / "panel.png"
        cloud = scorer.cloud_at(scorer.last.stamp)
        PILImage.fromarray(panel_figure(scorer.last, palette, class_names, cloud, pinhole_k(camera), DEMO_MAX_DEPTH)).save(path)
        print(f"panel                 {path}  (top: the node's input, segmentation, depth, normals and cloud from above; "
              "bottom: its wrong labels in red, then the ground truth; legend and depth scale below)")
    return 0
