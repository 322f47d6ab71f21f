"""MTAN's task losses: cross-entropy (ignore -1), masked L1 depth, masked 1 − cosine normals,
and a scale-invariant log depth loss (Eigen et al. 2014) that transfers across cameras and scenes.

Partial supervision (DESIGN §3): each loss is the mean over the batch's valid pixels, so a
sample whose targets for a task are all invalid adds nothing to that task's sum nor to its
count: its loss and gradient are exactly zero, and the other samples' loss is unchanged.
Pixels, not samples, are averaged (as MTAN does), so a labelled sample weighs by its valid
pixel count whatever else shares the batch; a batch with no valid pixel gives a 0 loss. The
scale-invariant term is per sample by construction (a scale is one image's), so it is averaged
over the samples that have valid depth instead.
"""
from __future__ import annotations

from typing import Mapping

import torch
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


def si_log_loss(pred: Tensor, target: Tensor, lam: float = 0.85, eps: float = 1e-6) -> Tensor:
    """Scale-invariant log loss: per sample, mean(g²) − λ·mean(g)² with g = log pred − log target over
    the pixels with valid (> 0) ground truth, then the mean over the samples that have any.

    λ = 1 ignores a global scale entirely (a scaled copy of the truth scores 0), λ = 0 is the plain
    mean squared log error; predictions are clamped at ``eps`` before the log.
    """
    mask = (target > 0).reshape(target.shape[0], -1)
    count = mask.sum(dim=1)
    has = count > 0
    if not bool(has.any()):
        return pred.sum() * 0.0
    log_pred = torch.log(pred.float().clamp_min(eps)).reshape(mask.shape)
    log_target = torch.log(torch.where(target > 0, target, torch.ones_like(target))).reshape(mask.shape)
    g = torch.where(mask, log_pred - log_target.float(), torch.zeros_like(log_pred))
    n = count.clamp_min(1).to(g.dtype)
    mean_g = g.sum(dim=1) / n
    per_sample = (g * g).sum(dim=1) / n - lam * mean_g * mean_g
    return per_sample[has].mean()


def normal_loss(pred: Tensor, target: Tensor) -> Tensor:
    """1 − mean cosine between unit normals over pixels whose ground truth is not all-zero."""
    mask = target.abs().sum(dim=1) > 0
    if not bool(mask.any()):
        return pred.sum() * 0.0
    cosine = (pred.float() * target).sum(dim=1)
    return 1.0 - cosine[mask].mean()


TASK_LOSSES = {"segmentation": segmentation_loss, "depth": depth_loss, "normals": normal_loss}


def task_losses(
    outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor], *, depth_si_weight: float = 0.0
) -> dict[str, Tensor]:
    """One scalar loss per task the network predicts; the depth loss is L1 + ``depth_si_weight`` ×
    the scale-invariant log loss (0, the default, is the plain L1 exactly)."""
    losses = {task: TASK_LOSSES[task](pred, targets[task]) for task, pred in outputs.items()}
    if depth_si_weight and "depth" in outputs:
        losses["depth"] = losses["depth"] + depth_si_weight * si_log_loss(outputs["depth"], targets["depth"])
    return losses
