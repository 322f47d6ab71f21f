"""std_msgs/Header stamps <-> integer nanoseconds, for rclpy and rosbags messages alike."""
from __future__ import annotations

import struct
from typing import Any

NS_PER_S = 1_000_000_000


def stamp_to_ns(header: Any) -> int:
    """A std_msgs/Header's stamp (rclpy or rosbags message) in integer nanoseconds."""
    return int(header.stamp.sec) * NS_PER_S + int(header.stamp.nanosec)


def split_ns(stamp_ns: int) -> tuple[int, int]:
    """Integer nanoseconds -> (sec, nanosec), the fields of builtin_interfaces/Time."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return sec, nanosec


CDR_HEADER_BYTES = 4  # the encapsulation header before a serialised message's first field


def cdr_stamp_ns(data: bytes) -> int:
    """The stamp of a serialised (little-endian CDR) message whose first field is a std_msgs/Header."""
    sec, nanosec = struct.unpack_from("<iI", data, CDR_HEADER_BYTES)
    return sec * NS_PER_S + nanosec
