"""Serving statistics: event rates over a sliding window, latency percentiles, per-node counters."""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np


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
