"""Latest-frame slots for several cameras, taken fairly and in batches of one size.

Each camera keeps only its newest waiting frame (a newer one replaces it and counts as that
camera's drop), so latency never grows with a backlog and a fast camera cannot crowd out a slow
one: frames are taken oldest-waiting first across cameras, and each camera has at most one
waiting. A taker may wait up to a batch window for more cameras' frames of the same size, so
one forward pass serves them all; a camera that falls silent costs the others at most that window.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, Sequence, TypeVar

from .latest_slot import FrameBuffer

T = TypeVar("T")


@dataclass
class _Waiting(Generic[T]):
    item: T
    arrived: float
    key: Hashable


@dataclass
class CameraCounts:
    """Per camera: frames offered and frames replaced before anyone took them."""

    put: int = 0
    dropped: int = 0


class CameraSlots(FrameBuffer, Generic[T]):
    """One latest-frame slot per camera name; `take_batch` hands out the fairest batch.

    `batch_key(frame)`: frames batch only when their keys are equal (e.g. their size).
    `get` is `take_batch` with the buffer's own `window_s` and `max_batch`, for the pipeline.
    """

    def __init__(self, cameras: Sequence[str], batch_key: Callable[[T], Hashable] = lambda item: None, *, window_s: float = 0.0,
                 max_batch: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if not cameras or len(set(cameras)) != len(cameras):
            raise ValueError(f"camera names must be distinct and at least one, got {list(cameras)}")
        super().__init__()
        self.cameras = tuple(cameras)
        self.batch_key, self.window_s, self.max_batch, self.clock = batch_key, window_s, max_batch, clock
        self.counts = {camera: CameraCounts() for camera in self.cameras}
        self._waiting: dict[str, _Waiting[T]] = {}

    def put(self, camera: str, item: T) -> bool:
        """Store `camera`'s newest frame; True when it replaced one nobody had taken (a drop)."""
        key = self.batch_key(item)  # outside the lock: it may look at the frame
        with self._cond:
            counts = self.counts[camera]
            replaced = camera in self._waiting
            # A replacing frame keeps the replaced one's place in line: a busy camera is not pushed back.
            arrived = self._waiting[camera].arrived if replaced else self.clock()
            self._waiting[camera] = _Waiting(item, arrived, key)
            counts.put += 1
            counts.dropped += replaced
            self._cond.notify_all()
            return replaced

    def get(self, timeout: float | None = None) -> list[tuple[str, T]] | None:
        """A batch as `take_batch` with this buffer's window and size; None on timeout or once closed."""
        return self.take_batch(timeout, self.window_s, self.max_batch) or None

    def take_batch(self, timeout: float | None, window_s: float = 0.0, max_batch: int | None = None) -> list[tuple[str, T]]:
        """The oldest waiting frame, plus other cameras' frames of its key that are waiting or arrive
        within `window_s` (oldest first, at most `max_batch` in all); [] on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._waiting or self._closed, timeout=timeout) or self._closed:
                return []
            first = min(self._waiting, key=lambda camera: self._waiting[camera].arrived)
            key = self._waiting[first].key
            limit = len(self.cameras) if max_batch is None else max(1, min(max_batch, len(self.cameras)))
            deadline = self.clock() + window_s

            def matching() -> list[str]:
                same = [camera for camera, waiting in self._waiting.items() if waiting.key == key]
                return sorted(same, key=lambda camera: self._waiting[camera].arrived)[:limit]

            while window_s > 0 and len(matching()) < limit and not self._closed:
                left = deadline - self.clock()
                if left <= 0 or not self._cond.wait(timeout=left):
                    break
            # The first camera's frame may have been replaced by one of another size meanwhile.
            batch = matching() or [min(self._waiting, key=lambda camera: self._waiting[camera].arrived)]
            return [(camera, self._waiting.pop(camera).item) for camera in batch]

    def _drop_waiting(self) -> None:
        self._waiting.clear()
