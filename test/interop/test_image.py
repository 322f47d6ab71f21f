"""Image <-> numpy codec, without ROS: encodings, channel order, padded step, endianness, errors."""
from types import SimpleNamespace

import numpy as np
import pytest

from mtl_perception.interop.image import (
    ImageFormatError,
    array_to_fields,
    compressed_to_rgb,
    decode_compressed,
    fill_image,
    image_to_array,
    image_to_rgb,
)


def msg(height, width, encoding, step, data, is_bigendian=0):
    return SimpleNamespace(height=height, width=width, encoding=encoding, step=step, data=data, is_bigendian=is_bigendian)


def padded(rows: np.ndarray, pad: int) -> bytes:
    """Row-major bytes with `pad` junk bytes after every row."""
    flat = rows.reshape(rows.shape[0], -1).view(np.uint8)
    junk = np.full((rows.shape[0], pad), 0xAB, np.uint8)
    return np.concatenate([flat, junk], axis=1).tobytes()


RGB = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7


def test_rgb8_round_trip_and_padded_step():
    out = image_to_rgb(msg(2, 3, "rgb8", 9 + 5, padded(RGB, 5)))
    np.testing.assert_array_equal(out, RGB)
    assert out.flags.c_contiguous


@pytest.mark.parametrize("encoding,channels", [("bgr8", [2, 1, 0]), ("rgba8", [0, 1, 2, 3]), ("bgra8", [2, 1, 0, 3])])
def test_channel_orders(encoding, channels):
    alpha = np.full((2, 3, 1), 200, np.uint8)
    full = np.concatenate([RGB, alpha], axis=2)[:, :, channels]  # what the camera would send
    width_bytes = 3 * len(channels)
    out = image_to_rgb(msg(2, 3, encoding, width_bytes + 3, padded(np.ascontiguousarray(full), 3)))
    np.testing.assert_array_equal(out, RGB)


def test_mono8_replicated():
    mono = np.array([[0, 10, 255], [1, 2, 3]], np.uint8)
    out = image_to_rgb(msg(2, 3, "mono8", 4, padded(mono, 1)))
    assert out.shape == (2, 3, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], mono)


def test_big_endian_16_and_32_bit():
    values16 = np.array([[1, 258, 65535]], dtype=">u2")
    out = image_to_array(msg(1, 3, "16UC1", 6, values16.tobytes(), is_bigendian=1))
    np.testing.assert_array_equal(out, [[1, 258, 65535]])
    assert out.dtype == np.uint16 and out.dtype.byteorder in ("=", "<", "|")
    values32 = np.array([[1.5, -2.25], [np.pi, 1e-3]], dtype=">f4")
    out = image_to_array(msg(2, 2, "32FC1", 8 + 4, padded(values32, 4), is_bigendian=1))
    np.testing.assert_array_equal(out, values32.astype(np.float32))
    little = image_to_array(msg(2, 2, "32FC1", 8, values32.astype("<f4").tobytes(), is_bigendian=0))
    np.testing.assert_array_equal(little, out)


def test_tolerates_missing_last_row_padding_and_array_data():
    import array

    data = padded(RGB, 2)[:-2]
    np.testing.assert_array_equal(image_to_rgb(msg(2, 3, "rgb8", 11, array.array("B", data))), RGB)


@pytest.mark.parametrize(
    "bad,match",
    [
        (msg(2, 3, "yuv422", 6, b"\0" * 12), "unsupported"),
        (msg(2, 3, "16UC1", 6, b"\0" * 12), "unsupported camera encoding"),
        (msg(0, 3, "rgb8", 9, b""), "zero size"),
        (msg(2, 3, "rgb8", 8, b"\0" * 18), "step"),
        (msg(2, 3, "rgb8", 9, b"\0" * 10), "bytes"),
        (msg(100000, 100000, "rgb8", 300000, b""), "exceeds"),
    ],
)
def test_bad_images_raise(bad, match):
    with pytest.raises(ImageFormatError, match=match):
        image_to_rgb(bad)


def test_encode_fields_and_fill_image():
    depth = np.array([[1.0, np.nan], [2.5, 0.0]], np.float32)
    fields = array_to_fields(depth, "32FC1")
    assert (fields.height, fields.width, fields.step, fields.is_bigendian) == (2, 2, 8, 0)
    assert fields.data == depth.astype("<f4").tobytes()
    target = SimpleNamespace()
    normals = np.random.default_rng(0).normal(size=(3, 4, 3)).astype(np.float32)
    fill_image(target, normals, "32FC3")
    assert (target.height, target.width, target.step, target.encoding) == (3, 4, 48, "32FC3")
    assert type(target.data).__name__ == "array" and target.data.typecode == "B"
    np.testing.assert_array_equal(image_to_array(target), normals)
    with pytest.raises(ImageFormatError):
        fill_image(SimpleNamespace(), normals, "rgb8")


def _encoded(fmt: str, image: np.ndarray) -> np.ndarray:
    import cv2

    ok, data = cv2.imencode(f".{'jpg' if fmt == 'jpeg' else fmt}", image)
    assert ok
    return data.reshape(-1)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("channels", [3, 1])
def test_compressed_decodes_straight_to_rgb_as_opencvs_bgr_reversed(fmt, channels):
    """Decoding into RGB gives exactly OpenCV's BGR decode with the channels reversed (the second method)."""
    import cv2

    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (48, 64, channels), dtype=np.uint8)
    data = _encoded(fmt, image if channels == 3 else image[:, :, 0])
    reference = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]
    np.testing.assert_array_equal(decode_compressed(data), reference)
    np.testing.assert_array_equal(decode_compressed(data, channel_order="bgr"), reference[:, :, ::-1])


def test_compressed_rgb8_payload_and_bad_input():
    """`... compressed rgb8`: the encoder was handed RGB as BGR, so OpenCV's BGR decode is the RGB frame."""
    rgb = np.random.default_rng(3).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    data = _encoded("png", rgb)  # RGB bytes encoded as if BGR: what such a driver sends
    np.testing.assert_array_equal(compressed_to_rgb("rgb8; png compressed rgb8", bytes(data)), rgb)
    np.testing.assert_array_equal(compressed_to_rgb("rgb8; png compressed bgr8", bytes(data)), rgb[:, :, ::-1])
    assert decode_compressed(b"") is None
    assert decode_compressed(b"\x89PNG not really") is None
    with pytest.raises(ValueError, match="channel_order"):
        decode_compressed(bytes(data), channel_order="rgba")
