"""The serving pipeline: one-slot buffer → inference threads → publisher thread, behind one class.

ROS-free. The subscription callback `offer`s each frame; each inference thread takes the newest
waiting frame, runs `infer`, and the publisher thread sends the results in the order the frames
were taken, so outputs go out while the next frames are in the network. Memory stays bounded:
a worker blocks while the publisher is as many frames behind as there are workers. `on_error`
decides what a failed step means: it returns True when serving should end quietly (the ROS
context is gone).
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Callable, Generic, Sequence, TypeVar

from .latest_slot import FrameBuffer, LatestSlot
from .threads import InferenceThread, name_os_thread

M = TypeVar("M")  # an input message
R = TypeVar("R")  # one frame's inference result

PUBLISHER_OS_NAME = "mtl_publisher"  # the publisher thread's name in top -H and /proc
POLL_S = 0.5  # how often an idle worker looks at the stop flag
STOP_TIMEOUT_S = 30.0

_SHUTTING_DOWN = object()  # a step's result when on_error says serving must end


class ServingPipeline(Generic[M, R]):
    """Newest frame in, outputs out in arrival order; memory bounded by one frame per stage.

    With several inference threads, each takes the next frame and runs it on its own; the
    publisher still sends results in the order the frames were taken (a queue of futures,
    claimed under one lock).
    """

    def __init__(
        self,
        inference: InferenceThread | Sequence[InferenceThread],
        infer: Callable[[M], R | None],
        publish: Callable[[R], None],
        on_error: Callable[[Exception], bool],
        after_publish: Callable[[], None] = lambda: None,
        slot: FrameBuffer | None = None,
    ) -> None:
        """`slot`: where frames wait (default a one-camera LatestSlot; CameraSlots hands `infer` a batch)."""
        self.slot = slot if slot is not None else LatestSlot()
        self._workers = [inference] if isinstance(inference, InferenceThread) else list(inference)
        self._infer, self._publish, self._on_error, self._after_publish = infer, publish, on_error, after_publish
        self._stop = threading.Event()
        self._claim = threading.Lock()  # taking a frame and queueing its future is one step
        self._outbox: queue.Queue[Future | None] = queue.Queue(maxsize=len(self._workers))
        self._running: list[Future] = []
        self._publisher: threading.Thread | None = None

    def use_workers(self, workers: Sequence[InferenceThread]) -> None:
        """Serve on `workers` from the next start (the slot and its counters stay)."""
        if self.running:
            raise RuntimeError("change the inference threads only while the pipeline is stopped")
        self._workers = list(workers)

    @property
    def running(self) -> bool:
        return bool(self._running)

    def offer(self, msg: M) -> None:
        """Called from the subscription: replaces a waiting frame (counted in slot.dropped)."""
        self.slot.put(msg)

    def start(self) -> None:
        self.slot.reopen()
        self._stop.clear()
        self._outbox = queue.Queue(maxsize=len(self._workers))
        self._publisher = threading.Thread(target=self._publish_loop, name="perception_publisher", daemon=True)
        self._publisher.start()
        self._running = [worker.submit(self._work) for worker in self._workers]

    def stop(self) -> list[str]:
        """Stop both stages after the frames in flight; returns what did not stop cleanly (empty = all)."""
        problems: list[str] = []
        self._stop.set()
        self.slot.close()
        if not any(worker.is_current() for worker in self._workers):
            for running in self._running:
                try:
                    running.result(timeout=STOP_TIMEOUT_S)
                except (FuturesTimeout, Exception) as exc:  # noqa: BLE001 - stopping must not raise
                    problems.append(f"inference worker did not stop cleanly: {exc!r}")
        self._running = []
        if self._publisher is not None and self._publisher is not threading.current_thread():
            try:
                self._outbox.put(None, timeout=STOP_TIMEOUT_S)  # after the workers' last frames: drain, then end
                self._publisher.join(timeout=STOP_TIMEOUT_S)
            except queue.Full:
                problems.append("output publisher is stuck; abandoning it")
        self._publisher = None
        self.slot.clear()
        return problems

    def _work(self) -> None:
        """On an inference thread: claim the newest frame (and its place in the output order), run it."""
        while not self._stop.is_set():
            with self._claim:
                msg = self.slot.get(timeout=POLL_S)
                if msg is None or self._stop.is_set():
                    continue
                result: Future = Future()
                self._outbox.put(result)  # blocks while the publisher is behind: bounded memory
            outcome = self._guarded(self._infer, msg)
            del msg  # a large frame must not outlive its inference
            result.set_result(outcome)
            if outcome is _SHUTTING_DOWN:
                return

    def _publish_loop(self) -> None:
        name_os_thread(PUBLISHER_OS_NAME)
        while True:
            pending = self._outbox.get()
            if pending is None:
                return
            result = pending.result()
            if result is _SHUTTING_DOWN or (result is not None and self._guarded(self._publish, result) is _SHUTTING_DOWN):
                return
            del result, pending  # release the frame's arrays before after_publish (which may return memory)
            self._after_publish()

    def _guarded(self, step: Callable, arg: object) -> object:
        try:
            return step(arg)
        except Exception as exc:  # noqa: BLE001 - serving must outlive any one frame
            return _SHUTTING_DOWN if self._on_error(exc) else None
