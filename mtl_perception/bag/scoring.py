"""Match predictions to ground truth by header stamp and feed the DESIGN §3 metric meters.

Shared by offline evaluation (bag-eval) and live replay (replay-eval). Arrays are in the meters'
conventions: labels int64 H×W with -1 ignored, depth float32 H×W with 0 invalid, normals float32
H×W×3 with all-zero invalid.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .io import BagFormatError

TASKS: tuple[str, ...] = ("segmentation", "depth", "normals")


def make_meters(tasks: tuple[str, ...], num_classes: int) -> dict[str, Any]:
    """metrics.make_meters, imported only when scoring (bag-play needs no torch)."""
    from ..metrics import make_meters as metric_meters

    return metric_meters(tasks, num_classes)


def update_meter(meter: Any, task: str, pred: np.ndarray, target: np.ndarray, num_classes: int | None = None) -> None:
    """One frame: H×W (×3) arrays -> the meter's batched layout."""
    if pred.shape[:2] != target.shape[:2]:
        raise BagFormatError(
            f"{task}: prediction is {pred.shape[1]}x{pred.shape[0]} but ground truth is "
            f"{target.shape[1]}x{target.shape[0]} (the ground truth must be at the camera image's size)"
        )
    if task == "segmentation":
        target = target.astype(np.int64)
        if num_classes is not None and target.size and int(target.max()) >= num_classes:
            raise BagFormatError(
                f"segmentation ground truth has class id {int(target.max())} but the model has {num_classes} classes"
            )
        meter.update(pred.astype(np.int64)[None], target[None])
    elif task == "depth":
        meter.update(pred.astype(np.float32)[None, None], target.astype(np.float32)[None, None])
    else:
        meter.update(
            np.ascontiguousarray(pred.astype(np.float32).transpose(2, 0, 1))[None],
            np.ascontiguousarray(target.astype(np.float32).transpose(2, 0, 1))[None],
        )


class StampMatcher:
    """Per task, pairs predictions and ground truth with equal header stamps, in any arrival order.

    Unpaired entries wait in bounded buffers (`window` per side); the oldest is evicted beyond it.
    `drop_older_on_match`: a match at stamp S discards waiting entries older than S (live replay,
    where outputs arrive in stamp order and a dropped frame never comes).
    """

    def __init__(self, meters: dict[str, Any], num_classes: int | None = None, *, window: int = 256, drop_older_on_match: bool = False) -> None:
        self.meters = meters
        self.num_classes = num_classes
        self.window = window
        self.drop_older = drop_older_on_match
        self._pred: dict[str, OrderedDict[int, np.ndarray]] = {t: OrderedDict() for t in meters}
        self._gt: dict[str, OrderedDict[int, np.ndarray]] = {t: OrderedDict() for t in meters}
        self.matched: dict[str, int] = {t: 0 for t in meters}
        self.unmatched_gt: dict[str, int] = {t: 0 for t in meters}

    def add_prediction(self, task: str, stamp: int, array: np.ndarray) -> None:
        if task in self.meters:
            self._add(task, stamp, array, mine=self._pred, other=self._gt)

    def add_ground_truth(self, task: str, stamp: int, array: np.ndarray) -> None:
        if task in self.meters:
            self._add(task, stamp, array, mine=self._gt, other=self._pred)

    def _add(self, task: str, stamp: int, array: np.ndarray, *, mine: dict, other: dict) -> None:
        waiting = other[task]
        if stamp in waiting:
            partner = waiting.pop(stamp)
            pred, gt = (array, partner) if mine is self._pred else (partner, array)
            update_meter(self.meters[task], task, pred, gt, self.num_classes if task == "segmentation" else None)
            self.matched[task] += 1
            if self.drop_older:
                for side in (self._pred[task], self._gt[task]):
                    for old in [s for s in side if s < stamp]:
                        del side[old]
                        if side is self._gt[task]:
                            self.unmatched_gt[task] += 1
            return
        mine[task][stamp] = array
        while len(mine[task]) > self.window:
            mine[task].popitem(last=False)
            if mine is self._gt:
                self.unmatched_gt[task] += 1

    def finish(self) -> dict[str, dict[str, Any]]:
        for task in self.meters:
            self.unmatched_gt[task] += len(self._gt[task])
            self._gt[task].clear()
            self._pred[task].clear()
        return {task: _plain(meter.compute()) for task, meter in self.meters.items() if self.matched[task] > 0}


def _plain(values: Any) -> Any:
    """Meter results -> JSON-friendly Python numbers (scalars, and lists such as per-class IoU)."""
    if isinstance(values, dict):
        return {str(key): _plain(value) for key, value in values.items()}
    if isinstance(values, (list, tuple)):
        return [_plain(value) for value in values]
    if hasattr(values, "tolist"):
        return _plain(values.tolist())
    if isinstance(values, (bool, int, float, np.number)):
        return float(values)
    return values
