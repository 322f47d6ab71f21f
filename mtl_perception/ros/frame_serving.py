"""What one frame is to PerceptionNode: its arrival, its inference and its publication.

FrameServing is a mixin of PerceptionNode (ros/node.py), which owns the state it works on (the
engine, the parameter values, the FramePublisher, the statistics, the serving pipeline) and the
lifecycle that creates and frees it. The subscription callbacks hand frames to the pipeline;
`infer` runs on an inference thread, `publish_outputs` on the publisher thread.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..interop.camera_info import validate_intrinsics
from ..interop.image import ImageFormatError
from ..interop.stamps import stamp_to_ns
from ..runtime.serving import ServingPipeline, ServingStats, return_freed_memory
from .inputs import frame_limits, frame_to_rgb
from .publishing import FramePublisher

ERROR_LOG_PERIOD_S = 5.0
LARGE_FRAME_PIXELS = 1920 * 1080 * 2  # after a frame this large, freed memory goes back to the OS


@dataclass(frozen=True)
class Inferred:
    """One frame's network outputs on their way from the inference thread to the publisher thread."""

    header: Any
    rgb: np.ndarray
    prediction: Any


class FrameServing:
    """The per-frame half of PerceptionNode (an rclpy node): callbacks, inference, publication."""

    # Set by PerceptionNode.__init__ (and engine by configure / cleanup).
    engine: Any
    stats: ServingStats
    frames_received: int
    _values: dict[str, Any]
    _frames: FramePublisher
    _pipeline: ServingPipeline[Image | CompressedImage, Inferred]
    _large_frame_done: bool
    _camera_info: CameraInfo | None

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg: Image | CompressedImage) -> None:
        self.frames_received += 1
        self.stats.input_rate.tick()
        self._pipeline.offer(msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        reason = validate_intrinsics(msg.width, msg.height, list(msg.k), list(msg.p))
        if reason:
            self.stats.camera_info_bad += 1
            self._camera_info = None
            self._report(f"ignoring camera_info: {reason}")
            return
        self._camera_info = msg

    def _report(self, message: str) -> None:
        self.stats.last_error = message
        self.get_logger().error(message, throttle_duration_sec=ERROR_LOG_PERIOD_S)

    def _frame_failed(self, exc: Exception) -> bool:
        """A pipeline step raised: count and log it; True (end serving) once ROS is shutting down."""
        if not self.context.ok():
            return True  # publishing can only fail now
        self.stats.frames_bad += 1
        self._report(f"frame skipped: {type(exc).__name__}: {exc}")
        return False

    def _after_publish(self) -> None:
        if self._large_frame_done:
            self._large_frame_done = False
            gc.collect()
            return_freed_memory()

    # ------------------------------------------------------------------ the work
    def infer(self, msg: Image | CompressedImage) -> Inferred | None:
        """Decode and run the network on one frame; None (counted, logged) for a malformed image."""
        engine = self.engine
        if engine is None:
            return None
        try:
            rgb = frame_to_rgb(msg, frame_limits(self._values))
        except ImageFormatError as exc:
            self.stats.frames_bad += 1
            self._report(f"frame skipped: {exc}")
            return None
        self._large_frame_done = rgb.shape[0] * rgb.shape[1] > LARGE_FRAME_PIXELS
        size = None if self._values["output_resolution"] == "input" else engine.input_size
        start = time.perf_counter()
        wants_confidence = self._frames.listened("confidence") or self._frames.listened("points")
        pred = engine.predict(rgb, output_size=size, confidence=wants_confidence)
        self.stats.inference_ms.add((time.perf_counter() - start) * 1e3)
        return Inferred(msg.header, rgb, pred)

    def publish_outputs(self, inferred: Inferred) -> None:
        """Every enabled, subscribed output for one frame, each with the input's header."""
        header = inferred.header
        self._frames.publish(header, inferred.rgb, inferred.prediction, self._camera_info)
        self.stats.frames_processed += 1
        self.stats.output_rate.tick()
        stamp_ns = stamp_to_ns(header)
        if stamp_ns > 0:  # zero = unstamped; negative stamps are served but have no meaningful age
            self.stats.latency_ms.add((self.get_clock().now().nanoseconds - stamp_ns) / 1e6)
