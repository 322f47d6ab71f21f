"""What `replay-eval` scores and how it reports it, apart from the processes and DDS that feed it.

The plan (the bag's topics and the model, resolved once), the scorer that pairs the node's outputs
with the bag's ground truth by stamp, and the report built from what arrived: end-to-end latency,
delivered and dropped frames, metrics. The orchestration (node process, rclpy session, warm-up,
playback) is replay_eval.py. Nothing here imports rclpy.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..bag import messages as m
from ..bag.evaluate import resolve_camera_info_topic, resolve_gt_topics
from ..bag.io import BagReader, Record, typestore
from ..bag.scoring import TASKS, StampMatcher, make_meters
from ..interop.encodings import GT_ENCODINGS, OUTPUT_ENCODINGS, ground_truth_to_meter, output_to_meter
from ..interop.topics import TASK_TOPICS, absolute_namespace
from ..metrics import percentile


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay plays, listens to and scores, resolved against the bag and the model."""

    bag: Path
    model: Path
    meta: Any
    image_topic: str
    image_type: str
    camera_info_topic: str | None
    frames_in_bag: int
    gt_topics: dict[str, str]  # scored task -> ground-truth topic
    tasks: tuple[str, ...]
    namespace: str  # absolute, '' for the root
    out_topics: dict[str, str]  # task -> absolute output topic

    @property
    def scored(self) -> tuple[str, ...]:
        return tuple(self.gt_topics)


def plan_replay(bag_path: str | Path, model: str | Path | None, image_topic: str, camera_info_topic: str | None,
                gt_topics: dict[str, str | None] | None, namespace: str) -> ReplayPlan:
    from ..runtime import default_model_path, read_meta

    model_path = Path(model) if model else default_model_path()
    meta = read_meta(model_path)
    with BagReader(bag_path) as bag:
        image_type = bag.require(image_topic, m.CAMERA_IMAGE_TYPES)
        frames_in_bag = bag.message_count(image_topic)
    camera_info = resolve_camera_info_topic(bag_path, image_topic, camera_info_topic)
    gt = resolve_gt_topics(bag_path, gt_topics or {task: None for task in TASKS})
    tasks = tuple(t for t in TASKS if t in meta.tasks)
    ns = absolute_namespace(namespace)
    return ReplayPlan(Path(bag_path), model_path, meta, image_topic, image_type, camera_info, frames_in_bag,
                      {t: gt[t] for t in tasks if t in gt}, tasks, ns, {t: f"{ns}/{TASK_TOPICS[t]}" for t in tasks})


class ReplayScorer:
    """Pairs the node's outputs with the bag's ground truth by stamp; runs on the recorder's worker."""

    def __init__(self, plan: ReplayPlan) -> None:
        num_classes = len(plan.meta.class_names)
        self.matcher = StampMatcher(make_meters(plan.scored, num_classes), num_classes, window=128, drop_older_on_match=True)
        self.task_of_topic = {topic: task for task, topic in plan.out_topics.items()}
        self.task_of_gt = {topic: task for task, topic in plan.gt_topics.items()}
        self.published: dict[int, int] = {}  # stamp -> wall-clock ns at publish
        self.lock = threading.Lock()

    def on_published(self, stamp: int) -> None:
        with self.lock:
            self.published[stamp] = time.time_ns()

    def on_output(self, topic: str, stamp: int, raw: bytes, _arrived: int) -> None:
        task = self.task_of_topic[topic]
        with self.lock:
            if stamp not in self.published or task not in self.matcher.meters:
                return
        msg = typestore().deserialize_cdr(raw, m.IMAGE)
        array = m.decode_array(msg, (OUTPUT_ENCODINGS[task],))
        self.matcher.add_prediction(task, stamp, output_to_meter(task, array))

    def on_ground_truth(self, record: Record) -> None:
        task = self.task_of_gt[record.topic]
        msg = record.msg
        array = m.decode_array(msg, GT_ENCODINGS[task])
        self.matcher.add_ground_truth(task, m.stamp_to_ns(msg.header), ground_truth_to_meter(task, array))


def delivered_frames(arrivals: dict[str, dict[int, int]], published: dict[int, int]) -> int:
    """Published frames that came back on every output topic."""
    return sum(1 for stamp in published if all(stamp in box for box in arrivals.values()))


def _latency_report(plan: ReplayPlan, arrivals: dict[str, dict[int, int]], published: dict[int, int]) -> dict[str, Any]:
    """End-to-end latency (publish -> the slowest output of a frame) over frames with every output."""
    latencies = [(max(box[s] for box in arrivals.values()) - t) / 1e6 for s, t in published.items()
                 if all(s in box for box in arrivals.values())]
    per_topic = {topic: [(box[s] - t) / 1e6 for s, t in published.items() if s in box] for topic, box in arrivals.items()}
    return {
        "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
        "mean": float(np.mean(latencies)) if latencies else float("nan"),
        "max": float(np.max(latencies)) if latencies else float("nan"),
        "per_topic_p50": {topic: percentile(values, 50) for topic, values in per_topic.items()},
    }


def _dropped_reported(diagnostics: dict[str, str]) -> int | None:
    value = diagnostics.get("frames_dropped", diagnostics.get("dropped"))
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


def build_report(plan: ReplayPlan, scorer: ReplayScorer, arrivals: dict[str, dict[int, int]], rate: float, launch: bool,
                 log_path: Path, diagnostics: dict[str, str], timing: tuple[float, list[float], float], metrics: dict[str, Any]) -> dict[str, Any]:
    """`timing`: (seconds to ready, warm-up frames' latencies in ms, playback seconds)."""
    startup_s, warmup, play_s = timing
    published = len(scorer.published)
    delivered = delivered_frames(arrivals, scorer.published)
    topic_task = {topic: task for task, topic in plan.out_topics.items()}
    return {
        "bag": str(plan.bag),
        "model": plan.meta.name,
        "image_topic": plan.image_topic,
        "image_type": plan.image_type,
        "republished_as": m.IMAGE if plan.image_type == m.COMPRESSED_IMAGE else plan.image_type,
        "rate": rate,
        "domain_id": int(os.environ["ROS_DOMAIN_ID"]),
        "node": {"launched": launch, "namespace": plan.namespace or "/", "log": str(log_path) if launch else None,
                 "dropped_reported": _dropped_reported(diagnostics), "startup_s": startup_s},
        "warmup": {"frames": len(warmup), "latency_ms": warmup},  # before the timed playback; not scored
        "frames_in_bag": plan.frames_in_bag,
        "frames_published": published,
        "frames_delivered": delivered,
        "delivered_fraction": delivered / published if published else 0.0,
        "dropped": published - delivered,
        "outputs_received": {topic_task[t]: sum(1 for s in box if s in scorer.published) for t, box in arrivals.items()},
        "latency_ms": _latency_report(plan, arrivals, scorer.published),
        "playback_s": play_s,
        "input_fps": published / play_s if play_s > 0 else float("nan"),
        "output_fps": delivered / play_s if play_s > 0 else float("nan"),
        "ground_truth_topics": dict(plan.gt_topics),
        "matched": dict(scorer.matcher.matched),
        "metrics": metrics,
    }


def format_report(report: dict[str, Any]) -> str:
    lat = report["latency_ms"]
    lines = [
        f"replay of {report['bag']} at rate {report['rate']} through {report['node']['namespace']} (model {report['model']})",
        f"  frames published {report['frames_published']}, delivered {report['frames_delivered']} "
        f"({100 * report['delivered_fraction']:.1f}%), dropped {report['dropped']}"
        + (f" (node reports {report['node']['dropped_reported']})" if report["node"]["dropped_reported"] is not None else ""),
        f"  end-to-end latency ms: p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}  p99 {lat['p99']:.1f}  max {lat['max']:.1f}",
        f"  input {report['input_fps']:.1f} fps, output {report['output_fps']:.1f} fps",
        _warmup_line(report["warmup"]),
    ]
    for task, values in report["metrics"].items():
        lines.append(f"  {task}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items() if isinstance(v, float)) + f"  ({report['matched'][task]} frames)")
    return "\n".join(lines)


def _warmup_line(warmup: dict[str, Any]) -> str:
    if not warmup["frames"]:
        return "  no warm-up (--warmup-frames 0): the first frames carry the node's start-up (its frame-graph trace)"
    answered = ", ".join(f"{value:.0f}" for value in warmup["latency_ms"])
    return (f"  before timing: {warmup['frames']} warm-up frame(s) of the bag's size, answered in {answered} ms "
            "(the first traces the node's frame graph for this camera size)")
