"""Trivial per-pixel priors fitted on a training split: what a model must beat to be worth running.

At each pixel (at the network's input size): the most frequent label, the mean valid depth
and the normalised mean valid normal over the training frames. A pixel that never has a
valid target falls back to the split-wide value (most frequent label, mean depth, mean normal).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .build import prepare_batch
from .validation import scalars_and_lists


@dataclass(frozen=True)
class PixelPriors:
    labels: Tensor  # H×W int64
    depth: Tensor  # 1×H×W metres
    normals: Tensor  # 3×H×W unit vectors

    @classmethod
    def fit(cls, loader: DataLoader, num_classes: int, size: tuple[int, int]) -> "PixelPriors":
        counts = torch.zeros(num_classes, *size, dtype=torch.int64)
        depth_sum, depth_count = torch.zeros(1, *size, dtype=torch.float64), torch.zeros(1, *size, dtype=torch.float64)
        normal_sum = torch.zeros(3, *size, dtype=torch.float64)
        for batch in loader:
            _, targets = prepare_batch(batch, size, torch.device("cpu"))
            labels = targets["segmentation"]
            for c in range(num_classes):
                counts[c] += (labels == c).sum(0)
            valid = targets["depth"] > 0
            depth_sum += (targets["depth"].double() * valid).sum(0)
            depth_count += valid.sum(0)
            normal_sum += targets["normals"].double().sum(0)  # invalid normals are all-zero
        fallback_label = counts.sum((1, 2)).argmax()
        labels = torch.where(counts.sum(0) > 0, counts.argmax(0), fallback_label)
        depth = torch.where(depth_count > 0, depth_sum / depth_count.clamp_min(1), depth_sum.sum() / depth_count.sum().clamp_min(1))
        norm = normal_sum.norm(dim=0, keepdim=True)
        overall = normal_sum.sum((1, 2)).reshape(3, 1, 1)
        normals = torch.where(norm > 0, normal_sum / norm.clamp_min(1e-12), overall / overall.norm().clamp_min(1e-12))
        return cls(labels, depth.float(), normals.float())

    def predict(self, batch_size: int) -> dict[str, Tensor]:
        """The same prediction for every frame: labels B×H×W, depth B×1×H×W, normals B×3×H×W."""
        return {
            "segmentation": self.labels.expand(batch_size, -1, -1),
            "depth": self.depth.expand(batch_size, -1, -1, -1),
            "normals": self.normals.expand(batch_size, -1, -1, -1),
        }


def evaluate_priors(priors: PixelPriors, loader: DataLoader, *, tasks: Sequence[str], num_classes: int, size: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """The metrics `run_validation` reports for a model, for the priors (per-class IoU included)."""
    from ..metrics import make_meters

    meters = make_meters(tasks, num_classes)
    for batch in loader:
        _, targets = prepare_batch(batch, size, torch.device("cpu"))
        predictions = priors.predict(targets[tasks[0]].shape[0])
        for task in tasks:
            meters[task].update(predictions[task], targets[task])
    return {task: scalars_and_lists(meters[task].compute(), True) for task in tasks}
