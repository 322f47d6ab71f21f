"""QoS from parameters: a profile name plus a history depth → rclpy QoSProfile."""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# name -> (reliability, durability); every profile keeps the last `depth` messages.
PROFILES: dict[str, tuple[ReliabilityPolicy, DurabilityPolicy]] = {
    "sensor_data": (ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE),
    "best_effort": (ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE),
    "reliable": (ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE),
    "system_default": (ReliabilityPolicy.SYSTEM_DEFAULT, DurabilityPolicy.SYSTEM_DEFAULT),
    "transient_local": (ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL),
}
MAX_DEPTH = 1000


def qos_error(name: str, depth: int) -> str | None:
    """Why (name, depth) is not a usable QoS (None when it is)."""
    if name not in PROFILES:
        return f"unknown QoS profile {name!r} (choose from {', '.join(PROFILES)})"
    if not 1 <= int(depth) <= MAX_DEPTH:
        return f"QoS depth must be in 1..{MAX_DEPTH}, got {depth}"
    return None


def make_qos(name: str, depth: int) -> QoSProfile:
    error = qos_error(name, depth)
    if error:
        raise ValueError(error)
    reliability, durability = PROFILES[name]
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=reliability, durability=durability)
