"""`mtl-perception replay-eval`: play a bag into the live node and score what comes back.

Starts the perception node as a subprocess (or attaches to a running one with --no-launch), plays
the bag's camera topic into it with the recorded timing, records the node's outputs, and reports
end-to-end latency (publish -> output received, per frame the slowest of the output topics)
p50/p95/p99, the delivered fraction, drops, and metrics against the bag's ground truth.
DDS stays on loopback on a private domain; rclpy is imported lazily.

Before the timed playback, a few warm-up frames (the bag's first image, under stamps of their
own, each awaited) take the node's start-up costs: its first frame at a new camera size traces
the whole-frame graph (runtime/frame_graphs.py; ~0.3 s on an idle CPU, ~1 s on a busy one),
and frames arriving meanwhile are dropped by its one-slot buffer. Without them a 30-frame bag
lost 4 of its first 6 frames (12-15 on a busy machine) and reported the trace as p95 latency.
The warm-up is reported apart; `--warmup-frames 0` measures a cold start.

This module is the orchestration (node process, rclpy session, warm-up, playback, CLI); the plan,
the scoring and the report are replay_scoring.py.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..bag import messages as m
from ..bag.evaluate import print_report
from ..bag.io import BagError, BagReader, Record, typestore
from ..bag.scoring import TASKS
from ..interop.topics import DEFAULT_IMAGE_TOPIC
from .bag_play import DEFAULT_DOMAIN_ID, BagPlayer
from .env import loopback_env
from .node_process import ManagedProcess, ProcessError, parse_params, start_node
from .recorder import NodeDiagnostics, OutputRecorder
from .replay_scoring import ReplayPlan, ReplayScorer, build_report, delivered_frames, format_report, plan_replay

DEFAULT_NAMESPACE = "/mtl_replay"
MATCH_SETTLE_S = 0.5  # after discovery, for reliable endpoints to finish matching
# The first traces the frame graph for the bag's size; the next reach each inference worker (2 by default).
DEFAULT_WARMUP_FRAMES = 3
WARMUP_RESEND_S = 10.0  # a warm-up frame without outputs this long is sent again (the input is best effort)


class ReplayError(RuntimeError):
    """The node could not be started or reached."""


@dataclass
class _Session:
    """The live pieces of one replay: this process's rclpy node, its recorder and player, the node process."""

    node: Any
    recorder: OutputRecorder
    diagnostics: NodeDiagnostics
    player: BagPlayer
    process: ManagedProcess | None


@contextmanager
def _session(plan: ReplayPlan, scorer: ReplayScorer, rate: float, process: ManagedProcess | None) -> Iterator[_Session]:
    """An rclpy context of its own, with the recorder and the bag player spinning on a thread."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from ..ros.qos import make_qos

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    node = rclpy.create_node("mtl_replay_eval", context=context)
    spinner = threading.Thread(target=executor.spin, name="replay-spin", daemon=True)
    try:
        recorder = OutputRecorder(node, {topic: Image for topic in plan.out_topics.values()}, make_qos("reliable", 50),
                                  raw=True, consume=scorer.on_output)
        diagnostics = NodeDiagnostics(node, f"{plan.namespace}/perception_node" if process is not None else "")
        camera = [plan.image_topic] + ([plan.camera_info_topic] if plan.camera_info_topic else [])
        player = BagPlayer(node, plan.bag, camera, extra_topics=list(plan.gt_topics.values()), rate=rate, decompress=True)
        executor.add_node(node)
        spinner.start()
        yield _Session(node, recorder, diagnostics, player, process)
    finally:
        executor.shutdown(timeout_sec=2.0)
        if spinner.is_alive():
            spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def _wait_ready(session: _Session, plan: ReplayPlan, timeout: float) -> None:
    """Ready when the node subscribes to the image topic and publishes every output we listen to."""
    image_pub = session.player.publishers[plan.image_topic]

    def ready() -> bool:
        return image_pub.get_subscription_count() > 0 and session.recorder.connected()

    what = f"ready (a subscriber on {plan.image_topic} and publishers on {', '.join(plan.out_topics.values())})"
    if session.process is not None:
        session.process.wait_until(ready, timeout, what=what)
    elif not _poll(ready, timeout):
        raise ReplayError(f"no node was {what} after {timeout:.0f} s")
    time.sleep(MATCH_SETTLE_S)


def _first_records(plan: ReplayPlan) -> dict[str, Record]:
    """The bag's first record on the image topic (and on the camera_info topic, when played)."""
    topics = [plan.image_topic] + ([plan.camera_info_topic] if plan.camera_info_topic else [])
    first: dict[str, Record] = {}
    with BagReader(plan.bag) as bag:
        for record in bag.messages(topics):
            first.setdefault(record.topic, record)
            if len(first) == len(topics):
                break
    return first


def _warm_up(session: _Session, plan: ReplayPlan, frames: int, timeout: float) -> list[float]:
    """Send the bag's first image `frames` times, each under a fresh stamp (none of the bag's), awaiting
    its outputs before the next; returns each one's latency in ms (publish -> its slowest output)."""
    if frames <= 0:
        return []
    first = _first_records(plan)
    recorder = session.recorder
    if plan.camera_info_topic in first:  # the node keeps the latest intrinsics; the bag's own come again in playback
        session.player.publishers[plan.camera_info_topic].publish(first[plan.camera_info_topic].raw)
    record = first[plan.image_topic]
    rgb = m.decode_rgb(record.msg, record.msgtype)
    deadline = time.monotonic() + timeout
    latencies = [_send_and_await(session, plan, rgb, record.msg.header.frame_id, deadline) for _ in range(frames)]
    recorder.clear()
    return latencies


def _send_and_await(session: _Session, plan: ReplayPlan, rgb: np.ndarray, frame_id: str, deadline: float) -> float:
    """One warm-up frame: publish it, wait for every output (sent again after WARMUP_RESEND_S); its latency in ms."""
    recorder, topics = session.recorder, list(plan.out_topics.values())

    def answered(stamp: int) -> bool:
        return all(recorder.arrived(topic, stamp) is not None for topic in topics)

    stamp = 0
    while True:
        if not stamp or time.time_ns() - stamp > WARMUP_RESEND_S * 1e9:
            stamp = time.time_ns()  # wall clock, as the outputs' arrival times: never one of the bag's stamps
            image = m.image_msg(rgb, "rgb8", stamp, frame_id)
            session.player.publishers[plan.image_topic].publish(bytes(typestore().serialize_cdr(image, m.IMAGE)))
        if recorder.wait_for(lambda: answered(stamp), 0.1):
            return (max(recorder.arrived(topic, stamp) or 0 for topic in topics) - stamp) / 1e6
        if session.process is not None and not session.process.alive():
            raise ReplayError(str(session.process.failure(f"exited with code {session.process.returncode} during the warm-up")))
        if time.monotonic() > deadline:
            raise ReplayError("the node answered no warm-up frame in time (see its log and /diagnostics)")


def _poll(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def _play_and_drain(session: _Session, plan: ReplayPlan, scorer: ReplayScorer, drain: float) -> float:
    """Play the bag once, then wait until every frame is in or `drain` s pass without a new output; returns play seconds."""
    recorder = session.recorder

    def on_publish(record: Record, _t_publish: float) -> None:
        if record.topic == plan.image_topic:
            scorer.on_published(m.stamp_to_ns(record.msg.header))

    started = time.perf_counter()
    session.player.play_once(on_publish=on_publish, on_other=lambda record: recorder.submit(scorer.on_ground_truth, record))
    play_s = time.perf_counter() - started
    last_seen = time.time_ns()
    while session.process is None or session.process.alive():
        _, arrivals = recorder.snapshot()
        latest = max((t for box in arrivals.values() for t in box.values()), default=0)
        last_seen = max(last_seen, latest)
        if delivered_frames(arrivals, scorer.published) >= len(scorer.published) or (time.time_ns() - last_seen) / 1e9 >= drain:
            break
        time.sleep(0.05)
    return play_s


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
    warmup_frames: int = DEFAULT_WARMUP_FRAMES,
) -> dict[str, Any]:
    loopback_env(default_domain_id=DEFAULT_DOMAIN_ID)
    plan = plan_replay(bag_path, model, image_topic, camera_info_topic, gt_topics, namespace)
    log_path = Path(log_dir or tempfile.mkdtemp(prefix="mtl_replay_")) / "node.log"
    scorer = ReplayScorer(plan)
    process = None
    started = time.perf_counter()
    try:
        if launch:
            remaps = {"image": plan.image_topic, **({"camera_info": plan.camera_info_topic} if plan.camera_info_topic else {})}
            params = {"model_path": plan.model, "device": device, **parse_params(node_params or [])}
            process = start_node(log_path, namespace=plan.namespace or "/", node_name="perception_node", params=params, remaps=remaps)
        with _session(plan, scorer, rate, process) as session:
            _wait_ready(session, plan, startup_timeout)
            startup_s = time.perf_counter() - started
            warmup = _warm_up(session, plan, warmup_frames, startup_timeout)
            play_s = _play_and_drain(session, plan, scorer, drain)
            diagnostics = session.diagnostics.latest()
            session.recorder.finish()
            counts, arrivals = session.recorder.snapshot()
    except ProcessError as err:
        raise ReplayError(str(err)) from err
    finally:
        if process is not None:
            process.stop()
    metrics = scorer.matcher.finish()
    return build_report(plan, scorer, arrivals, rate, launch, log_path, diagnostics, (startup_s, warmup, play_s), metrics)


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
    parser.add_argument("--warmup-frames", type=int, default=DEFAULT_WARMUP_FRAMES, metavar="N",
                        help="frames sent (and awaited) before the timed playback, so the node's start-up is not scored as "
                             f"drops and latency (default {DEFAULT_WARMUP_FRAMES}; 0 measures a cold start)")
    parser.add_argument("--report", default=None, help="write the JSON report here")
    parser.add_argument("--log-dir", default=None, help="where the node's log goes (default: a temp dir)")


def run(args: argparse.Namespace) -> int:
    camera_info = None if args.camera_info_topic.lower() == "none" else args.camera_info_topic
    try:
        report = replay_eval(
            args.bag, model=args.model, image_topic=args.image_topic, camera_info_topic=camera_info,
            gt_topics={task: getattr(args, f"gt_{task}_topic") for task in TASKS}, rate=args.rate,
            launch=not args.no_launch, namespace=args.namespace, device=args.device, node_params=args.node_param,
            startup_timeout=args.startup_timeout, drain=args.drain, log_dir=args.log_dir, warmup_frames=args.warmup_frames,
        )
    except (BagError, ReplayError, ValueError) as err:
        print(f"replay-eval: error: {err}", file=sys.stderr)
        return 2
    print_report(format_report(report), report, args.report)
    return 0 if report["frames_delivered"] > 0 else 1
