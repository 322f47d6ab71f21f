"""Build diagnostic_msgs/DiagnosticArray directly (diagnostic_updater is not available here)."""
from __future__ import annotations

import math
from typing import Any, Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from ..runtime.serving import ServingStats

OK, WARN, ERROR, STALE = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR, DiagnosticStatus.STALE


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def summarize(stats: ServingStats, *, state: str, dropped: int, frames_received: int) -> tuple[int, str]:
    """(level, message) for the node's status."""
    if state != "active":
        return WARN, f"node is {state}"
    if frames_received == 0 or stats.input_rate.rate() == 0.0 and stats.output_rate.rate() == 0.0:
        return WARN, "no input images"
    if stats.output_rate.rate() == 0.0:
        return ERROR, f"receiving images but publishing nothing ({stats.last_error or 'inference stalled'})"
    return OK, "serving"


def build(
    stats: ServingStats,
    *,
    stamp: Any,
    name: str,
    hardware_id: str,
    state: str,
    dropped: int,
    frames_received: int,
    extra: Mapping[str, Any] | None = None,
) -> DiagnosticArray:
    level, message = summarize(stats, state=state, dropped=dropped, frames_received=frames_received)
    values = {
        "state": state,
        "input_rate_hz": stats.input_rate.rate(),
        "output_rate_hz": stats.output_rate.rate(),
        "inference_ms_p50": stats.inference_ms.p50,
        "inference_ms_p95": stats.inference_ms.p95,
        "latency_ms_p50": stats.latency_ms.p50,
        "latency_ms_p95": stats.latency_ms.p95,
        "frames_received": frames_received,
        "frames_processed": stats.frames_processed,
        "frames_dropped": dropped,
        "frames_bad": stats.frames_bad,
        "camera_info_bad": stats.camera_info_bad,
        "last_error": stats.last_error,
        **dict(extra or {}),
    }
    status = DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=key, value=_fmt(value)) for key, value in values.items()],
    )
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array


def values_of(array: DiagnosticArray) -> dict[str, str]:
    """Key → value of the first status (for tests and the demo's recorder)."""
    return {kv.key: kv.value for kv in array.status[0].values} if array.status else {}
