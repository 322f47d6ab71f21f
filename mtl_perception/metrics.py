"""Streaming multitask metrics (DESIGN §3) and Δ_MTL.

Each meter accumulates sufficient statistics over a whole evaluation set in
tensors (a confusion matrix, float64 sums, integer counts, a 0.01°-bin angle
histogram), so results are pixel-weighted over the set, independent of batch
size, and DDP ranks can simply sum their states (``all_reduce_``).
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Iterable, Mapping, Union

import numpy as np
import torch

Array = Union[torch.Tensor, np.ndarray]

# Metrics that enter Δ_MTL, per task: metric -> lower is better.
TASK_METRICS: Mapping[str, Mapping[str, bool]] = MappingProxyType(
    {
        "segmentation": MappingProxyType({"miou": False, "pixel_acc": False}),
        "depth": MappingProxyType({"abs_err": True, "rel_err": True}),
        "normals": MappingProxyType(
            {"mean": True, "median": True, "within_11.25": False, "within_22.5": False, "within_30": False}
        ),
    }
)
NORMAL_THRESHOLDS_DEG: tuple[float, ...] = (11.25, 22.5, 30.0)
DEPTH_DELTA_BASE = 1.25


def _tensor(x: Array, device: torch.device) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = np.ascontiguousarray(x)
        # torch.from_numpy warns on read-only memory (e.g. a memory-mapped .npy); copy those.
        return torch.from_numpy(x if x.flags.writeable else x.copy()).to(device)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch tensor or numpy array, got {type(x).__name__}")
    return x.detach().to(device)


def _same_shape(pred: torch.Tensor, target: torch.Tensor, what: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{what}: prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")


class Meter:
    """Base: a dict of state tensors on ``device`` that sum across batches and ranks."""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self._state = self._empty_state()

    def _empty_state(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def update(self, pred: Array, target: Array) -> None:
        raise NotImplementedError

    def compute(self) -> dict:
        raise NotImplementedError

    def reset(self) -> None:
        self._state = self._empty_state()

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The live state tensors (reducing them in place updates the meter)."""
        return dict(self._state)

    def load_state_tensors(self, state: Mapping[str, torch.Tensor]) -> None:
        """Replace the state, e.g. with one gathered from other ranks."""
        if set(state) != set(self._state):
            raise ValueError(f"state keys {sorted(state)} != expected {sorted(self._state)}")
        for key, value in state.items():
            ref = self._state[key]
            if tuple(value.shape) != tuple(ref.shape):
                raise ValueError(f"state {key!r}: shape {tuple(value.shape)} != {tuple(ref.shape)}")
            self._state[key] = value.detach().to(device=self.device, dtype=ref.dtype).clone()

    def merge_(self, other: "Meter") -> "Meter":
        """Add another meter's statistics into this one (what an all-reduce does across ranks)."""
        for key, value in other.state_tensors().items():
            self._state[key] += value.to(self.device)
        return self

    def all_reduce_(self, group=None) -> "Meter":
        """Sum the state over all DDP ranks in place; a no-op without an initialised process group."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            for value in self._state.values():
                dist.all_reduce(value, op=dist.ReduceOp.SUM, group=group)
        return self


class SegmentationMeter(Meter):
    """Confusion-matrix mIoU, pixel accuracy and per-class IoU; negative target labels are ignored."""

    def __init__(self, num_classes: int, device: str | torch.device = "cpu"):
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = int(num_classes)
        super().__init__(device)

    def _empty_state(self) -> dict[str, torch.Tensor]:
        # Rows are target classes, columns predicted classes.
        return {"confusion": torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64, device=self.device)}

    def update(self, pred: Array, target: Array) -> None:
        """``pred``: logits B×C×H×W or labels B×H×W; ``target``: labels B×H×W (-1 = ignore)."""
        pred, target = _tensor(pred, self.device), _tensor(target, self.device)
        if pred.ndim == target.ndim + 1:
            if pred.shape[1] != self.num_classes:
                raise ValueError(f"segmentation logits have {pred.shape[1]} channels, expected {self.num_classes}")
            pred = pred.argmax(dim=1)
        _same_shape(pred, target, "segmentation")
        valid = target >= 0
        t = target[valid].long()
        p = pred[valid].long()
        if t.numel() == 0:
            return
        c = self.num_classes
        if int(t.max()) >= c:
            raise ValueError(f"segmentation target holds class {int(t.max())}, but there are {c} classes")
        if int(p.min()) < 0 or int(p.max()) >= c:
            raise ValueError(f"segmentation prediction outside [0, {c}): {int(p.min())}..{int(p.max())}")
        self._state["confusion"] += torch.bincount(t * c + p, minlength=c * c).reshape(c, c)

    def compute(self) -> dict:
        cm = self._state["confusion"].double().cpu()
        tp = cm.diagonal()
        union = cm.sum(0) + cm.sum(1) - tp
        iou = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, math.nan))
        present = union > 0  # mIoU averages over classes present in target or prediction
        total = cm.sum()
        return {
            "miou": float(iou[present].mean()) if present.any() else math.nan,
            "pixel_acc": float(tp.sum() / total) if total > 0 else math.nan,
            "per_class_iou": [float(v) for v in iou],  # NaN for classes never seen
        }


class DepthMeter(Meter):
    """Absolute / relative error, RMSE and δ-accuracy over all pixels with target > 0."""

    def _empty_state(self) -> dict[str, torch.Tensor]:
        z = dict(dtype=torch.float64, device=self.device)
        return {
            "count": torch.zeros((), dtype=torch.int64, device=self.device),
            "abs_sum": torch.zeros((), **z),
            "rel_sum": torch.zeros((), **z),
            "sq_sum": torch.zeros((), **z),
            "delta_count": torch.zeros(3, dtype=torch.int64, device=self.device),  # δ < 1.25, 1.25², 1.25³
        }

    def update(self, pred: Array, target: Array) -> None:
        """``pred`` and ``target``: depth B×1×H×W in metres; target 0 (or non-finite) is invalid."""
        pred, target = _tensor(pred, self.device), _tensor(target, self.device)
        _same_shape(pred, target, "depth")
        valid = torch.isfinite(target) & (target > 0)
        p = pred[valid].double()
        t = target[valid].double()
        err = (p - t).abs()
        # A non-positive prediction is infinitely far off in ratio terms.
        ratio = torch.where(p > 0, torch.maximum(p / t, t / p.clamp_min(1e-300)), torch.full_like(p, math.inf))
        s = self._state
        s["count"] += t.numel()
        s["abs_sum"] += err.sum()
        s["rel_sum"] += (err / t).sum()
        s["sq_sum"] += (err * err).sum()
        s["delta_count"] += torch.stack([(ratio < DEPTH_DELTA_BASE**k).sum() for k in (1, 2, 3)])

    def compute(self) -> dict:
        s = {k: v.cpu() for k, v in self._state.items()}
        n = int(s["count"])
        if n == 0:
            return {k: math.nan for k in ("abs_err", "rel_err", "rmse", "delta_1.25", "delta_1.25^2", "delta_1.25^3")}
        delta = (s["delta_count"].double() / n).tolist()
        return {
            "abs_err": float(s["abs_sum"]) / n,
            "rel_err": float(s["rel_sum"]) / n,
            "rmse": math.sqrt(float(s["sq_sum"]) / n),
            "delta_1.25": delta[0],
            "delta_1.25^2": delta[1],
            "delta_1.25^3": delta[2],
        }


class NormalMeter(Meter):
    """Angular error (degrees) between normals: mean, median and fractions below 11.25°/22.5°/30°.

    Pixels whose target is all-zero are invalid. Predictions are normalised first
    (a zero prediction counts as 90° off). The median comes from a histogram with
    ``bin_deg`` bins (default 0.01°), so it is within ``bin_deg / 2`` of the exact one.
    """

    def __init__(self, device: str | torch.device = "cpu", bin_deg: float = 0.01):
        if not 0 < bin_deg <= 0.05:
            raise ValueError(f"bin_deg must be in (0, 0.05], got {bin_deg}")
        self.bin_deg = float(bin_deg)
        self.num_bins = int(math.ceil(180.0 / bin_deg))
        super().__init__(device)

    def _empty_state(self) -> dict[str, torch.Tensor]:
        i64 = dict(dtype=torch.int64, device=self.device)
        return {
            "count": torch.zeros((), **i64),
            "angle_sum": torch.zeros((), dtype=torch.float64, device=self.device),
            "within_count": torch.zeros(len(NORMAL_THRESHOLDS_DEG), **i64),
            "histogram": torch.zeros(self.num_bins, **i64),
        }

    def update(self, pred: Array, target: Array) -> None:
        """``pred`` and ``target``: normals B×3×H×W; an all-zero target vector is invalid."""
        pred, target = _tensor(pred, self.device), _tensor(target, self.device)
        _same_shape(pred, target, "normals")
        if pred.ndim != 4 or pred.shape[1] != 3:
            raise ValueError(f"normals must be B×3×H×W, got {tuple(pred.shape)}")
        valid = (target != 0).any(dim=1)
        p = pred.permute(0, 2, 3, 1)[valid].double()
        t = target.permute(0, 2, 3, 1)[valid].double()
        p = p / p.norm(dim=1, keepdim=True).clamp_min(1e-12)
        t = t / t.norm(dim=1, keepdim=True)
        # atan2(|p×t|, p·t) stays accurate at small angles, where acos(p·t) loses digits.
        angle = torch.rad2deg(torch.atan2(torch.linalg.cross(p, t, dim=1).norm(dim=1), (p * t).sum(dim=1)))
        s = self._state
        s["count"] += angle.numel()
        s["angle_sum"] += angle.sum()
        s["within_count"] += torch.stack([(angle < thr).sum() for thr in NORMAL_THRESHOLDS_DEG])
        bins = (angle / self.bin_deg).long().clamp_(0, self.num_bins - 1)
        s["histogram"] += torch.bincount(bins, minlength=self.num_bins)

    def _median(self, histogram: torch.Tensor, n: int) -> float:
        """Median (mean of the two middle ranks for even n) read off at bin centres."""
        cumulative = histogram.cumsum(0)
        ranks = torch.tensor([(n - 1) // 2, n // 2], dtype=torch.int64)
        bins = torch.searchsorted(cumulative, ranks, right=True)
        return float(((bins.double() + 0.5) * self.bin_deg).mean())

    def compute(self) -> dict:
        s = {k: v.cpu() for k, v in self._state.items()}
        n = int(s["count"])
        keys = ("mean", "median", *(f"within_{thr:g}" for thr in NORMAL_THRESHOLDS_DEG))
        if n == 0:
            return {k: math.nan for k in keys}
        within = (s["within_count"].double() / n).tolist()
        return dict(zip(keys, [float(s["angle_sum"]) / n, self._median(s["histogram"], n), *within]))


def make_meters(tasks: Iterable[str], num_classes: int, device: str | torch.device = "cpu") -> dict[str, Meter]:
    """One meter per task name ("segmentation", "depth", "normals")."""
    meters: dict[str, Meter] = {}
    for task in tasks:
        if task == "segmentation":
            meters[task] = SegmentationMeter(num_classes, device)
        elif task == "depth":
            meters[task] = DepthMeter(device)
        elif task == "normals":
            meters[task] = NormalMeter(device)
        else:
            raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_METRICS)}")
    return meters


def update_meters(meters: Mapping[str, Meter], preds: Mapping[str, Array], targets: Mapping[str, Array]) -> None:
    """Feed each meter its task's prediction and target (network outputs and loader keys share names)."""
    for task, meter in meters.items():
        meter.update(preds[task], targets[task])


def compute_meters(meters: Mapping[str, Meter]) -> dict[str, dict]:
    return {task: meter.compute() for task, meter in meters.items()}


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (linear interpolation, numpy's default); NaN for no values."""
    array = np.fromiter(values, dtype=np.float64)
    return float(np.percentile(array, q)) if array.size else math.nan


def delta_mtl(results: Mapping[str, Mapping[str, float]], baseline: Mapping[str, Mapping[str, float]]) -> float:
    """Δ_MTL in percent: mean over tasks of the mean over ``TASK_METRICS[task]`` of (−1)^l·(M − B)/B.

    l = 1 where lower is better, so a positive Δ_MTL means better than the baseline.
    Tasks are those in ``results``; each needs its metrics in ``baseline`` too.
    """
    if not results:
        raise ValueError("delta_mtl needs at least one task")
    per_task = []
    for task, metrics in results.items():
        if task not in TASK_METRICS:
            raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_METRICS)}")
        if task not in baseline:
            raise KeyError(f"baseline has no results for task {task!r}")
        terms = []
        for key, lower_is_better in TASK_METRICS[task].items():
            if key not in metrics or key not in baseline[task]:
                raise KeyError(f"task {task!r}: metric {key!r} missing from results or baseline")
            m, b = float(metrics[key]), float(baseline[task][key])
            if b == 0:
                raise ValueError(f"task {task!r}: baseline {key!r} is 0, relative change undefined")
            sign = -1.0 if lower_is_better else 1.0
            terms.append(sign * (m - b) / b)
        per_task.append(sum(terms) / len(terms))
    return 100.0 * sum(per_task) / len(per_task)


def confidence_calibration(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Accuracy per confidence bin (deciles of [0, 1] by default): the calibration line.

    confidence: max class probability per pixel; correct: whether that pixel's label is right
    (pass only pixels with a valid target). One row per bin: lo, hi, pixels, mean confidence and
    accuracy (NaN for an empty bin). A calibrated model has accuracy ≈ mean confidence in each bin.
    """
    confidence = np.asarray(confidence, dtype=np.float64).reshape(-1)
    correct = np.asarray(correct, dtype=bool).reshape(-1)
    # Bin i holds [i/bins, (i+1)/bins); confidence 1.0 goes in the last bin.
    index = np.minimum((confidence * bins).astype(np.intp), bins - 1)
    pixels = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    right = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, accuracy = conf_sum / pixels, right / pixels
    return [
        {"lo": i / bins, "hi": (i + 1) / bins, "pixels": int(pixels[i]), "confidence": float(mean_conf[i]), "accuracy": float(accuracy[i])}
        for i in range(bins)
    ]
