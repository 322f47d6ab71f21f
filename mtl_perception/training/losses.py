"""MTAN's task losses: cross-entropy (ignore -1), masked L1 depth, masked 1 − cosine normals.

Partial supervision (DESIGN §3): each loss is the mean over the batch's valid pixels, so a
sample whose targets for a task are all invalid adds nothing to that task's sum nor to its
count: its loss and gradient are exactly zero, and the other samples' loss is unchanged.
Pixels, not samples, are averaged (as MTAN does), so a labelled sample weighs by its valid
pixel count whatever else shares the batch; a batch with no valid pixel gives a 0 loss.
"""
from __future__ import annotations

from typing import Mapping

from torch import Tensor
from torch.nn import functional as F


def segmentation_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over labelled pixels; 0 (with a graph) when a batch has none."""
    if not bool((labels >= 0).any()):
        return logits.sum() * 0.0  # keeps every parameter in the graph (DDP needs that)
    return F.cross_entropy(logits.float(), labels, ignore_index=-1)


def depth_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over pixels with valid (> 0) ground truth."""
    mask = target > 0
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return (pred.float() - target).abs()[mask].mean()


def normal_loss(pred: Tensor, target: Tensor) -> Tensor:
    """1 − mean cosine between unit normals over pixels whose ground truth is not all-zero."""
    mask = target.abs().sum(dim=1) > 0
    if not bool(mask.any()):
        return pred.sum() * 0.0
    cosine = (pred.float() * target).sum(dim=1)
    return 1.0 - cosine[mask].mean()


TASK_LOSSES = {"segmentation": segmentation_loss, "depth": depth_loss, "normals": normal_loss}


def task_losses(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """One scalar loss per task the network predicts."""
    return {task: TASK_LOSSES[task](pred, targets[task]) for task, pred in outputs.items()}
