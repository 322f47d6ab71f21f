"""The node's input: which message type it subscribes to, and one frame message -> RGB.

`input_transport` raw takes sensor_msgs/Image on `image`; compressed takes image_transport's
sensor_msgs/CompressedImage on `image/compressed` (jpeg or png, decoded with OpenCV). Both
refuse an oversized frame before decoding, so a hostile message costs no decode: a raw frame by
its width and height fields, a compressed one by the size in its PNG IHDR or JPEG SOF header
(interop.codec_header), read before OpenCV sees the payload.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from ..interop.image import ImageFormatError, compressed_to_rgb, image_to_rgb

ENDPOINTS: dict[str, tuple[type, str]] = {"raw": (Image, "image"), "compressed": (CompressedImage, "image/compressed")}


@dataclass(frozen=True)
class FrameLimits:
    max_pixels: int
    max_bytes: int


def input_endpoint(transport: str) -> tuple[type, str]:
    """(message type, relative topic) the node subscribes to for `transport`."""
    return ENDPOINTS[transport]


def frame_to_rgb(msg: Image | CompressedImage, limits: FrameLimits) -> np.ndarray:
    """One input message -> H×W×3 uint8 RGB; ImageFormatError for a malformed or oversized one."""
    size = len(msg.data)
    if size > limits.max_bytes:
        raise ImageFormatError(f"{size} data bytes exceed max_frame_bytes {limits.max_bytes}")
    if isinstance(msg, CompressedImage):
        # Sized from its PNG/JPEG header and refused there when too large: no decoder runs.
        rgb = compressed_to_rgb(msg.format, msg.data, max_pixels=limits.max_pixels, limit_name="max_frame_pixels")
        _check_pixels(rgb.shape[1], rgb.shape[0], limits)
        return rgb
    _check_pixels(int(msg.width), int(msg.height), limits)
    return image_to_rgb(msg)


def _check_pixels(width: int, height: int, limits: FrameLimits) -> None:
    pixels = width * height
    if pixels > limits.max_pixels:
        raise ImageFormatError(f"{width}x{height} = {pixels} pixels exceeds max_frame_pixels {limits.max_pixels}")


def frame_limits(values: dict[str, Any]) -> FrameLimits:
    return FrameLimits(values["max_frame_pixels"], values["max_frame_bytes"])
