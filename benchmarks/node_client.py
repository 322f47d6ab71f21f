"""bench_node.py's camera and consumer: serialised frames with unique stamps out, the node's outputs in.

`Client` publishes pre-serialised frames (`publish(bytes)`) and subscribes raw (`raw=True`),
reading only the header stamp, so the benchmark's own Python work costs as little CPU as
possible on the cores it shares with the node. The message builders make the rendered frames,
their CameraInfo and the extra outputs the breakdown serialises.
"""
from __future__ import annotations

import array
import struct
import time

import numpy as np

from mtl_perception.interop.stamps import NS_PER_S
from mtl_perception.tools.recorder import OutputRecorder
from node_suites import Variant

CDR_STAMP_OFFSET = 4  # after the 4-byte encapsulation header: Header.stamp.sec (int32), .nanosec (uint32)
STALL_S = 0.5  # no output for this long in a throughput round: the frames in flight were dropped
STAMP_SEC = 1  # every frame is stamped (1 s, n ns) with a unique n


class Client:
    """Publisher of serialised frames with unique stamps, and raw subscribers to the outputs."""

    def __init__(self, rclpy_node, namespace: str, serialized_frames: list[bytes], info: bytes | None, variant: Variant) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.frames = [bytearray(f) for f in serialized_frames]
        kind, topic = (CompressedImage, "image/compressed") if variant.compressed else (Image, "image")
        self.publisher = rclpy_node.create_publisher(kind, f"{namespace}/{topic}", qos)
        self.info = info if variant.camera_info else None  # sent before every frame, as a camera driver does
        self.info_publisher = rclpy_node.create_publisher(CameraInfo, f"{namespace}/camera_info", qos) if self.info else None
        self.last_topic = f"{namespace}/{variant.outputs[-1]}"
        topics = {f"{namespace}/{t}": Image for t in variant.outputs}
        if variant.points:
            topics[f"{namespace}/points"] = PointCloud2
        self.recorder = OutputRecorder(rclpy_node, topics, qos, raw=True)
        self.sent: dict[int, int] = {}  # stamp ns -> wall-clock ns at publish
        self.next_stamp = 1

    def connected(self) -> bool:
        info_ok = self.info_publisher is None or self.info_publisher.get_subscription_count() > 0
        return info_ok and self.publisher.get_subscription_count() > 0 and self.recorder.connected()

    def done(self) -> dict[int, int]:
        """Stamp -> arrival ns of every frame whose last output has arrived."""
        return self.recorder.snapshot()[1][self.last_topic]

    def complete(self) -> int:
        return len(self.recorder.arrivals[self.last_topic])

    def publish(self) -> int:
        index = self.next_stamp
        self.next_stamp += 1
        frame = self.frames[index % len(self.frames)]
        struct.pack_into("<iI", frame, CDR_STAMP_OFFSET, STAMP_SEC, index)
        stamp = STAMP_SEC * NS_PER_S + index
        self.sent[stamp] = time.time_ns()
        if self.info_publisher is not None:
            self.info_publisher.publish(self.info)
        self.publisher.publish(bytes(frame))
        return stamp

    def wait_output(self, stamp: int, timeout: float) -> bool:
        return self.recorder.wait_for(lambda: stamp in self.recorder.arrivals[self.last_topic], timeout)

    def outstanding(self) -> int:
        """Frames sent after the newest completed one: the node serves in order, newest first, so any
        older frame without an output was dropped (its one-slot buffer or the DDS reader replaced it)."""
        newest = self.recorder.newest(self.last_topic)
        return sum(1 for stamp in self.sent if stamp > newest)

    def throughput_round(self, frames: int, in_flight: int, min_gap_s: float) -> float:
        """Outputs/s with `in_flight` frames outstanding: the node never idles, DDS is never flooded.

        A dropped frame counts as finished once a newer one completes, so a drop does not shrink
        the number in flight for the rest of the round (which would measure latency, not
        throughput). Frames go out at least `min_gap_s` apart, as from a camera: two frames sent
        back to back would make the node's newest-wins input drop the first.
        """
        self.recorder.clear()
        self.sent.clear()
        start_ns, last_send = time.time_ns(), time.monotonic()
        self.publish()
        while self.complete() < frames:
            room = self.outstanding() < in_flight
            gap_left = min_gap_s - (time.monotonic() - last_send)
            if room and gap_left <= 0:
                self.publish()
                last_send = time.monotonic()
                continue
            seen = self.complete()
            arrived = self.recorder.wait_for(lambda: self.complete() > seen, gap_left if room else STALL_S)
            if not arrived and not room:  # nothing for STALL_S: every frame in flight was dropped
                self.publish()
                last_send = time.monotonic()
        done = self.done()
        return len(done) / ((max(done.values()) - start_ns) / 1e9)

    def _send_at_rate(self, frames: int, rate_hz: float) -> list[int]:
        """Open loop, as a camera: `frames` frames `1 / rate_hz` apart, whatever the node does; their stamps."""
        period = 1.0 / rate_hz
        stamps = []
        next_time = time.monotonic()
        for _ in range(frames):
            stamps.append(self.publish())
            next_time += period
            time.sleep(max(0.0, next_time - time.monotonic()))
        return stamps

    def steady_round(self, frames: int, rate_hz: float) -> tuple[list[float], float]:
        """Open loop at a fixed rate: latency = last output's arrival − publish time; delivered fraction."""
        self.recorder.clear()
        stamps = self._send_at_rate(frames, rate_hz)
        self.recorder.wait_for(lambda: self.complete() >= frames, 5.0)
        done = self.done()
        latencies = [(done[s] - self.sent[s]) / 1e6 for s in stamps if s in done]
        return latencies, len(latencies) / frames

    def camera_round(self, frames: int, rate_hz: float) -> float:
        """A camera at `rate_hz` that never waits for the node: the fraction of its frames served.

        The node drops what it cannot take (newest wins), as it would on a robot, so its output
        rate is this fraction of the camera's. A frame counts when its last output arrives.
        """
        self.recorder.clear()
        stamps = set(self._send_at_rate(frames, rate_hz))
        while True:  # the last frames' outputs: wait until none arrives for STALL_S
            seen = self.complete()
            if seen >= frames or not self.recorder.wait_for(lambda: self.complete() > seen, STALL_S):
                break
        return sum(1 for stamp in self.done() if stamp in stamps) / frames  # not a late output of the round before


def camera_frames(height: int, width: int) -> tuple[list[np.ndarray], list]:
    """Eight rendered frames, as RGB arrays and as Image messages."""
    from sensor_msgs.msg import Image

    from mtl_perception.data import Camera, render_sequence
    from mtl_perception.interop.image import fill_image, float_to_rgb8

    frames = [float_to_rgb8(f.image) for f in render_sequence(0, 8, Camera.default(height, width))]
    messages = []
    for rgb in frames:
        msg = Image()
        msg.header.frame_id = "camera_optical_frame"
        fill_image(msg, rgb, "rgb8")
        messages.append(msg)
    return frames, messages


def camera_info_msg(height: int, width: int):
    """The rendered frames' CameraInfo (the renderer's default pinhole camera)."""
    from sensor_msgs.msg import CameraInfo

    from mtl_perception.data import Camera
    from mtl_perception.interop.camera_info import pinhole_k, pinhole_p

    camera = Camera.default(height, width)
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.0] * 5)
    info.k, info.p = pinhole_k(camera), pinhole_p(camera)
    return info


def compressed_message(msg):
    """The same frame as image_transport's compressed plugin sends it (jpeg, quality 95)."""
    from sensor_msgs.msg import CompressedImage

    from mtl_perception.interop.image import encode_compressed, image_to_rgb

    fmt, data = encode_compressed(image_to_rgb(msg), "jpeg")
    out = CompressedImage()
    out.header, out.format = msg.header, fmt
    out.data = array.array("B", np.asarray(data, np.uint8).tobytes())
    return out


def extra_outputs(pred, rgb: np.ndarray, palette) -> list:
    """What `labels + depth only` spares the node: confidence, both colour views, normals and their view."""
    from mtl_perception import colors

    colour = colors.colorize_labels(pred.segmentation, colors.palette_lut(palette))
    return [
        image_msg(pred.confidence, "32FC1"),
        image_msg(colour, "rgb8"),
        image_msg(colors.overlay(rgb, colour, 0.5), "rgb8"),
        image_msg(pred.normals, "32FC3"),
        image_msg(colors.colorize_normals(pred.normals), "rgb8"),
    ]


def image_msg(values: np.ndarray, encoding: str):
    """A new Image message holding `values` in `encoding`."""
    from sensor_msgs.msg import Image

    from mtl_perception.interop.image import fill_image

    msg = Image()
    fill_image(msg, values, encoding)
    return msg
