"""The one-slot latest-frame buffer between a subscription and the inference threads."""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


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
