"""One recorder of a node's outputs: per topic and header stamp, when each arrived; payloads to one worker.

Subscription callbacks only note the arrival (wall-clock ns, comparable with header stamps) and
queue the message for `consume`, so decoding and scoring never delay arrival times or back up DDS. With
raw=True the messages stay serialised CDR and only the stamp is read from the bytes.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable, Mapping

from ..interop.stamps import cdr_stamp_ns, stamp_to_ns

Consumer = Callable[[str, int, Any, int], None]  # (topic, stamp ns, message, arrival ns)


class OutputRecorder:
    """Subscribes to `topics` (name -> message class) on an rclpy node; `qos` is one profile or one per topic."""

    def __init__(self, node: Any, topics: Mapping[str, Any], qos: Any, *, raw: bool = False,
                 consume: Consumer | None = None, keep: int = 4096) -> None:
        self.keep = keep
        self.raw = raw
        self.counts = {topic: 0 for topic in topics}
        self.arrivals: dict[str, OrderedDict[int, int]] = {topic: OrderedDict() for topic in topics}
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._consume = consume
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple] | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="output_recorder", daemon=True)
        self._worker.start()
        profiles = qos if isinstance(qos, Mapping) else {topic: qos for topic in topics}
        self.subscriptions = {
            topic: node.create_subscription(kind, topic, self._callback(topic), profiles[topic], raw=raw) for topic, kind in topics.items()
        }

    def _callback(self, topic: str) -> Callable[[Any], None]:
        def on_message(msg: Any) -> None:
            arrived = time.time_ns()
            stamp = cdr_stamp_ns(msg) if self.raw else stamp_to_ns(msg.header)
            with self._cond:
                self.counts[topic] += 1
                box = self.arrivals[topic]
                box[stamp] = arrived
                while len(box) > self.keep:
                    box.popitem(last=False)
                self._cond.notify_all()
            if self._consume is not None:
                self._jobs.put((self._consume, (topic, stamp, msg, arrived)))

        return on_message

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run fn(*args) on the worker, in order with the recorded messages (e.g. ground truth for a scorer)."""
        self._jobs.put((fn, args))

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args = job
            try:
                fn(*args)
            except BaseException as err:  # noqa: BLE001 - re-raised by finish()
                if self.error is None:
                    self.error = err

    def connected(self, topics: Iterable[str] | None = None) -> bool:
        """Every topic (default: all) has a publisher, i.e. the node is configured."""
        return all(self.subscriptions[topic].get_publisher_count() > 0 for topic in (topics or self.subscriptions))

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout=timeout)

    def arrived(self, topic: str, stamp: int) -> int | None:
        with self._cond:
            return self.arrivals[topic].get(stamp)

    def newest(self, topic: str) -> int:
        """The stamp of the latest message recorded on `topic` (0 before any)."""
        with self._cond:
            box = self.arrivals[topic]
            return next(reversed(box)) if box else 0

    def snapshot(self) -> tuple[dict[str, int], dict[str, dict[int, int]]]:
        """(counts, arrivals) copied under the lock."""
        with self._cond:
            return dict(self.counts), {topic: dict(box) for topic, box in self.arrivals.items()}

    def clear(self) -> None:
        with self._cond:
            for box in self.arrivals.values():
                box.clear()

    def finish(self, timeout: float = 60.0) -> None:
        """Consume everything queued so far, stop the worker, and re-raise its first error."""
        self._jobs.put(None)
        self._worker.join(timeout)
        if self.error is not None:
            raise self.error


class NodeDiagnostics:
    """The latest /diagnostics key-values of the node whose status name contains `node_name`."""

    def __init__(self, node: Any, node_name: str = "") -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        self.node_name = node_name
        self.values: dict[str, str] = {}
        self._lock = threading.Lock()
        self.subscription = node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if self.node_name in status.name:
                with self._lock:
                    self.values = {kv.key: kv.value for kv in status.values}
                return

    def latest(self) -> dict[str, str]:
        with self._lock:
            return dict(self.values)
