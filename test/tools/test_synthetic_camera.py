"""Synthetic camera helpers: ping-pong playback, camera_info from the renderer's intrinsics."""
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.ros


def test_pingpong_plays_back_and_forth():
    from mtl_perception.tools.synthetic_camera import pingpong

    assert [pingpong(i, 4) for i in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert [pingpong(i, 1) for i in range(3)] == [0, 0, 0]


def test_camera_info_and_uint8():
    from mtl_perception.interop.image import float_to_rgb8 as to_uint8
    from mtl_perception.tools.synthetic_camera import camera_info_msg

    cam = SimpleNamespace(fx=100.0, fy=90.0, cx=31.5, cy=23.5, width=64, height=48)
    info = camera_info_msg(cam, "cam")
    assert (info.width, info.height, info.header.frame_id) == (64, 48, "cam")
    np.testing.assert_allclose(info.k, [100, 0, 31.5, 0, 90, 23.5, 0, 0, 1])
    np.testing.assert_allclose(np.reshape(info.p, (3, 4))[:, :3], np.reshape(info.k, (3, 3)))
    np.testing.assert_array_equal(to_uint8(np.array([0.0, 0.5, 1.0, 1.2], np.float32)), [0, 128, 255, 255])
