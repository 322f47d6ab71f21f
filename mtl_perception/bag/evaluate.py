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
from pathlib import Path
from typing import Any

import numpy as np

from ..ros.image_codec import ImageFormatError
from . import messages as m
from .io import STORAGES, BagError, BagReader, BagWriter
from .scoring import TASKS, StampMatcher, make_meters

DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
DEFAULT_GT_TOPICS = {
    "segmentation": "/ground_truth/segmentation",
    "depth": "/ground_truth/depth",
    "normals": "/ground_truth/normals",
}
GT_ENCODINGS = {"segmentation": ("mono8", "8UC1"), "depth": ("32FC1",), "normals": ("32FC3",)}
# The node's output topics (relative to its namespace) and encodings, DESIGN §3.
OUTPUT_TOPICS = {"segmentation": "segmentation/labels", "depth": "depth/image", "normals": "normals/image"}
OUTPUT_ENCODINGS = {"segmentation": "mono8", "depth": "32FC1", "normals": "32FC3"}
OUTPUT_CAMERA_INFO = "depth/camera_info"


def gt_to_meter(task: str, array: np.ndarray) -> np.ndarray:
    """A decoded ground-truth Image -> the meters' convention."""
    if task == "segmentation":
        return m.mono8_to_labels(array)
    if task == "depth":
        return m.depth_from_32fc1(array)
    return m.normals_from_32fc3(array)


def prediction_to_output(task: str, array: np.ndarray) -> np.ndarray:
    """An engine prediction -> the node's published array (depth: NaN where not a positive finite)."""
    if task == "depth":
        return m.depth_to_32fc1(array)
    return array


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


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
    max_frames: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate `engine` on a bag; returns the report dict (see README for its keys).

    gt_topics: task -> topic; tasks absent (or not in the model) are not scored. Explicitly named
    topics must exist (TopicNotFoundError lists those that do).
    """
    gt_topics = {task: topic for task, topic in (gt_topics or {}).items() if topic}
    num_classes = len(engine.meta.class_names)
    started = time.perf_counter()
    with ExitStack() as stack:
        bag = stack.enter_context(BagReader(bag_path))
        image_type = bag.require(image_topic, m.CAMERA_IMAGE_TYPES)
        for topic in gt_topics.values():
            bag.require(topic, (m.IMAGE,))
        if camera_info_topic:
            bag.require(camera_info_topic, (m.CAMERA_INFO,))
        scored = tuple(task for task in TASKS if task in gt_topics and task in engine.tasks)
        matcher = StampMatcher(make_meters(scored, num_classes), num_classes)
        topic_task = {gt_topics[task]: task for task in scored}
        total = bag.message_count(image_topic)
        if max_frames is not None:
            total = min(total, max_frames)

        writer = None
        prefix = "/" + output_prefix.strip("/") if output_prefix.strip("/") else ""
        out_topics = {task: f"{prefix}/{OUTPUT_TOPICS[task]}" for task in engine.tasks if task in OUTPUT_TOPICS}
        if write_bag is not None:
            writer = stack.enter_context(BagWriter(write_bag, write_storage or bag.storage, overwrite=overwrite))
            writer.add_topic(image_topic, image_type)
            for topic in out_topics.values():
                writer.add_topic(topic, m.IMAGE)
            if camera_info_topic:
                writer.add_topic(camera_info_topic, m.CAMERA_INFO)
                if "depth" in out_topics:
                    writer.add_topic(f"{prefix}/{OUTPUT_CAMERA_INFO}", m.CAMERA_INFO)

        bar = None
        if progress:
            from tqdm import tqdm

            bar = stack.enter_context(tqdm(total=total, unit="frame", desc="bag-eval", file=sys.stderr))
        frames = 0
        decode_s = 0.0
        infer_ms: list[float] = []
        size: tuple[int, int] | None = None
        read_topics = [image_topic, *topic_task, *([camera_info_topic] if camera_info_topic else [])]
        for record in bag.messages(read_topics):
            if record.topic == image_topic:
                if max_frames is not None and frames >= max_frames:
                    break
                msg = record.msg
                stamp = m.stamp_to_ns(msg.header)
                t0 = time.perf_counter()
                rgb = m.decode_rgb(msg, record.msgtype)
                t1 = time.perf_counter()
                prediction = engine.predict(rgb)
                t2 = time.perf_counter()
                decode_s += t1 - t0
                infer_ms.append((t2 - t1) * 1e3)
                size = rgb.shape[:2]
                frames += 1
                for task in scored:
                    matcher.add_prediction(task, stamp, getattr(prediction, task))
                if writer is not None:
                    writer.write_raw(image_topic, record.timestamp, record.raw)
                    for task, topic in out_topics.items():
                        array = prediction_to_output(task, getattr(prediction, task))
                        writer.write(topic, record.timestamp, m.image_msg(array, OUTPUT_ENCODINGS[task], stamp, msg.header.frame_id))
                if bar is not None:
                    bar.update(1)
            elif record.topic == camera_info_topic:
                if writer is not None:
                    writer.write_raw(camera_info_topic, record.timestamp, record.raw)
                    if "depth" in out_topics:
                        writer.write_raw(f"{prefix}/{OUTPUT_CAMERA_INFO}", record.timestamp, record.raw)
            else:
                task = topic_task[record.topic]
                msg = record.msg
                array = m.decode_array(msg, GT_ENCODINGS[task])
                matcher.add_ground_truth(task, m.stamp_to_ns(msg.header), gt_to_meter(task, array))
        metrics = matcher.finish()
        elapsed = time.perf_counter() - started
        infer_s = sum(infer_ms) / 1e3
        report: dict[str, Any] = {
            "bag": str(bag_path),
            "storage": bag.storage,
            "model": engine.name,
            "device": str(engine.device),
            "image_topic": image_topic,
            "image_type": image_type,
            "image_size": list(size) if size else None,
            "frames": frames,
            "ground_truth_topics": {task: gt_topics[task] for task in scored},
            "matched": dict(matcher.matched),
            "unmatched_ground_truth": dict(matcher.unmatched_gt),
            "metrics": metrics,
            "throughput": {
                "inference_fps": frames / infer_s if infer_s > 0 else float("nan"),
                "end_to_end_fps": frames / elapsed if elapsed > 0 else float("nan"),
                "inference_ms_mean": float(np.mean(infer_ms)) if infer_ms else float("nan"),
                "inference_ms_p50": percentile(infer_ms, 50),
                "inference_ms_p95": percentile(infer_ms, 95),
                "decode_ms_mean": decode_s * 1e3 / frames if frames else float("nan"),
                "wall_s": elapsed,
            },
        }
        if writer is not None:
            report["output_bag"] = {"path": str(write_bag), "storage": writer.storage, "topics": dict(writer.counts)}
    return report


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
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --write-bag")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--half", action="store_true", help="fp16 inference (CUDA only)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..runtime import ArtifactError, default_model_path, load_engine

    try:
        requested = {task: getattr(args, f"gt_{task}_topic") for task in TASKS}
        gt_topics = resolve_gt_topics(args.bag, requested)
        camera_info = args.camera_info_topic
        if camera_info == "auto":
            candidate = args.image_topic.rsplit("/", 1)[0] + "/camera_info"
            with BagReader(args.bag) as bag:
                camera_info = candidate if bag.topics.get(candidate) == m.CAMERA_INFO else None
        elif camera_info.lower() == "none":
            camera_info = None
        engine = load_engine(args.model or default_model_path(), device=args.device, half=args.half)
        report = evaluate_bag(
            args.bag, engine, image_topic=args.image_topic, gt_topics=gt_topics, write_bag=args.write_bag,
            write_storage=args.write_storage, output_prefix=args.output_prefix, camera_info_topic=camera_info,
            max_frames=args.max_frames, progress=not args.no_progress, overwrite=args.overwrite,
        )
    except (BagError, ImageFormatError, ArtifactError, ValueError) as err:
        print(f"bag-eval: error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.report:
        write_report(report, args.report)
        print(f"report written to {args.report}")
    return 0
