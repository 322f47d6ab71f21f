"""Inference threads for serving: one long-lived thread per model worker, their OS names, and how many to run."""
from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from .os_memory import load_libc

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


PR_SET_NAME = 15  # prctl option (linux/prctl.h)
OS_THREAD_NAME_BYTES = 15


def name_os_thread(name: str) -> bool:
    """Name the calling thread for the OS (top -H, /proc/PID/task, py-spy); False where that is not available.

    Threads it starts afterwards (PyTorch's OpenMP workers, ONNX Runtime's pool) inherit the
    name, so per-thread CPU adds up per stage. At most 15 bytes are kept.
    """
    libc = load_libc()
    if libc is None or not hasattr(libc, "prctl"):
        return False
    return libc.prctl(PR_SET_NAME, name.encode()[:OS_THREAD_NAME_BYTES]) == 0


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
