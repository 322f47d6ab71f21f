"""The pixel size of a PNG or JPEG payload, read from its header without decoding (numpy only).

A compressed frame is sized here and refused above the pixel limit *before* any decoder runs:
a 780 KB all-zero 16384×16384 PNG decoded to 805 MB (peak RSS +1.5 GB) before the old
after-decode check refused it, and a 631-byte JPEG whose frame header claimed 20000×20000 made
OpenCV allocate 1.2 GB for its output. Only PNG and JPEG are recognised (the formats
image_transport's compressed plugin writes); anything else is refused rather than handed to
whatever other decoders OpenCV carries.

PNG: the signature, then the IHDR chunk (which the PNG standard and libpng require first):
width and height are its first two big-endian uint32s.

JPEG: SOI, then markers read the way libjpeg's `next_marker` reads them (bytes before an 0xFF
are skipped as garbage, 0xFF fill bytes and stuffed 0xFF00 pairs are skipped), each
length-prefixed segment skipped by its length, until the first SOFn frame header (height,
width at offsets 3 and 5 of its body). libjpeg refuses a second SOF and an SOS before the SOF,
so the first SOF is the size the decoder will allocate. The walk looks at most
`JPEG_SCAN_BYTES` into the payload and `JPEG_MAX_MARKERS` markers, so a hostile payload
costs little Python.
"""
from __future__ import annotations

import struct
from typing import Any

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SCAN_BYTES = 1 << 22  # 4 MiB: room for EXIF, ICC and XMP segments before the frame header
FIRST_LOOK_BYTES = 1 << 16  # copied first: enough for every header but a JPEG with large APPn segments
JPEG_MAX_MARKERS = 4096  # a camera's JPEG has a dozen segments before SOF
# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0..7: no length field


class HeaderError(ValueError):
    """The payload is not a PNG or JPEG whose size can be read from its header."""


class _OutOfBytes(HeaderError):
    """The JPEG walk reached the end of the bytes it was given: more of the payload may hold the SOF."""


def _head(data: Any, limit: int) -> bytes:
    """The first `limit` bytes of a bytes-like payload (one small copy, whatever the payload's type)."""
    if isinstance(data, np.ndarray):
        view = data.reshape(-1).view(np.uint8)
    else:
        view = np.frombuffer(data if isinstance(data, (bytes, bytearray, memoryview)) else memoryview(data), dtype=np.uint8)
    return view[:limit].tobytes()


def compressed_size(data: Any) -> tuple[str, int, int]:
    """("png" | "jpeg", width, height) of an encoded image, from its header; HeaderError if unreadable."""
    head = _head(data, FIRST_LOOK_BYTES)
    if head.startswith(PNG_SIGNATURE):
        return ("png", *_png_size(head))
    if not head.startswith(b"\xff\xd8"):
        raise HeaderError("neither a PNG nor a JPEG signature")
    try:
        return ("jpeg", *_jpeg_size(head))
    except _OutOfBytes:
        if len(head) < FIRST_LOOK_BYTES:
            raise
    try:
        return ("jpeg", *_jpeg_size(_head(data, JPEG_SCAN_BYTES)))  # large APPn segments before the SOF
    except _OutOfBytes as exc:
        raise HeaderError(str(exc)) from None


def _png_size(head: bytes) -> tuple[int, int]:
    if len(head) < 33 or head[12:16] != b"IHDR":  # 8 signature + 4 length + 4 type + 13 body + 4 crc
        raise HeaderError("PNG without an IHDR chunk first")
    width, height = struct.unpack(">II", head[16:24])
    if not width or not height:
        raise HeaderError(f"PNG header says {width}x{height}")
    return width, height


def _jpeg_size(head: bytes) -> tuple[int, int]:
    pos = 2
    for _ in range(JPEG_MAX_MARKERS):
        pos = head.find(b"\xff", pos)  # libjpeg skips anything before the next 0xFF
        if pos < 0:
            break
        while pos < len(head) and head[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(head):
            break
        marker = head[pos]
        pos += 1
        if marker == 0x00 or marker in _STANDALONE:  # stuffed 0xFF00 (garbage here), RSTn, TEM
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # SOI again, EOI, SOS: no frame header before them
            raise HeaderError(f"JPEG marker 0xFF{marker:02X} before any frame header (SOF)")
        if pos + 2 > len(head):
            break
        (length,) = struct.unpack(">H", head[pos:pos + 2])
        if length < 2:
            raise HeaderError(f"JPEG segment 0xFF{marker:02X} with length {length}")
        if marker in _SOF_MARKERS:
            if length < 8:
                raise HeaderError(f"JPEG frame header (SOF) of length {length}")
            if pos + 7 > len(head):
                break
            height, width = struct.unpack(">HH", head[pos + 3:pos + 7])
            if not width or not height:  # height 0 = defined later by DNL, which OpenCV's libjpeg refuses
                raise HeaderError(f"JPEG frame header says {width}x{height}")
            return width, height
        pos += length
    else:
        raise HeaderError(f"no JPEG frame header (SOF) within the first {JPEG_MAX_MARKERS} markers")
    raise _OutOfBytes(f"no JPEG frame header (SOF) within the first {len(head)} bytes")
