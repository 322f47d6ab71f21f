"""Hostile Image messages (issue 15): byte counts that lie are refused without allocating, and a
long encoding is not echoed whole. Each test is a probe that broke the old code."""
from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from mtl_perception.interop.image import ImageFormatError, image_to_array, image_to_rgb

STEP_BOMB = 2**26  # 64 MiB of row stride announced, one byte sent


def _image(height: int, width: int, step: int, data: bytes, encoding: str = "mono8") -> SimpleNamespace:
    return SimpleNamespace(height=height, width=width, encoding=encoding, is_bigendian=0, step=step, data=data)


def test_step_bomb_is_refused_without_allocating():
    tracemalloc.start()
    try:
        with pytest.raises(ImageFormatError, match="larger than the whole payload"):
            image_to_array(_image(1, 1, STEP_BOMB, b"\x07"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the old decoder padded the payload out to step*height bytes first


@pytest.mark.parametrize("height, step, size", [(2, STEP_BOMB, 1), (3, 4096, 4096 * 2), (2, 2**32 - 1, 100)])
def test_short_payloads_are_refused(height, step, size):
    with pytest.raises(ImageFormatError, match="data has|larger than"):
        image_to_array(_image(height, 4, step, bytes(size)))


def test_omitted_last_row_padding_still_decodes_without_padding_copy():
    rows = np.arange(3 * 10, dtype=np.uint8).reshape(3, 10)
    data = rows.reshape(-1)[: 2 * 10 + 4].tobytes()  # last row's 6 padding bytes not sent
    assert np.array_equal(image_to_array(_image(3, 4, 10, data)), rows[:, :4])


def test_long_encoding_is_not_echoed_whole():
    with pytest.raises(ImageFormatError) as caught:
        image_to_rgb(_image(1, 1, 1, b"\x00", encoding="x" * 10_000))
    assert len(str(caught.value)) < 200 and "10000 chars" in str(caught.value)
