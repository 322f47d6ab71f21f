"""Issue 31 item 1: compressed frames are sized from their PNG IHDR / JPEG SOF header and refused
above the pixel limit before any decoder runs (a 780 KB PNG inflated to 805 MB before).

The node's input path refusing the same PNG: ros/test_hostile_input.py."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from mtl_perception.interop.codec_header import HeaderError, compressed_size
from mtl_perception.interop.image import ImageFormatError, compressed_to_rgb, decode_compressed
from support.codecs import png_bomb


def _encoded(ext: str, rgb: np.ndarray, *params: int) -> bytes:
    import cv2

    ok, data = cv2.imencode(ext, rgb, list(params))
    assert ok
    return data.tobytes()


def forged_jpeg(width: int, height: int) -> bytes:
    """A valid 16×16 JPEG whose SOF0 claims width×height."""
    data = bytearray(_encoded(".jpg", np.zeros((16, 16, 3), np.uint8)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def with_segment(jpeg: bytes, marker: int, body: bytes, garbage: bytes = b"") -> bytes:
    """`jpeg` with one more segment (and optional garbage bytes before it) right after SOI."""
    return jpeg[:2] + garbage + bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


RGB = (np.arange(37 * 53 * 3) % 251).astype(np.uint8).reshape(37, 53, 3)


@pytest.mark.parametrize(
    "ext, params",
    [(".png", ()), (".jpg", ()), (".jpg", ("progressive",)), (".jpg", ("gray",))],
)
def test_size_from_header_matches_what_opencv_decodes(ext, params):
    import cv2

    image = RGB[:, :, 0] if "gray" in params else RGB
    flags = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if "progressive" in params else []
    data = _encoded(ext, image, *flags)
    codec, width, height = compressed_size(data)
    assert (codec, width, height) == ("png" if ext == ".png" else "jpeg", 53, 37)
    assert decode_compressed(data).shape == (37, 53, 3)


def test_jpeg_walk_skips_segments_fill_bytes_and_garbage_like_libjpeg():
    import array

    jpeg = _encoded(".jpg", RGB)
    exif = with_segment(jpeg, 0xE1, b"Exif\0\0" + b"\xff\xc0" * 100)  # an SOF look-alike inside APP1 is skipped
    assert compressed_size(exif) == ("jpeg", 53, 37)
    assert compressed_size(with_segment(jpeg, 0xFE, b"comment", garbage=b"junk\xff\x00")) == ("jpeg", 53, 37)
    assert compressed_size(jpeg[:2] + b"\xff\xff\xff" + jpeg[2:]) == ("jpeg", 53, 37)
    # APPn segments longer than the first look (64 KiB) before the SOF: the walk reads on.
    big = with_segment(with_segment(jpeg, 0xE2, b"\0" * 65000), 0xE2, b"\0" * 65000)
    assert compressed_size(big) == ("jpeg", 53, 37)
    np.testing.assert_array_equal(compressed_to_rgb("jpeg", big), compressed_to_rgb("jpeg", jpeg))
    # Every payload type the node and the bag tools hand over.
    for payload in (array.array("B", jpeg), np.frombuffer(jpeg, np.uint8), memoryview(jpeg), bytearray(jpeg)):
        assert compressed_size(payload) == ("jpeg", 53, 37)


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"", "neither"),
        (b"BM" + b"\0" * 60, "neither"),  # BMP, TIFF, WebP, ...: OpenCV could decode them, but they are not ours
        (b"\x89PNG\r\n\x1a\n" + b"\0\0\0\x0dIDAT" + b"\0" * 40, "IHDR"),
        (b"\x89PNG\r\n\x1a\n\0\0", "IHDR"),
        (b"\xff\xd8\xff\xda\0\x08", "before any frame header"),
        (b"\xff\xd8\xff\xe0\0\x01", "length 1"),
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "no JPEG frame header"),
        (b"\xff\xd8" + b"\xff\x00" * 5000, "markers"),
        (b"\xff\xd8\xff\xc0\0\x11\x08\0\0\0\x10", "0"),  # height 0 (DNL), which OpenCV's libjpeg refuses
    ],
    ids=["empty", "bmp", "png_no_ihdr", "png_short", "jpeg_sos_first", "jpeg_bad_length", "jpeg_no_sof", "jpeg_stuffing", "jpeg_height_0"],
)
def test_unreadable_headers_are_refused_without_decoding(payload, reason, no_decoding):
    with pytest.raises(HeaderError, match=reason):
        compressed_size(payload)
    assert decode_compressed(payload) is None
    with pytest.raises(ImageFormatError, match="not a decodable jpeg or png"):
        compressed_to_rgb("rgb8; jpeg compressed bgr8", payload)


@pytest.mark.parametrize("name", ["png_bomb", "jpeg_65535", "jpeg_20000"])
def test_oversized_frames_are_refused_from_the_header_before_any_decode(name, no_decoding):
    """Before: the PNG was decoded (peak RSS +1.5 GB) and the 20000² JPEG sized a 1.2 GB output."""
    payload = {"png_bomb": png_bomb, "jpeg_65535": lambda: forged_jpeg(65535, 65535), "jpeg_20000": lambda: forged_jpeg(20000, 20000)}[name]()
    with pytest.raises(ImageFormatError, match="exceeds max_frame_pixels 16777216; refused before decoding"):
        compressed_to_rgb("rgb8; png compressed bgr8", payload, max_pixels=4096 * 4096, limit_name="max_frame_pixels")
    with pytest.raises(ImageFormatError, match="pixel limit"):
        decode_compressed(payload)
    with pytest.raises(ImageFormatError, match="pixel limit"):
        compressed_to_rgb("png", payload)  # the bag tools' call: the interop default limit (8192²)
