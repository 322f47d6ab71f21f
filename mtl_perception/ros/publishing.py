"""One frame's outputs, each built and published only while its topic has a subscriber.

The network runs every head in one pass; what is skipped here is the conversion and
serialisation, which for a 640×480 frame is most of the node's per-frame cost beyond
inference (normals alone are 3.7 MB of float32). `built` counts, per output key, the
messages actually built, so tests and benchmarks can see what a frame cost.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from sensor_msgs.msg import CameraInfo

from .. import colors
from ..interop.encodings import depth_to_16uc1, mask_depth
from ..interop.pointcloud import prediction_cloud
from .outputs import OUTPUTS, cloud_msg, cloud_options, image_msg, scaled_info


class FramePublisher:
    """Builds and publishes the listened-to outputs of one prediction (the publisher thread's work)."""

    def __init__(self, pubs: dict[str, Any], palette_lut: np.ndarray | None, values: dict[str, Any]) -> None:
        self.pubs = pubs
        self.palette_lut = palette_lut
        self.values = values  # the node's live parameter values (read per frame)
        self.built: dict[str, int] = dict.fromkeys(OUTPUTS, 0)

    def listened(self, key: str) -> bool:
        """Whether output `key` is enabled and has a subscriber (else it is not built)."""
        pub = self.pubs.get(key)
        return pub is not None and pub.get_subscription_count() > 0

    def _send(self, key: str, build: Callable[[], Any]) -> None:
        self.built[key] += 1
        self.pubs[key].publish(build())

    def _send_image(self, key: str, header: Any, build: Callable[[], np.ndarray], encoding: str) -> None:
        self._send(key, lambda: image_msg(header, build(), encoding))

    def publish(self, header: Any, rgb: np.ndarray, pred: Any, info: CameraInfo | None) -> None:
        if pred.segmentation is not None:
            self._segmentation(header, rgb, pred)
        if pred.depth is not None:
            self._depth(header, rgb, pred, info)
        if pred.normals is not None:
            self._normals(header, pred.normals)

    def _segmentation(self, header: Any, rgb: np.ndarray, pred: Any) -> None:
        labels = pred.segmentation
        if self.listened("labels"):
            self._send_image("labels", header, lambda: labels, "mono8")
        if pred.confidence is not None and self.listened("confidence"):
            self._send_image("confidence", header, lambda: pred.confidence, "32FC1")
        want_colour, want_overlay = self.listened("seg_color"), self.listened("overlay")
        if not (want_colour or want_overlay):
            return
        colour = colors.colorize_labels(labels, self.palette_lut)  # shared by both views
        if want_colour:
            self._send_image("seg_color", header, lambda: colour, "rgb8")
        if want_overlay:
            alpha = self.values["overlay_alpha"]
            self._send_image("overlay", header, lambda: colors.overlay(rgb, colour, alpha), "rgb8")

    def _depth(self, header: Any, rgb: np.ndarray, pred: Any, info: CameraInfo | None) -> None:
        height, width = pred.depth.shape
        if self.listened("depth"):
            encoding = self.values["depth_encoding"]  # read once: a parameter change mid-frame cannot split it
            self._send_image("depth", header, lambda: self.depth_image(pred.depth, encoding), encoding)
        if info is not None and self.listened("depth_info"):
            self._send("depth_info", lambda: scaled_info(info, header, width, height, rgb.shape))
        # A cloud needs the intrinsics, and the confidence (absent for a frame inferred before the subscriber came).
        if info is not None and (pred.confidence is not None or pred.segmentation is None) and self.listened("points"):
            self._send("points", lambda: cloud_msg(header, prediction_cloud(pred, rgb, info, cloud_options(self.values))))

    def depth_image(self, depth: np.ndarray, encoding: str) -> np.ndarray:
        """The published depth array: 32FC1 metres, NaN invalid; or 16UC1 millimetres, 0 invalid (REP 118)."""
        masked = mask_depth(depth, self.values["max_depth"])
        return depth_to_16uc1(masked) if encoding == "16UC1" else masked

    def _normals(self, header: Any, normals: np.ndarray) -> None:
        if self.listened("normals"):
            self._send_image("normals", header, lambda: normals, "32FC3")
        if self.listened("normals_color"):
            self._send_image("normals_color", header, lambda: colors.colorize_normals(normals), "rgb8")
