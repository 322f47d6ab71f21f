"""`mtl-perception demo`: the node, a synthetic camera and a recorder over loopback DDS.

The node runs as its own process (`python -m mtl_perception.ros.node`), so frames cross real
DDS. This process renders a camera trajectory, publishes it with camera_info, records every
output for N seconds, then prints output FPS, latency p50/p95, drops and accuracy against the
renderer's ground truth (matched by header stamp), and writes demo_output/panel.png.
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

NAMESPACE = "/demo"
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


def _loopback_env() -> dict[str, str]:
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if os.environ.get("ROS_DISTRO") == "humble":
        os.environ["ROS_LOCALHOST_ONLY"] = "1"
    os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    return dict(os.environ)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


class _Recorder:
    """Keeps the last outputs per stamp (bounded) and arrival-time latencies."""

    def __init__(self, node: Any, keep: int = 400) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image

        self.node = node
        self.keep = keep
        self.lock = threading.Lock()
        self.by_topic: dict[str, dict[int, Any]] = {t: {} for t in OUTPUTS}
        self.arrivals: list[float] = []
        self.latency_ms: list[float] = []
        self.diagnostics: dict[str, str] = {}
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        kinds = {"Image": Image, "CameraInfo": CameraInfo}
        self.subs = [node.create_subscription(kinds[k], t, self._callback(t), qos) for t, k in OUTPUTS.items()]
        self.subs.append(node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10))

    def _callback(self, topic: str):
        def callback(msg: Any) -> None:
            now = self.node.get_clock().now().nanoseconds
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            with self.lock:
                box = self.by_topic[topic]
                box[stamp] = msg
                if len(box) > self.keep:
                    box.pop(next(iter(box)))
                if topic == "segmentation/labels":
                    self.arrivals.append(time.monotonic())
                    self.latency_ms.append((now - stamp) / 1e6)

        return callback

    def _on_diagnostics(self, msg: Any) -> None:
        from .diagnostics import values_of

        if msg.status and NAMESPACE in msg.status[0].name:
            with self.lock:
                self.diagnostics = values_of(msg)

    def ready(self) -> bool:
        return all(sub.get_publisher_count() > 0 for sub in self.subs[: len(OUTPUTS)])


def _start_node(args: argparse.Namespace, model: str, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "mtl_perception.ros.node", "--ros-args",
        "-r", f"__ns:={NAMESPACE}",
        "-p", f"model_path:={model}",
        "-p", f"device:={args.device}",
        "-p", "diagnostics_period:=0.5",
    ]  # fmt: skip
    log = log_path.open("w")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop_node(process: subprocess.Popen) -> None:
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
    env = _loopback_env()
    from ..runtime import ArtifactError, default_model_path, read_meta

    try:
        model = Path(args.model) if args.model else default_model_path()
        meta = read_meta(model)
    except ArtifactError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "node.log"
    print(f"demo: model {meta.name!r} ({model}), camera {args.width}x{args.height} @ {args.fps:g} Hz, "
          f"{args.duration:g} s, ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, discovery LOCALHOST")  # fmt: skip

    process = _start_node(args, str(model), env, log_path)
    try:
        return _run(args, meta, process, out_dir, log_path)
    finally:
        _stop_node(process)


def _run(args: argparse.Namespace, meta: Any, process: subprocess.Popen, out_dir: Path, log_path: Path) -> int:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    from . import visualize as vz
    from .image_codec import image_to_array
    from .synthetic_camera import SyntheticCamera, render_frames

    with ThreadPoolExecutor(1) as pool:  # render while the node starts
        rendering = pool.submit(render_frames, args.seed, max(2, args.frames), args.height, args.width, args.fps)
        camera, frames = rendering.result()

    rclpy.init()
    # The camera gets its own executor so its timer never queues behind the recorder's
    # callbacks, which deserialise megabytes of outputs per frame.
    camera_executor, executor = SingleThreadedExecutor(), MultiThreadedExecutor(num_threads=2)
    cam = SyntheticCamera(frames, camera, namespace=NAMESPACE)
    listener = rclpy.create_node("demo_recorder", namespace=NAMESPACE)
    recorder = _Recorder(listener)
    camera_executor.add_node(cam)
    executor.add_node(listener)
    spinners = [threading.Thread(target=e.spin, daemon=True) for e in (camera_executor, executor)]
    for spinner in spinners:
        spinner.start()
    try:
        deadline = time.monotonic() + args.startup_timeout
        while not (recorder.ready() and cam.image_pub.get_subscription_count() > 0):
            if process.poll() is not None or time.monotonic() > deadline:
                why = f"exited with {process.returncode}" if process.poll() is not None else f"not ready after {args.startup_timeout:g} s"
                print(f"demo: the node {why}; its log ({log_path}):\n{_tail(log_path)}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print(f"demo: node is up; recording for {args.duration:g} s ...")
        start = time.monotonic()
        cam.start()
        while time.monotonic() - start < args.duration and process.poll() is None:
            time.sleep(0.1)
        cam.stop()
        published = len(cam.published)
        time.sleep(1.0)  # let the last frames drain
    finally:
        camera_executor.shutdown(timeout_sec=5.0)
        executor.shutdown(timeout_sec=5.0)
        for spinner in spinners:
            spinner.join(timeout=10.0)
    with recorder.lock:
        labels = dict(recorder.by_topic["segmentation/labels"])
        outputs = {t: dict(v) for t, v in recorder.by_topic.items()}
        arrivals, latency, diag = list(recorder.arrivals), list(recorder.latency_ms), dict(recorder.diagnostics)
    cam.destroy_node()
    listener.destroy_node()
    rclpy.try_shutdown()
    if process.poll() is not None:
        print(f"demo: the node exited early ({process.returncode}); log:\n{_tail(log_path)}", file=sys.stderr)
    if not labels:
        print(f"demo: no outputs received; node log ({log_path}):\n{_tail(log_path)}", file=sys.stderr)
        return 1

    fps = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 and arrivals[-1] > arrivals[0] else math.nan
    # ----- accuracy against the renderer's ground truth, by header stamp
    from ..metrics import DepthMeter, NormalMeter, SegmentationMeter

    max_depth = 10.0
    seg = SegmentationMeter(max(len(meta.class_names), max(int(f.label.max()) for f in frames) + 1))
    dep, nor = DepthMeter(), NormalMeter()
    scored = 0
    last = None
    for stamp, msg in labels.items():
        frame = cam.frame_for(stamp)
        depth_msg, normals_msg = outputs["depth/image"].get(stamp), outputs["normals/image"].get(stamp)
        if frame is None or depth_msg is None or normals_msg is None:
            continue
        pred_labels = image_to_array(msg)
        if pred_labels.shape != frame.label.shape:
            continue
        pred_depth = np.nan_to_num(image_to_array(depth_msg), nan=max_depth)  # NaN = beyond max_depth
        pred_normals = image_to_array(normals_msg)
        seg.update(pred_labels[None].astype(np.int64), frame.label[None])
        dep.update(pred_depth[None, None], frame.depth[None, None])
        nor.update(np.moveaxis(pred_normals, -1, 0)[None], np.moveaxis(frame.normal, -1, 0)[None])
        scored += 1
        last = (stamp, frame, pred_labels, image_to_array(depth_msg), pred_normals)

    dropped = diag.get("frames_dropped", "?")
    print("")
    print(f"published frames      {published}  ({published / args.duration:.1f} Hz achieved of {args.fps:g} Hz requested, {args.width}x{args.height})")
    print(f"output frames         {len(labels)}  (node diagnostics: processed {diag.get('frames_processed', '?')}, "
          f"dropped {dropped}, bad {diag.get('frames_bad', '?')})")  # fmt: skip
    print(f"never answered        {published - len(labels)}  (dropped by the one-slot buffer or the best-effort input)")
    print(f"output fps            {fps:.2f}")
    print(f"latency (stamp age)   p50 {_percentile(latency, 50):.1f} ms   p95 {_percentile(latency, 95):.1f} ms")
    print(f"inference (node)      p50 {diag.get('inference_ms_p50', '?')} ms   p95 {diag.get('inference_ms_p95', '?')} ms on {diag.get('device', '?')}")
    if scored:
        s, d, n = seg.compute(), dep.compute(), nor.compute()
        print(f"accuracy ({scored} frames) mIoU {s['miou']:.3f}  pixel acc {s['pixel_acc']:.3f}  "
              f"depth abs err {d['abs_err']:.3f} m  rel err {d['rel_err']:.3f}  "
              f"normal mean {n['mean']:.1f} deg  median {n['median']:.1f} deg")  # fmt: skip
    if last is not None:
        stamp, frame, pred_labels, pred_depth, pred_normals = last
        lut = vz.palette_lut(meta.palette)
        hi = float(np.nanmax(frame.depth)) if np.isfinite(frame.depth).any() else max_depth
        top = vz.panel([
            np.clip(np.rint(frame.image * 255), 0, 255).astype(np.uint8),
            vz.colorize_labels(pred_labels, lut),
            vz.colorize_depth(pred_depth, 0.0, hi),
            vz.colorize_normals(pred_normals),
        ])  # fmt: skip
        gt_labels = np.where(frame.label < 0, vz.UNLABELLED, frame.label).astype(np.uint8)
        bottom = vz.panel([
            np.full_like(frame.image, 1.0, dtype=np.uint8) * 255,
            vz.colorize_labels(gt_labels, lut),
            vz.colorize_depth(np.where(frame.depth > 0, frame.depth, np.nan), 0.0, hi),
            vz.colorize_normals(frame.normal),
        ])  # fmt: skip
        image = np.concatenate([top, np.full((4, top.shape[1], 3), 255, np.uint8), bottom], axis=0)
        from PIL import Image as PILImage

        path = out_dir / "panel.png"
        PILImage.fromarray(image).save(path)
        print(f"panel                 {path}  (top: input | segmentation | depth | normals from the node; bottom: ground truth)")
    return 0
