"""Plain helpers of the node tests that share conftest.py's `rig` (test_node.py, test_node_backlog.py).

The rig's node serves 48x64 frames in namespace /e2e and publishes every output in OUTPUT_TOPICS;
these read what its client recorded, by stamp.
"""
from __future__ import annotations

H, W = 48, 64
NS = "/e2e"
OUTPUT_TOPICS = (
    "segmentation/labels",
    "segmentation/color",
    "segmentation/overlay",
    "depth/image",
    "depth/camera_info",
    "normals/image",
    "normals/color",
)


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


def now_ns(rig) -> int:
    return rig.client.get_clock().now().nanoseconds


def by_stamp(messages, stamp_ns):
    return [m for m in messages if m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == stamp_ns]


def wait_outputs(rig, stamp_ns, topics=OUTPUT_TOPICS, timeout=20.0):
    ok = rig.recorder.wait_for(lambda d: all(by_stamp(d[t], stamp_ns) for t in topics), timeout)
    missing = [t for t in topics if not by_stamp(rig.recorder.messages[t], stamp_ns)]
    assert ok, f"no output for stamp {stamp_ns} on {missing}"
    return {t: by_stamp(rig.recorder.messages[t], stamp_ns)[0] for t in topics}
