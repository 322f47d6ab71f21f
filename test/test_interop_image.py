"""Image <-> numpy codec, without ROS: encodings, channel order, padded step, endianness, errors."""
from types import SimpleNamespace

import numpy as np
import pytest

from mtl_perception.interop.image import ImageFormatError, array_to_fields, fill_image, image_to_array, image_to_rgb


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
