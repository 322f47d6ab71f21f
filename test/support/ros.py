"""Helpers of the ROS tests: a background executor, a topic recorder, polling, messages, node parameters.

Import only after ROS_AUTOMATIC_DISCOVERY_RANGE / ROS_DOMAIN_ID are set (test/conftest.py does; rclpy
is imported lazily by the functions that need it).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np


class Spinner:
    """A MultiThreadedExecutor spinning the given nodes on a daemon thread."""

    def __init__(self, *nodes: Any, threads: int = 2) -> None:
        from rclpy.executors import MultiThreadedExecutor

        self.executor = MultiThreadedExecutor(num_threads=threads)
        for node in nodes:
            self.executor.add_node(node)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.exceptions import InvalidHandle
        from rclpy.executors import ExternalShutdownException, ShutdownException

        # One round at a time, so that rclpy's race (an entity a test thread destroys between the
        # wait and the take raises InvalidHandle out of spin) costs one round, not the executor.
        while not self._stopping.is_set() and self.executor.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except InvalidHandle:
                continue
            except (ExternalShutdownException, ShutdownException, KeyboardInterrupt):
                return

    def add(self, node: Any) -> None:
        self.executor.add_node(node)

    def stop(self) -> None:
        self._stopping.set()
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(timeout=10.0)


class Recorder:
    """Subscribes to topics and keeps received messages (thread-safe), with bounded waiting."""

    def __init__(self, node: Any, topics: dict[str, type], qos: Any = None, keep: int = 1000) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.node = node
        self.keep = keep
        self.messages: dict[str, list[Any]] = {topic: [] for topic in topics}
        self.arrivals: dict[str, list[float]] = {topic: [] for topic in topics}
        self._cond = threading.Condition()
        qos = qos or QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.subscriptions = [node.create_subscription(kind, topic, self._callback(topic), qos) for topic, kind in topics.items()]

    def _callback(self, topic: str) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            with self._cond:
                box = self.messages[topic]
                box.append(msg)
                self.arrivals[topic].append(time.monotonic())
                if len(box) > self.keep:
                    del box[0]
                    del self.arrivals[topic][0]
                self._cond.notify_all()

        return callback

    def wait_for(self, predicate: Callable[[dict[str, list[Any]]], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.messages), timeout=timeout)

    def clear(self) -> None:
        with self._cond:
            for topic in self.messages:
                self.messages[topic].clear()
                self.arrivals[topic].clear()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def make_image(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "camera_optical") -> Any:
    """A sensor_msgs/Image of `rgb` stamped `stamp_ns`."""
    from sensor_msgs.msg import Image

    from mtl_perception.interop.image import fill_image

    msg = Image()
    fill_image(msg, rgb, encoding)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    return msg


def camera_info(width: int = 64, height: int = 48, fx: float = 60.0, fy: float = 55.0, cx: float = 31.5, cy: float = 23.5) -> Any:
    """A distortion-free pinhole sensor_msgs/CameraInfo (the size of the node tests' frames by default)."""
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo()
    info.width, info.height = width, height
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def base_overrides(artifact, **extra):
    """Node parameter overrides for a tiny artifact on CPU, not started (autostart false) unless `extra` says so."""
    from rclpy.parameter import Parameter

    values = dict(autostart=False, model_path=str(artifact), device="cpu", backend="torch", warmup_iterations=0, inference_workers=1)
    values.update(extra)
    return [Parameter(name, value=value) for name, value in values.items()]
