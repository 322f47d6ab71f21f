"""Several cameras in one node: each camera's channel, and the batched inference and publication of their frames.

CameraServing is a mixin of PerceptionNode, used when the `cameras` parameter names cameras.
Each camera has its own subscriptions, publishers (under its name), camera_info, statistics and
drop counter; its frames wait in a CameraSlots (one newest frame per camera, oldest-waiting
first), and frames of one size that are waiting together, or arrive within `batch_window_ms`,
run as one forward pass (Engine.predict_batch). A bad frame is counted against its own camera
and leaves the rest of its batch served.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..interop.camera_info import validate_intrinsics
from ..interop.codec_header import HeaderError, compressed_size
from ..interop.image import ImageFormatError
from ..interop.stamps import stamp_to_ns
from ..runtime.serving import CameraSlots, ServingStats
from .frame_serving import ERROR_LOG_PERIOD_S, LARGE_FRAME_PIXELS, Inferred
from .inputs import frame_limits, frame_to_rgb
from .publishing import FramePublisher


@dataclass
class CameraChannel:
    """One camera's endpoints and counters; its topics are `<name>/<relative topic>`."""

    name: str
    frames: FramePublisher
    stats: ServingStats = field(default_factory=ServingStats.create)
    frames_received: int = 0
    camera_info: CameraInfo | None = None

    def topic(self, relative: str) -> str:
        return f"{self.name}/{relative}"


def declared_size(msg: Image | CompressedImage) -> Hashable:
    """The frame's size as its message states it (raw fields, or the PNG/JPEG header), for batching;
    None when unreadable (the frame is then refused when decoded, not here)."""
    if isinstance(msg, CompressedImage):
        try:
            _, width, height = compressed_size(msg.data)
        except (HeaderError, ValueError, TypeError):
            return None
        return height, width
    return int(msg.height), int(msg.width)


def camera_slots(cameras: list[str], window_ms: float) -> CameraSlots:
    """The cameras' slots; `batch_window_ms` 0 turns batching off (one frame per forward pass)."""
    return CameraSlots(cameras, declared_size, window_s=window_ms / 1000.0, max_batch=1 if window_ms == 0 else None)


class CameraServing:
    """The several-camera half of PerceptionNode: per-camera callbacks, batched inference, per-camera publication."""

    # Set by PerceptionNode (channels at configure, emptied at cleanup).
    engine: Any
    channels: dict[str, CameraChannel]
    _values: dict[str, Any]
    _large_frame_done: bool

    def _camera_image_callback(self, channel: CameraChannel, slots: CameraSlots) -> Callable[[Any], None]:
        def on_image(msg: Image | CompressedImage) -> None:
            channel.frames_received += 1
            channel.stats.input_rate.tick()
            slots.put(channel.name, msg)

        return on_image

    def _camera_info_callback(self, channel: CameraChannel) -> Callable[[CameraInfo], None]:
        def on_camera_info(msg: CameraInfo) -> None:
            reason = validate_intrinsics(msg.width, msg.height, list(msg.k), list(msg.p))
            if reason:
                channel.stats.camera_info_bad += 1
                channel.camera_info = None
                self._report_camera(channel, f"ignoring camera_info: {reason}")
                return
            channel.camera_info = msg

        return on_camera_info

    def _report_camera(self, channel: CameraChannel, message: str) -> None:
        channel.stats.last_error = message
        self.get_logger().error(f"{channel.name}: {message}", throttle_duration_sec=ERROR_LOG_PERIOD_S)

    def infer_cameras(self, batch: list[tuple[str, Image | CompressedImage]]) -> list[tuple[str, Inferred]] | None:
        """Decode each camera's frame (a bad one is counted against its camera) and run the rest as one pass per size."""
        engine = self.engine
        if engine is None:
            return None
        decoded: dict[tuple[int, ...], list[tuple[str, Any, np.ndarray]]] = {}
        for camera, msg in batch:
            try:
                rgb = frame_to_rgb(msg, frame_limits(self._values))
            except ImageFormatError as exc:
                self.channels[camera].stats.frames_bad += 1
                self._report_camera(self.channels[camera], f"frame skipped: {exc}")
                continue
            decoded.setdefault(rgb.shape, []).append((camera, msg.header, rgb))
        results = []
        for frames in decoded.values():  # one group unless a frame's header misstated its size
            results += self._infer_group(engine, frames)
        return results or None

    def _infer_group(self, engine: Any, frames: list[tuple[str, Any, np.ndarray]]) -> list[tuple[str, Inferred]]:
        rgbs = [rgb for _, _, rgb in frames]
        self._large_frame_done = self._large_frame_done or rgbs[0].shape[0] * rgbs[0].shape[1] * len(rgbs) > LARGE_FRAME_PIXELS
        network_size = None if self._values["output_resolution"] == "input" else engine.input_size
        sizes = [network_size or rgb.shape[:2] for rgb in rgbs]
        confidence = any(self.channels[c].frames.listened("confidence") or self.channels[c].frames.listened("points") for c, _, _ in frames)
        start = time.perf_counter()
        predictions = engine.predict_batch(rgbs, output_sizes=sizes, confidence=confidence)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        for camera, _, _ in frames:
            self.channels[camera].stats.inference_ms.add(elapsed_ms)
        return [(camera, Inferred(header, rgb, pred)) for (camera, header, rgb), pred in zip(frames, predictions)]

    def publish_cameras(self, results: list[tuple[str, Inferred]]) -> None:
        """Each camera's outputs on its own topics, with its own header and camera_info."""
        now_ns = self.get_clock().now().nanoseconds
        for camera, inferred in results:
            channel = self.channels[camera]
            channel.frames.publish(inferred.header, inferred.rgb, inferred.prediction, channel.camera_info)
            channel.stats.frames_processed += 1
            channel.stats.output_rate.tick()
            stamp_ns = stamp_to_ns(inferred.header)
            if stamp_ns > 0:
                channel.stats.latency_ms.add((now_ns - stamp_ns) / 1e6)
