"""`mtl-perception bag-eval`: evaluate a deploy artifact offline on any rosbag2 with a camera topic.

Reads mcap or sqlite3 bags, decodes sensor_msgs/Image (every encoding the node accepts, any `step`)
or CompressedImage, runs the engine on every frame, pairs predictions with ground-truth topics by
header stamp, and reports the DESIGN §3 metrics plus throughput. Optionally writes the predictions
to a new bag with the node's topic types and encodings.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..interop.encodings import GT_ENCODINGS, OUTPUT_ENCODINGS, ground_truth_to_meter, prediction_to_output
from ..interop.image import ImageFormatError
from ..interop.pointcloud import CloudOptions, prediction_cloud
from ..interop.topics import (
    DEFAULT_GT_TOPICS, DEFAULT_IMAGE_TOPIC, DEPTH_CAMERA_INFO, POINTS_TOPIC, TASK_TOPICS, absolute_namespace, camera_info_beside,
)
from ..metrics import percentile
from . import messages as m
from .io import STORAGES, BagError, BagReader, BagWriter, Record
from .ownership import check_output_apart
from .scoring import TASKS, StampMatcher, make_meters


TOOL = "bag-eval"  # recorded in --write-bag's metadata; --overwrite replaces only bags it names


@dataclass
class Throughput:
    """Per-frame decode and inference times of one evaluation."""

    frames: int = 0
    decode_s: float = 0.0
    infer_ms: list[float] = field(default_factory=list)
    size: tuple[int, int] | None = None

    def predict(self, engine: Any, record: Record) -> tuple[np.ndarray, Any]:
        """Decode the camera record and run the engine on it, timing both; returns (rgb, prediction)."""
        t0 = time.perf_counter()
        rgb = m.decode_rgb(record.msg, record.msgtype)
        t1 = time.perf_counter()
        prediction = engine.predict(rgb)
        self.decode_s += t1 - t0
        self.infer_ms.append((time.perf_counter() - t1) * 1e3)
        self.size = rgb.shape[:2]
        self.frames += 1
        return rgb, prediction

    def report(self, elapsed: float) -> dict[str, float]:
        infer_s, frames = sum(self.infer_ms) / 1e3, self.frames
        return {
            "inference_fps": frames / infer_s if infer_s > 0 else float("nan"),
            "end_to_end_fps": frames / elapsed if elapsed > 0 else float("nan"),
            "inference_ms_mean": float(np.mean(self.infer_ms)) if self.infer_ms else float("nan"),
            "inference_ms_p50": percentile(self.infer_ms, 50),
            "inference_ms_p95": percentile(self.infer_ms, 95),
            "decode_ms_mean": self.decode_s * 1e3 / frames if frames else float("nan"),
            "wall_s": elapsed,
        }


class PredictionWriter:
    """Copies the camera (and camera_info) to an output bag and adds the predictions on the node's topics.

    With `points` options (and a camera_info topic) it also writes the node's semantic cloud on
    PREFIX/points for every frame: offline, the bag's first camera_info also serves the frames
    recorded just before it (a driver publishes both at once, in either order).
    """

    def __init__(self, writer: BagWriter, image_topic: str, image_type: str, tasks: Any, prefix: str, camera_info_topic: str | None,
                 points: CloudOptions | None = None) -> None:
        self.writer = writer
        self.image_topic = image_topic
        self.camera_info_topic = camera_info_topic
        self.out_topics = {task: f"{prefix}/{TASK_TOPICS[task]}" for task in tasks if task in TASK_TOPICS}
        self.depth_info_topic = f"{prefix}/{DEPTH_CAMERA_INFO}" if camera_info_topic and "depth" in self.out_topics else None
        if points is not None and not (camera_info_topic and "depth" in self.out_topics):
            raise ValueError("--write-points needs a camera_info topic (--camera-info-topic) and a model with depth")
        self.points = points
        self.points_topic = f"{prefix}/{POINTS_TOPIC}" if points is not None else None
        self.info: Any = None  # latest CameraInfo, for back-projection
        if self.points_topic:
            writer.add_topic(self.points_topic, m.POINT_CLOUD)
        writer.add_topic(image_topic, image_type)
        for topic in self.out_topics.values():
            writer.add_topic(topic, m.IMAGE)
        if camera_info_topic:
            writer.add_topic(camera_info_topic, m.CAMERA_INFO)
        if self.depth_info_topic:
            writer.add_topic(self.depth_info_topic, m.CAMERA_INFO)

    def frame(self, record: Record, rgb: np.ndarray, prediction: Any) -> None:
        header = record.msg.header
        stamp = m.stamp_to_ns(header)
        self.writer.write_raw(self.image_topic, record.timestamp, record.raw)
        for task, topic in self.out_topics.items():
            array = prediction_to_output(task, getattr(prediction, task))
            self.writer.write(topic, record.timestamp, m.image_msg(array, OUTPUT_ENCODINGS[task], stamp, header.frame_id))
        if self.points_topic and self.info is not None:
            points = prediction_cloud(prediction, rgb, self.info, self.points)
            self.writer.write(self.points_topic, record.timestamp, m.point_cloud_msg(points, stamp, header.frame_id))

    def camera_info(self, record: Record) -> None:
        self.info = record.msg
        self.writer.write_raw(record.topic, record.timestamp, record.raw)
        if self.depth_info_topic:
            self.writer.write_raw(self.depth_info_topic, record.timestamp, record.raw)


def _require_topics(bag: BagReader, image_topic: str, gt_topics: dict[str, str], camera_info_topic: str | None) -> str:
    """Check every named topic exists with the right type; returns the camera topic's type."""
    image_type = bag.require(image_topic, m.CAMERA_IMAGE_TYPES)
    for topic in gt_topics.values():
        bag.require(topic, (m.IMAGE,))
    if camera_info_topic:
        bag.require(camera_info_topic, (m.CAMERA_INFO,))
    return image_type


def _add_ground_truth(matcher: StampMatcher, task: str, record: Record) -> None:
    msg = record.msg
    array = m.decode_array(msg, GT_ENCODINGS[task])
    matcher.add_ground_truth(task, m.stamp_to_ns(msg.header), ground_truth_to_meter(task, array))


def evaluate_bag(
    bag_path: str | Path,
    engine: Any,
    *,
    image_topic: str = DEFAULT_IMAGE_TOPIC,
    gt_topics: dict[str, str] | None = None,
    write_bag: str | Path | None = None,
    write_storage: str | None = None,
    output_prefix: str = "/perception",
    camera_info_topic: str | None = None,
    points: CloudOptions | None = None,
    max_frames: int | None = None,
    start_fraction: float = 0.0,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate `engine` on a bag; returns the report dict (bag, storage, image_topic, image_type, frames, model, device, metrics, matched, throughput; output_bag with --write-bag).

    gt_topics: task -> topic; tasks absent (or not in the model) are not scored. Explicitly named
    topics must exist (TopicNotFoundError lists those that do). start_fraction: skip the first
    part of the camera frames and every record before the first frame kept (a held-out tail).
    """
    gt_topics = {task: topic for task, topic in (gt_topics or {}).items() if topic}
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"--max-frames must be >= 0, got {max_frames}")
    if not 0.0 <= start_fraction < 1.0:
        raise ValueError(f"--start-fraction must be in [0, 1), got {start_fraction}")
    if points is not None and write_bag is None:
        raise ValueError("--write-points needs --write-bag")
    if write_bag is not None:
        check_output_apart(bag_path, write_bag)  # before anything is opened, let alone replaced
    num_classes = len(engine.meta.class_names)
    started = time.perf_counter()
    with ExitStack() as stack:
        bag = stack.enter_context(BagReader(bag_path))
        image_type = _require_topics(bag, image_topic, gt_topics, camera_info_topic)
        scored = tuple(task for task in TASKS if task in gt_topics and task in engine.tasks)
        matcher = StampMatcher(make_meters(scored, num_classes), num_classes)
        topic_task = {gt_topics[task]: task for task in scored}
        start_time, kept = _start_time(bag, image_topic, start_fraction)
        total = kept if max_frames is None else min(kept, max_frames)
        writer = None
        if write_bag is not None:
            bag_writer = stack.enter_context(BagWriter(write_bag, write_storage or bag.storage, overwrite=overwrite, tool=TOOL))
            writer = PredictionWriter(bag_writer, image_topic, image_type, engine.tasks, absolute_namespace(output_prefix),
                                      camera_info_topic, points)
            if points is not None:
                first_info = next(bag.messages([camera_info_topic]), None)
                writer.info = first_info.msg if first_info is not None else None
        bar = stack.enter_context(_progress_bar(total)) if progress else None
        timing = Throughput()
        for record in bag.messages([image_topic, *topic_task, *([camera_info_topic] if camera_info_topic else [])]):
            if record.timestamp < start_time:
                continue
            if record.topic == image_topic:
                if max_frames is not None and timing.frames >= max_frames:
                    break
                rgb, prediction = timing.predict(engine, record)
                for task in scored:
                    matcher.add_prediction(task, m.stamp_to_ns(record.msg.header), getattr(prediction, task))
                if writer is not None:
                    writer.frame(record, rgb, prediction)
                if bar is not None:
                    bar.update(1)
            elif record.topic == camera_info_topic:
                if writer is not None:
                    writer.camera_info(record)
            else:
                _add_ground_truth(matcher, topic_task[record.topic], record)
        metrics = matcher.finish()
        report: dict[str, Any] = {
            "bag": str(bag_path),
            "storage": bag.storage,
            "model": engine.name,
            "device": str(engine.device),
            "image_topic": image_topic,
            "image_type": image_type,
            "image_size": list(timing.size) if timing.size else None,
            "frames": timing.frames,
            "start_fraction": start_fraction,
            "ground_truth_topics": {task: gt_topics[task] for task in scored},
            "matched": dict(matcher.matched),
            "unmatched_ground_truth": dict(matcher.unmatched_gt),
            "metrics": metrics,
            "throughput": timing.report(time.perf_counter() - started),
        }
        if writer is not None:
            report["output_bag"] = {"path": str(write_bag), "storage": writer.writer.storage, "topics": dict(writer.writer.counts)}
    return report


def _start_time(bag: BagReader, image_topic: str, start_fraction: float) -> tuple[int, int]:
    """Record time of the first camera frame kept, and how many are kept (no deserialising)."""
    if start_fraction == 0.0:
        return -1, bag.message_count(image_topic)
    times = sorted(record.timestamp for record in bag.messages([image_topic]))
    first = math.ceil(start_fraction * len(times))
    if first >= len(times):
        raise ValueError(f"--start-fraction {start_fraction} leaves no frame of the {len(times)} on {image_topic}")
    return times[first], len(times) - first


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc="bag-eval", file=sys.stderr)


METRIC_LABELS = {
    "segmentation": [("miou", "mIoU", 1), ("pixel_acc", "pixel acc", 1)],
    "depth": [("abs_err", "abs err (m)", 1), ("rel_err", "rel err", 1)],
    "normals": [("mean", "mean angle (deg)", 1), ("median", "median angle (deg)", 1), ("within_11.25", "within 11.25", 1),
                ("within_22.5", "within 22.5", 1), ("within_30", "within 30", 1)],
}


def format_report(report: dict[str, Any]) -> str:
    lines = [f"bag {report['bag']} ({report['storage']}), topic {report['image_topic']} [{report['image_type']}], "
             f"{report['frames']} frames, model {report['model']} on {report['device']}"]
    rows: list[tuple[str, str, str]] = []
    for task, values in report["metrics"].items():
        for key, label, _ in METRIC_LABELS.get(task, []):
            if key in values:
                rows.append((task, label, f"{values[key]:.4f}"))
        rows.append((task, "frames matched", str(report["matched"].get(task, 0))))
    tp = report["throughput"]
    rows += [
        ("throughput", "inference fps", f"{tp['inference_fps']:.1f}"),
        ("throughput", "end-to-end fps", f"{tp['end_to_end_fps']:.1f}"),
        ("throughput", "inference ms p50 / p95", f"{tp['inference_ms_p50']:.2f} / {tp['inference_ms_p95']:.2f}"),
    ]
    if not report["metrics"]:
        lines.append("(no ground-truth topics matched: metrics skipped)")
    widths = [max(len(r[i]) for r in rows + [("task", "metric", "value")]) for i in range(3)]
    header = ("task", "metric", "value")
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_report(report: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(report), indent=2) + "\n")


def print_report(text: str, report: dict[str, Any], path: str | Path | None) -> None:
    """Print the report's table; write its JSON to `path` when one is given."""
    print(text)
    if path:
        write_report(report, path)
        print(f"report written to {path}")


def resolve_camera_info_topic(bag_path: str | Path, image_topic: str, requested: str | None) -> str | None:
    """'auto' -> the camera_info beside the image topic if the bag has it; None / 'none' -> none; else must exist."""
    if requested is None or requested.lower() == "none":
        return None
    with BagReader(bag_path) as bag:
        if requested != "auto":
            bag.require(requested, (m.CAMERA_INFO,))
            return requested
        candidate = camera_info_beside(image_topic)
        return candidate if bag.topics.get(candidate) == m.CAMERA_INFO else None


def resolve_gt_topics(bag_path: str | Path, requested: dict[str, str | None]) -> dict[str, str]:
    """None -> the default topic if the bag has it; '' / 'none' -> not scored; else must exist."""
    with BagReader(bag_path) as bag:
        topics = bag.topics
    resolved = {}
    for task, topic in requested.items():
        if topic is None:
            if DEFAULT_GT_TOPICS[task] in topics:
                resolved[task] = DEFAULT_GT_TOPICS[task]
        elif topic.lower() not in ("", "none"):
            resolved[task] = topic
    return resolved


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 directory (mcap or sqlite3) or a bare .mcap/.db3 file")
    parser.add_argument("--model", default=None, help="deploy artifact directory (default: the bundled model)")
    parser.add_argument("--image-topic", default=DEFAULT_IMAGE_TOPIC, help="sensor_msgs/Image or CompressedImage topic")
    for task in TASKS:
        parser.add_argument(
            f"--gt-{task}-topic", default=None,
            help=f"ground-truth topic (default {DEFAULT_GT_TOPICS[task]} if present; 'none' to skip)",
        )
    parser.add_argument("--camera-info-topic", default="auto",
                        help="CameraInfo copied to --write-bag (default: <image topic's namespace>/camera_info if present; 'none')")
    parser.add_argument("--report", default=None, help="write the JSON report here")
    parser.add_argument("--write-bag", default=None, help="write predictions (node topics and encodings) to this new bag")
    parser.add_argument("--write-storage", choices=STORAGES, default=None, help="storage of --write-bag (default: the input's)")
    parser.add_argument("--output-prefix", default="/perception", help="namespace of the prediction topics in --write-bag")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --write-bag that an earlier bag-eval wrote")
    parser.add_argument("--write-points", action="store_true",
                        help="also write the node's semantic PointCloud2 (PREFIX/points) to --write-bag; needs camera_info")
    parser.add_argument("--points-stride", type=int, default=CloudOptions.stride, help="pixel subsampling of --write-points")
    parser.add_argument("--points-max-depth", type=float, default=CloudOptions.max_depth, help="metres; farther points are dropped")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--start-fraction", type=float, default=0.0,
                        help="skip this fraction of the camera frames first, e.g. 0.7 scores the last 30 %% (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--half", action="store_true", help="fp16 inference (CUDA only)")
    parser.add_argument("--no-progress", action="store_true")


def _points_options(args: argparse.Namespace) -> CloudOptions | None:
    if not args.write_points:
        return None
    if args.points_stride < 1 or not args.points_max_depth > 0:
        raise ValueError(f"--points-stride must be >= 1 and --points-max-depth > 0, got {args.points_stride}, {args.points_max_depth}")
    return CloudOptions(stride=args.points_stride, max_depth=args.points_max_depth)


def run(args: argparse.Namespace) -> int:
    from ..runtime import ArtifactError, default_model_path, load_engine

    try:
        requested = {task: getattr(args, f"gt_{task}_topic") for task in TASKS}
        gt_topics = resolve_gt_topics(args.bag, requested)
        camera_info = resolve_camera_info_topic(args.bag, args.image_topic, args.camera_info_topic)
        engine = load_engine(args.model or default_model_path(), device=args.device, half=args.half)
        report = evaluate_bag(
            args.bag, engine, image_topic=args.image_topic, gt_topics=gt_topics, write_bag=args.write_bag,
            write_storage=args.write_storage, output_prefix=args.output_prefix, camera_info_topic=camera_info,
            points=_points_options(args), max_frames=args.max_frames, start_fraction=args.start_fraction, progress=not args.no_progress,
            overwrite=args.overwrite,
        )
    except (BagError, ImageFormatError, ArtifactError, ValueError) as err:
        print(f"bag-eval: error: {err}", file=sys.stderr)
        return 2
    print_report(format_report(report), report, args.report)
    return 0
