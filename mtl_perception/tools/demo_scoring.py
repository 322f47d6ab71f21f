"""Scores the node's outputs against the renderer's ground truth as they arrive (ROS-free).

The synthetic camera runs in another process, so frames are identified by content: each input
image the recorder sees is digested and looked up among the re-rendered trajectory frames, and
outputs are matched to inputs by header stamp. Scoring happens as soon as a frame's three outputs
are in, so memory stays bounded however long the demo records.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..metrics import compute_meters, make_meters, update_meters
from ..interop.image import float_to_rgb8

SCORED_TOPICS = ("segmentation/labels", "depth/image", "normals/image")
MAX_PENDING = 64  # stamps awaiting their remaining outputs; older ones are given up


def frame_digest(rgb: np.ndarray) -> bytes:
    """Content digest of an image, naming which trajectory frame a received input was."""
    return hashlib.blake2b(np.ascontiguousarray(rgb).tobytes(), digest_size=16).digest()


@dataclass(frozen=True)
class ScoredFrame:
    """The last frame scored: ground truth and the node's outputs, for the demo panel."""

    frame: Any
    labels: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    stamp: int = 0  # header stamp of the node's outputs (ns)


class StreamScorer:
    """Thread-safe: ``add_input`` per camera image, ``add_output`` per output image.

    ``frames`` are the trajectory frames (image in [0, 1], label, depth, normal), quantised
    here exactly as the synthetic camera publishes them, so digests match the received bytes.
    Depth NaN (the node's "beyond max_depth") is scored as ``max_depth``.
    """

    def __init__(self, frames: Sequence[Any], num_classes: int, max_depth: float) -> None:
        self.frames = list(frames)
        self.max_depth = float(max_depth)
        self._index_of = {frame_digest(float_to_rgb8(f.image)): i for i, f in enumerate(self.frames)}
        classes = max(num_classes, max(int(f.label.max()) for f in self.frames) + 1)
        self.meters = make_meters(("segmentation", "depth", "normals"), classes)
        self._lock = threading.Lock()
        self._frame_of_stamp: dict[int, int] = {}
        self._pending: dict[int, dict[str, np.ndarray]] = {}
        self.inputs_seen = 0
        self.inputs_unknown = 0  # inputs whose bytes match no trajectory frame
        self.scored = 0
        self.last: ScoredFrame | None = None
        self._clouds: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # stamp -> (N×3 xyz, N labels)
        self.cloud_points: list[int] = []  # points per received cloud

    def add_cloud(self, stamp: int, xyz: np.ndarray, labels: np.ndarray) -> None:
        """The node's semantic cloud at `stamp` (kept for the panel; the last MAX_PENDING only)."""
        with self._lock:
            self._clouds[stamp] = (xyz, labels)
            self._trim(self._clouds)
            self.cloud_points.append(int(np.isfinite(xyz).all(axis=1).sum()))

    def cloud_at(self, stamp: int) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            return self._clouds.get(stamp)

    def add_input(self, stamp: int, rgb: np.ndarray) -> None:
        index = self._index_of.get(frame_digest(rgb))
        with self._lock:
            self.inputs_seen += 1
            if index is None:
                self.inputs_unknown += 1
                return
            self._frame_of_stamp[stamp] = index
            self._trim(self._frame_of_stamp)
            self._score_if_complete(stamp)

    def add_output(self, stamp: int, topic: str, array: np.ndarray) -> None:
        if topic not in SCORED_TOPICS:
            raise ValueError(f"not a scored topic: {topic!r} (scored: {', '.join(SCORED_TOPICS)})")
        with self._lock:
            self._pending.setdefault(stamp, {})[topic] = array
            self._trim(self._pending)
            self._score_if_complete(stamp)

    def waiting(self) -> tuple[int, int]:
        """(stamps with outputs awaiting the rest, camera stamps awaiting outputs): both bounded by MAX_PENDING."""
        with self._lock:
            return len(self._pending), len(self._frame_of_stamp)

    @staticmethod
    def _trim(box: dict[int, Any]) -> None:
        while len(box) > MAX_PENDING:
            box.pop(next(iter(box)))

    def _score_if_complete(self, stamp: int) -> None:
        outputs = self._pending.get(stamp)
        index = self._frame_of_stamp.get(stamp)
        if outputs is None or index is None or len(outputs) < len(SCORED_TOPICS):
            return
        del self._pending[stamp]
        del self._frame_of_stamp[stamp]
        frame = self.frames[index]
        labels, depth, normals = (outputs[t] for t in SCORED_TOPICS)
        if labels.shape != frame.label.shape:
            return  # output_resolution: network — not comparable pixel for pixel
        update_meters(
            self.meters,
            {
                "segmentation": labels[None].astype(np.int64),
                "depth": np.nan_to_num(depth, nan=self.max_depth)[None, None],
                "normals": np.moveaxis(normals, -1, 0)[None],
            },
            {"segmentation": frame.label[None], "depth": frame.depth[None, None], "normals": np.moveaxis(frame.normal, -1, 0)[None]},
        )
        self.scored += 1
        self.last = ScoredFrame(frame, labels, depth, normals, stamp)

    def results(self) -> dict[str, dict]:
        with self._lock:
            if not self.scored:
                return {}
            return compute_meters(self.meters)


def describe(results: dict[str, dict], scored: int) -> str:
    if not results:
        return "accuracy              no frame could be scored"
    s, d, n = results["segmentation"], results["depth"], results["normals"]
    return (
        f"accuracy ({scored} frames) mIoU {s['miou']:.3f}  pixel acc {s['pixel_acc']:.3f}  "
        f"depth abs err {d['abs_err']:.3f} m  rel err {d['rel_err']:.3f}  "
        f"normal mean {n['mean']:.1f} deg  median {n['median']:.1f} deg"
    )
