"""`mtl-perception replay-eval`: play a bag into the live node and score what comes back.

Starts the perception node as a subprocess (or attaches to a running one with --no-launch), plays
the bag's camera topic into it with the recorded timing, records the node's outputs, and reports
end-to-end latency (publish -> output received, per frame the slowest of the output topics)
p50/p95/p99, the delivered fraction, drops, and metrics against the bag's ground truth.
DDS stays on loopback on a private domain; rclpy is imported lazily.
"""
from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import messages as m
from .evaluate import DEFAULT_IMAGE_TOPIC, OUTPUT_TOPICS, gt_to_meter, percentile, resolve_gt_topics, write_report, GT_ENCODINGS
from .io import BagError, BagReader, typestore
from ..ros.harness import loopback_env
from .play import DEFAULT_DOMAIN_ID, BagPlayer
from .scoring import TASKS, StampMatcher, make_meters

OUTPUT_ENCODINGS = {"segmentation": ("mono8",), "depth": ("32FC1",), "normals": ("32FC3",)}
DEFAULT_NAMESPACE = "/mtl_replay"


class ReplayError(RuntimeError):
    """The node could not be started or reached."""


def node_command(model: str, namespace: str, image_topic: str, camera_info_topic: str | None, device: str,
                 params: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "mtl_perception.ros.node", "--ros-args",
           "-r", "__node:=perception_node", "-r", f"__ns:={namespace}",
           "-p", f"model_path:={model}", "-p", f"device:={device}",
           "-r", f"image:={image_topic}"]
    if camera_info_topic:
        cmd += ["-r", f"camera_info:={camera_info_topic}"]
    for item in params:
        cmd += ["-p", item]
    return cmd


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


class _Recorder:
    """Collects output arrivals (executor thread) and scores them (worker thread)."""

    def __init__(self, tasks: tuple[str, ...], scored: tuple[str, ...], num_classes: int) -> None:
        self.tasks = tasks
        self.matcher = StampMatcher(make_meters(scored, num_classes), num_classes, window=128, drop_older_on_match=True)
        self.scored = scored
        self.queue: queue.Queue[Any] = queue.Queue()
        self.published: dict[int, float] = {}  # stamp -> perf_counter at publish
        self.arrivals: dict[int, dict[str, float]] = {}
        self.received = {task: 0 for task in tasks}
        self.unknown = 0
        self.last_activity = time.perf_counter()
        self.node_dropped: int | None = None
        self.node_name = ""  # fully qualified name of the node whose diagnostics count
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.worker = threading.Thread(target=self._work, name="replay-scorer", daemon=True)
        self.worker.start()

    def on_output(self, task: str, raw: bytes) -> None:
        self.queue.put(("out", task, time.perf_counter(), raw))

    def on_diagnostics(self, raw: bytes) -> None:
        self.queue.put(("diag", None, 0.0, raw))

    def on_ground_truth(self, task: str, record: Any) -> None:
        self.queue.put(("gt", task, 0.0, record))

    def delivered(self) -> int:
        with self.lock:
            return sum(1 for stamp, got in self.arrivals.items() if stamp in self.published and len(got) == len(self.tasks))

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                self._handle(*item)
            except BaseException as err:  # noqa: BLE001 - reported by the main thread
                if self.error is None:
                    self.error = err

    def _handle(self, kind: str, task: str | None, t_recv: float, payload: Any) -> None:
        if kind == "gt":
            msg = payload.msg
            array = m.decode_array(msg, GT_ENCODINGS[task])
            self.matcher.add_ground_truth(task, m.stamp_to_ns(msg.header), gt_to_meter(task, array))
            return
        if kind == "diag":
            msg = typestore().deserialize_cdr(payload, "diagnostic_msgs/msg/DiagnosticArray")
            for status in msg.status:
                if self.node_name and not status.name.startswith(self.node_name):
                    continue
                for kv in status.values:
                    if kv.key in ("frames_dropped", "dropped"):
                        try:
                            self.node_dropped = int(float(kv.value))
                        except ValueError:
                            pass
            return
        msg = typestore().deserialize_cdr(payload, m.IMAGE)
        stamp = m.stamp_to_ns(msg.header)
        self.last_activity = time.perf_counter()
        with self.lock:
            if stamp not in self.published:
                self.unknown += 1
                return
            self.arrivals.setdefault(stamp, {})[task] = t_recv
            self.received[task] += 1
        if task in self.scored:
            array = m.decode_array(msg, OUTPUT_ENCODINGS[task])
            if task == "segmentation":
                pred = array.astype(np.int64)  # 255 (unlabelled) never matches a class: counted as wrong
            elif task == "depth":
                pred = m.depth_from_32fc1(array)  # NaN (beyond max_depth) -> 0: counted as an error
            else:
                pred = m.normals_from_32fc3(array)
            self.matcher.add_prediction(task, stamp, pred)

    def finish(self) -> dict[str, dict[str, float]]:
        self.queue.put(None)
        self.worker.join(timeout=60)
        if self.error is not None:
            raise self.error
        return self.matcher.finish()


def replay_eval(
    bag_path: str | Path,
    *,
    model: str | Path | None = None,
    image_topic: str = DEFAULT_IMAGE_TOPIC,
    camera_info_topic: str | None = "auto",
    gt_topics: dict[str, str | None] | None = None,
    rate: float = 1.0,
    launch: bool = True,
    namespace: str = DEFAULT_NAMESPACE,
    device: str = "cpu",
    node_params: list[str] | None = None,
    startup_timeout: float = 90.0,
    drain: float = 3.0,
    log_dir: str | Path | None = None,
) -> dict[str, Any]:
    loopback_env(default_domain_id=DEFAULT_DOMAIN_ID)
    from ..runtime import default_model_path, read_meta

    model_path = Path(model) if model else default_model_path()
    meta = read_meta(model_path)
    num_classes = len(meta.class_names)
    with BagReader(bag_path) as bag:
        image_type = bag.require(image_topic, m.CAMERA_IMAGE_TYPES)
        frames_in_bag = bag.message_count(image_topic)
        if camera_info_topic == "auto":
            candidate = image_topic.rsplit("/", 1)[0] + "/camera_info"
            camera_info_topic = candidate if bag.topics.get(candidate) == m.CAMERA_INFO else None
        elif camera_info_topic:
            bag.require(camera_info_topic, (m.CAMERA_INFO,))
    gt = resolve_gt_topics(bag_path, gt_topics or {task: None for task in TASKS})
    tasks = tuple(t for t in TASKS if t in meta.tasks)
    scored = tuple(t for t in tasks if t in gt)
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    out_topics = {task: f"{ns}/{OUTPUT_TOPICS[task]}" for task in tasks}

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="mtl_replay_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "node.log"
    process: subprocess.Popen | None = None
    recorder = _Recorder(tasks, scored, num_classes)
    recorder.node_name = f"{ns}/perception_node" if launch else ""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    spinner: threading.Thread | None = None
    node = None
    started = time.perf_counter()
    try:
        if launch:
            cmd = node_command(str(model_path), ns or "/", image_topic, camera_info_topic, device, list(node_params or []))
            with open(log_path, "wb") as log:
                process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)
        node = rclpy.create_node("mtl_replay_eval", context=context)
        from .play import make_qos

        for task, topic in out_topics.items():
            node.create_subscription(message_class_image(), topic, lambda raw, task=task: recorder.on_output(task, raw),
                                     make_qos("reliable", 50), raw=True)
        from diagnostic_msgs.msg import DiagnosticArray

        node.create_subscription(DiagnosticArray, "/diagnostics", recorder.on_diagnostics, 10, raw=True)
        player = BagPlayer(node, bag_path, [image_topic] + ([camera_info_topic] if camera_info_topic else []),
                           extra_topics=[gt[t] for t in scored], rate=rate, decompress=True)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, name="replay-spin", daemon=True)
        spinner.start()

        # Ready when the node subscribes to the image topic and publishes every output we listen to.
        deadline = time.monotonic() + startup_timeout
        while True:
            if process is not None and process.poll() is not None:
                raise ReplayError(f"the node exited with code {process.returncode} before it was ready; log {log_path}:\n{_tail(log_path)}")
            ready = player.publishers[image_topic].get_subscription_count() > 0 and all(
                node.count_publishers(topic) > 0 for topic in out_topics.values())
            if ready:
                break
            if time.monotonic() > deadline:
                raise ReplayError(f"the node was not ready after {startup_timeout:.0f} s (no subscriber on {image_topic} "
                                  f"or no publisher on {', '.join(out_topics.values())}); log {log_path}:\n{_tail(log_path)}")
            time.sleep(0.1)
        time.sleep(0.5)  # let reliable endpoints finish matching
        startup_s = time.perf_counter() - started

        def on_publish(record: Any, t_pub: float) -> None:
            if record.topic == image_topic:
                stamp = m.stamp_to_ns(record.msg.header)
                with recorder.lock:
                    recorder.published[stamp] = t_pub

        def on_other(record: Any) -> None:
            task = next(t for t in scored if gt[t] == record.topic)
            recorder.on_ground_truth(task, record)

        t_play = time.perf_counter()
        player.play_once(on_publish=on_publish, on_other=on_other)
        play_s = time.perf_counter() - t_play
        # Drain: until every frame is in, or `drain` seconds pass without a new output.
        recorder.last_activity = max(recorder.last_activity, time.perf_counter())
        while recorder.delivered() < len(recorder.published) and time.perf_counter() - recorder.last_activity < drain:
            if process is not None and process.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        executor.shutdown(timeout_sec=2.0)
        if spinner is not None:
            spinner.join(timeout=5.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    metrics = recorder.finish()

    published = len(recorder.published)
    latencies: list[float] = []
    per_topic: dict[str, list[float]] = {task: [] for task in tasks}
    for stamp, got in recorder.arrivals.items():
        t_pub = recorder.published.get(stamp)
        if t_pub is None:
            continue
        for task, t_recv in got.items():
            per_topic[task].append((t_recv - t_pub) * 1e3)
        if len(got) == len(tasks):
            latencies.append((max(got.values()) - t_pub) * 1e3)
    delivered = len(latencies)
    return {
        "bag": str(bag_path),
        "model": meta.name,
        "image_topic": image_topic,
        "image_type": image_type,
        "republished_as": m.IMAGE if image_type == m.COMPRESSED_IMAGE else image_type,
        "rate": rate,
        "domain_id": int(os.environ["ROS_DOMAIN_ID"]),
        "node": {"launched": launch, "namespace": ns or "/", "log": str(log_path) if launch else None,
                 "dropped_reported": recorder.node_dropped, "startup_s": startup_s},
        "frames_in_bag": frames_in_bag,
        "frames_published": published,
        "frames_delivered": delivered,
        "delivered_fraction": delivered / published if published else 0.0,
        "dropped": published - delivered,
        "outputs_received": dict(recorder.received),
        "latency_ms": {
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
            "mean": float(np.mean(latencies)) if latencies else float("nan"),
            "max": float(np.max(latencies)) if latencies else float("nan"),
            "per_topic_p50": {out_topics[t]: percentile(v, 50) for t, v in per_topic.items()},
        },
        "playback_s": play_s,
        "input_fps": published / play_s if play_s > 0 else float("nan"),
        "output_fps": delivered / play_s if play_s > 0 else float("nan"),
        "ground_truth_topics": {t: gt[t] for t in scored},
        "matched": dict(recorder.matcher.matched),
        "metrics": metrics,
    }


def message_class_image() -> Any:
    from sensor_msgs.msg import Image

    return Image


def format_report(report: dict[str, Any]) -> str:
    lat = report["latency_ms"]
    lines = [
        f"replay of {report['bag']} at rate {report['rate']} through {report['node']['namespace']} (model {report['model']})",
        f"  frames published {report['frames_published']}, delivered {report['frames_delivered']} "
        f"({100 * report['delivered_fraction']:.1f}%), dropped {report['dropped']}"
        + (f" (node reports {report['node']['dropped_reported']})" if report["node"]["dropped_reported"] is not None else ""),
        f"  end-to-end latency ms: p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}  p99 {lat['p99']:.1f}  max {lat['max']:.1f}",
        f"  input {report['input_fps']:.1f} fps, output {report['output_fps']:.1f} fps",
    ]
    for task, values in report["metrics"].items():
        lines.append(f"  {task}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items() if isinstance(v, float)) + f"  ({report['matched'][task]} frames)")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 directory (mcap or sqlite3) or a bare .mcap/.db3 file")
    parser.add_argument("--model", default=None, help="deploy artifact directory (default: the bundled model)")
    parser.add_argument("--image-topic", default=DEFAULT_IMAGE_TOPIC)
    parser.add_argument("--camera-info-topic", default="auto", help="'auto' (image namespace /camera_info if present) or 'none'")
    for task in TASKS:
        parser.add_argument(f"--gt-{task}-topic", default=None, help="ground-truth topic (default if present; 'none' to skip)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--no-launch", action="store_true", help="attach to a running node instead of starting one")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="the node's namespace (its outputs live under it)")
    parser.add_argument("--device", default="cpu", help="the launched node's device parameter")
    parser.add_argument("--node-param", action="append", default=[], metavar="NAME:=VALUE", help="extra node parameter")
    parser.add_argument("--startup-timeout", type=float, default=90.0)
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait for late outputs after playback")
    parser.add_argument("--report", default=None, help="write the JSON report here")
    parser.add_argument("--log-dir", default=None, help="where the node's log goes (default: a temp dir)")


def run(args: argparse.Namespace) -> int:
    camera_info = None if args.camera_info_topic.lower() == "none" else args.camera_info_topic
    try:
        report = replay_eval(
            args.bag, model=args.model, image_topic=args.image_topic, camera_info_topic=camera_info,
            gt_topics={task: getattr(args, f"gt_{task}_topic") for task in TASKS}, rate=args.rate,
            launch=not args.no_launch, namespace=args.namespace, device=args.device, node_params=args.node_param,
            startup_timeout=args.startup_timeout, drain=args.drain, log_dir=args.log_dir,
        )
    except (BagError, ReplayError, ValueError) as err:
        print(f"replay-eval: error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.report:
        write_report(report, args.report)
        print(f"report written to {args.report}")
    return 0 if report["frames_delivered"] > 0 else 1
