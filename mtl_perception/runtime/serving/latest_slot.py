"""Latest-frame buffers between subscriptions and the inference threads: the shared waiting logic and the one-camera slot."""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class FrameBuffer:
    """What every latest-frame buffer shares: one condition, and closing that wakes every taker.

    Subclasses keep their waiting frames under `_cond` and drop them in `_drop_waiting`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._closed = False

    def _drop_waiting(self) -> None:
        raise NotImplementedError

    def get(self, timeout: float | None = None) -> object | None:
        """Take what is waiting (a frame, or a batch of them); None on timeout or once closed."""
        raise NotImplementedError

    def clear(self) -> None:
        with self._cond:
            self._drop_waiting()

    def close(self) -> None:
        """Wake every waiting taker (which then gets nothing); later puts are still accepted."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
            self._drop_waiting()


class LatestSlot(FrameBuffer, Generic[T]):
    """A one-slot buffer: `put` replaces the waiting item (counted as a drop), `get` blocks for one.

    Latency never grows with backlog: whatever arrives while the consumer is busy overwrites the
    waiting frame, so the consumer always gets the newest one.
    """

    def __init__(self) -> None:
        super().__init__()
        self._item: T | None = None
        self._full = False
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

    def _drop_waiting(self) -> None:
        self._item, self._full = None, False
