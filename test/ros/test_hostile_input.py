"""Issue 31 item 1, at the node's input: a compressed frame is sized from its header and refused above
max_frame_pixels before any decoder runs, even where its byte count is within max_frame_bytes."""
from __future__ import annotations

import pytest

from mtl_perception.interop.image import ImageFormatError
from support.codecs import png_bomb


def test_node_input_refuses_the_png_bomb_before_decoding(no_decoding):
    pytest.importorskip("sensor_msgs")
    from sensor_msgs.msg import CompressedImage

    from mtl_perception.ros.inputs import FrameLimits, frame_to_rgb
    from mtl_perception.ros.params import DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_PIXELS

    msg = CompressedImage()
    msg.format = "rgb8; png compressed bgr8"
    msg.data = png_bomb()
    assert len(msg.data) < DEFAULT_MAX_FRAME_BYTES  # the byte limit lets it through; the header does not
    with pytest.raises(ImageFormatError, match="16384x16384 = 268435456 pixels .*max_frame_pixels"):
        frame_to_rgb(msg, FrameLimits(DEFAULT_MAX_FRAME_PIXELS, DEFAULT_MAX_FRAME_BYTES))
