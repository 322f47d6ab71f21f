"""Compressed payloads that lie about their size, built without ever holding the size they claim."""
from __future__ import annotations

import struct
import zlib


def png_bomb(side: int = 16384) -> bytes:
    """An all-zero side×side RGB PNG, compressed row by row so building it costs no side² buffer."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row = b"\0" * (1 + side * 3)
    idat = b"".join([comp.compress(row) for _ in range(side)] + [comp.flush()])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
