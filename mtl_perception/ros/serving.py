"""ROS-free serving core: inference threads and how many, the one-slot latest-frame buffer, statistics, OS-level settings.

OS-level: thread names, glibc heap settings and returning freed memory.

The node wires these to rclpy; tests exercise them without ROS.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import numpy as np

T = TypeVar("T")


class InferenceThread:
    """One long-lived daemon thread that runs every model call of a node, in submission order.

    PyTorch's CPU OpenMP pool belongs to the thread that calls into it. Loading and warming up
    on the executor thread and inferring on a worker leaves two pools on the same cores; libgomp
    then stops spinning and every parallel region pays a wake-up, which made inference about
    1.7x slower on a 2-core CPU. Daemon, so a node that was never shut down cannot hang exit.
    """

    def __init__(self, name: str = "inference", os_name: str | None = None) -> None:
        self._os_name = os_name or name
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        name_os_thread(self._os_name)  # before any model call, so the pools it starts inherit it
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(exc)

    def submit(self, fn: Callable[..., T], *args: Any) -> "Future[T]":
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the inference thread has been closed")
            self._jobs.put((future, fn, args))
        return future

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def close(self, timeout: float | None = None) -> None:
        """Finish the queued jobs, then end the thread (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._jobs.put(None)
        if not self.is_current():
            self._thread.join(timeout)


class LatestSlot(Generic[T]):
    """A one-slot buffer: `put` replaces the waiting item (counted as a drop), `get` blocks for one.

    Latency never grows with backlog: whatever arrives while the consumer is busy overwrites the
    waiting frame, so the consumer always gets the newest one.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.put_count = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store `item`; returns True when it replaced an item nobody had taken (a drop)."""
        with self._cond:
            replaced = self._full
            self._item, self._full = item, True
            self.put_count += 1
            if replaced:
                self.dropped += 1
            self._cond.notify()
            return replaced

    def get(self, timeout: float | None = None) -> T | None:
        """Take the waiting item; None on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout=timeout):
                return None
            if self._closed:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def clear(self) -> None:
        with self._cond:
            self._item, self._full = None, False

    def close(self) -> None:
        """Wake every waiting `get` (which then returns None); later puts are still accepted."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
            self._item, self._full = None, False


class RateMeter:
    """Event rate over a sliding time window: (events − 1) / (last − first) within the window."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.count = 0

    def tick(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        with self._lock:
            self._times.append(now)
            self.count += 1
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0


class Percentiles:
    """The last `capacity` samples; p50/p95 by linear interpolation (numpy's default)."""

    def __init__(self, capacity: int = 500) -> None:
        self._values: deque[float] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        if math.isfinite(value):
            with self._lock:
                self._values.append(float(value))

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float) -> float:
        with self._lock:
            if not self._values:
                return math.nan
            return float(np.percentile(np.fromiter(self._values, dtype=np.float64), q))

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)


@dataclass
class ServingStats:
    """Everything the diagnostics report, updated by the node's callbacks and worker."""

    input_rate: RateMeter
    output_rate: RateMeter
    inference_ms: Percentiles
    latency_ms: Percentiles
    frames_processed: int = 0
    frames_bad: int = 0
    camera_info_bad: int = 0
    last_error: str = ""

    @classmethod
    def create(cls, window_s: float = 5.0) -> "ServingStats":
        return cls(RateMeter(window_s), RateMeter(window_s), Percentiles(), Percentiles())


PR_SET_NAME = 15  # prctl option (linux/prctl.h)
OS_THREAD_NAME_BYTES = 15


def name_os_thread(name: str) -> bool:
    """Name the calling thread for the OS (top -H, /proc/PID/task, py-spy); False where that is not available.

    Threads it starts afterwards (PyTorch's OpenMP workers, ONNX Runtime's pool) inherit the
    name, so per-thread CPU adds up per stage. At most 15 bytes are kept.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "prctl"):
        return False
    return libc.prctl(PR_SET_NAME, name.encode()[:OS_THREAD_NAME_BYTES]) == 0


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def return_freed_memory() -> bool:
    """Hand freed heap pages back to the OS (glibc's malloc_trim); False where that is not available.

    glibc keeps freed blocks below its (adaptive) mmap threshold in the heap, so one huge frame
    would otherwise leave the process hundreds of MB larger for good.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)
    return True


# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
FRAME_BUFFER_LIMIT = 32 << 20  # glibc's largest mmap threshold; a 1280×720 float32 normals image is 11 MB
HEAP_TRIM_THRESHOLD = 64 << 20  # free heap kept for the next frames; return_freed_memory trims the rest


def keep_frame_buffers_in_heap(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> bool:
    """Serve per-frame buffers up to FRAME_BUFFER_LIMIT from the heap instead of fresh mappings.

    glibc maps every block above its (adaptive) mmap threshold anew and unmaps it when freed,
    so a 640×480 frame's outputs were page-faulted in again every frame: ~4,000 faults and
    about 9 ms of the publisher's CPU per frame on 2 cores. False (nothing changed) without
    glibc, or where the user tuned malloc themselves (MALLOC_* or GLIBC_TUNABLES in `environ`).
    """
    if any(key.startswith("MALLOC_") for key in environ) or "malloc" in environ.get("GLIBC_TUNABLES", ""):
        return False
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, FRAME_BUFFER_LIMIT)) and bool(libc.mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD))


@dataclass(frozen=True)
class InferencePlan:
    """How many frames run through the network at once, and torch's CPU threads for each (None: torch's default)."""

    workers: int
    threads_per_worker: int | None


def plan_inference(requested: int, device_type: str, cores: int, environ: "os._Environ[str] | dict[str, str]" = os.environ) -> InferencePlan:
    """`inference_workers` (0 = auto) as a plan.

    On a small CPU shared with publishing, DDS and the consumers, two frames on one thread each
    pack the cores better than one frame on two OpenMP threads, which waits at every layer for
    whichever thread was descheduled. On CUDA one worker keeps the GPU busy. An OMP_NUM_THREADS
    the user set is kept.
    """
    workers = requested or (2 if device_type == "cpu" and cores >= 2 else 1)
    if workers == 1 or device_type != "cpu" or "OMP_NUM_THREADS" in environ:
        return InferencePlan(workers, None)
    return InferencePlan(workers, max(1, cores // workers))
