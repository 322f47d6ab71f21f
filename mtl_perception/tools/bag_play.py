"""`mtl-perception bag-play`: publish a bag's camera topics over rclpy with the recorded timing.

The project's own stand-in for `ros2 bag play` where the ROS 2 CLI is missing. Messages are
published as the bag's CDR bytes (no re-serialisation), paced by their record timestamps divided
by --rate. DDS stays on loopback on a private domain unless the caller set ROS_DOMAIN_ID.
rclpy is imported lazily, so importing this module never starts DDS.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..bag import messages as m
from ..bag.io import BagError, BagReader, Record, typestore
from .env import loopback_env

CAMERA_TYPES = (m.IMAGE, m.COMPRESSED_IMAGE, m.CAMERA_INFO)
DEFAULT_DOMAIN_ID = "73"
GROUND_TRUTH_PREFIX = "/ground_truth/"  # not a camera topic: not played unless named in --topics


def message_class(msgtype: str) -> Any:
    """'sensor_msgs/msg/Image' -> the rclpy message class."""
    package, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        raise BagError(f"message type {msgtype} is not available to rclpy here: {err}") from err


class BagPlayer:
    """Publishes chosen topics of a bag from an rclpy node, paced by record time.

    decompress: republish CompressedImage topics as sensor_msgs/Image rgb8 (for consumers, like the
    node, that take raw images). on_publish(record, t_publish) is called just before each publish
    (t_publish = time.perf_counter()); on_other(record) for records read but not published.
    """

    def __init__(
        self,
        node: Any,
        bag_path: str | Path,
        topics: Sequence[str] | None = None,
        *,
        extra_topics: Sequence[str] = (),
        rate: float = 1.0,
        qos: str = "reliable",
        qos_depth: int = 10,
        decompress: bool = False,
        remap: dict[str, str] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"--rate must be positive, got {rate}")
        self.bag_path = Path(bag_path)
        self.rate = rate
        self.decompress = decompress
        self.extra_topics = list(extra_topics)
        with BagReader(bag_path) as bag:
            available = bag.topics
            if topics:
                for topic in topics:
                    bag.require(topic)
                self.topics = list(topics)
            else:
                self.topics = [t for t, ty in available.items() if ty in CAMERA_TYPES and not t.startswith(GROUND_TRUTH_PREFIX)]
                if not self.topics:
                    raise BagError(f"no camera topics (Image, CompressedImage, CameraInfo) in {bag_path}; use --topics")
            for topic in self.extra_topics:
                bag.require(topic)
            self.types = {topic: available[topic] for topic in self.topics}
        from ..ros.qos import make_qos  # here, not at import: importing this module starts no DDS

        remap = remap or {}
        self.publishers: dict[str, Any] = {}
        self.out_types: dict[str, str] = {}
        for topic, msgtype in self.types.items():
            out_type = m.IMAGE if (decompress and msgtype == m.COMPRESSED_IMAGE) else msgtype
            self.out_types[topic] = out_type
            self.publishers[topic] = node.create_publisher(message_class(out_type), remap.get(topic, topic), make_qos(qos, qos_depth))
        self.published = 0

    def payload(self, record: Record) -> bytes:
        if self.out_types[record.topic] == record.msgtype:
            return record.raw
        msg = record.msg
        rgb = m.decode_rgb(msg, record.msgtype)
        image = m.image_msg(rgb, "rgb8", m.stamp_to_ns(msg.header), msg.header.frame_id)
        return bytes(typestore().serialize_cdr(image, m.IMAGE))

    def wait_for_subscribers(self, timeout: float, topics: Sequence[str] | None = None) -> bool:
        deadline = time.monotonic() + timeout
        wanted = [self.publishers[t] for t in (topics or self.topics)]
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in wanted):
                return True
            time.sleep(0.05)
        return False

    def play_once(
        self,
        stop: threading.Event | None = None,
        on_publish: Callable[[Record, float], None] | None = None,
        on_other: Callable[[Record], None] | None = None,
    ) -> int:
        """One pass over the bag; returns the number of messages published."""
        count = 0
        with BagReader(self.bag_path) as bag:
            start_wall: float | None = None
            start_bag = 0
            for record in bag.messages(self.topics + [t for t in self.extra_topics if t not in self.topics]):
                if stop is not None and stop.is_set():
                    break
                if record.topic not in self.publishers:
                    if on_other is not None:
                        on_other(record)
                    continue
                if start_wall is None:
                    start_wall, start_bag = time.monotonic(), record.timestamp
                due = start_wall + (record.timestamp - start_bag) / 1e9 / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    if stop is not None:
                        if stop.wait(delay):
                            break
                    else:
                        time.sleep(delay)
                data = self.payload(record)
                if on_publish is not None:
                    on_publish(record, time.perf_counter())
                self.publishers[record.topic].publish(data)
                count += 1
        self.published += count
        return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 directory (mcap or sqlite3) or a bare .mcap/.db3 file")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    parser.add_argument("--loop", action="store_true", help="play again from the start until interrupted")
    parser.add_argument("--topics", nargs="+", default=None,
                        help="topics to publish (default: every Image, CompressedImage and CameraInfo topic outside /ground_truth/)")
    parser.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO", help="publish topic FROM under the name TO")
    parser.add_argument("--qos", choices=("reliable", "sensor_data"), default="reliable",
                        help="publisher reliability (reliable also reaches best-effort subscribers)")
    parser.add_argument("--qos-depth", type=int, default=10)
    parser.add_argument("--decompress", action="store_true", help="publish CompressedImage topics as Image rgb8")
    parser.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to this long for a subscriber on every topic before starting")


def parse_remap(items: Sequence[str]) -> dict[str, str]:
    remap = {}
    for item in items:
        if ":=" not in item:
            raise ValueError(f"--remap takes FROM:=TO, got {item!r}")
        src, dst = item.split(":=", 1)
        remap[src] = dst
    return remap


def run(args: argparse.Namespace) -> int:
    loopback_env(default_domain_id=DEFAULT_DOMAIN_ID)
    import rclpy

    rclpy.init()
    node = None
    try:
        node = rclpy.create_node("mtl_bag_play")
        player = BagPlayer(node, args.bag, args.topics, rate=args.rate, qos=args.qos, qos_depth=args.qos_depth,
                           decompress=args.decompress, remap=parse_remap(args.remap))
        print(f"playing {args.bag} (domain {os.environ['ROS_DOMAIN_ID']}, rate {args.rate}): {', '.join(player.topics)}")
        if args.wait_for_subscribers > 0 and not player.wait_for_subscribers(args.wait_for_subscribers):
            print("bag-play: warning: not every topic has a subscriber; playing anyway", file=sys.stderr)
        while True:
            player.play_once()
            if not args.loop:
                break
        print(f"published {player.published} messages")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except (BagError, ValueError) as err:
        print(f"bag-play: error: {err}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
