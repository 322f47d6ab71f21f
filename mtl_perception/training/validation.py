"""Streaming metrics and mean task losses of a model over a loader (all ranks)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from .build import prepare_batch
from .distributed import all_reduce_sum
from .losses import task_losses


@torch.no_grad()
def run_validation(model: nn.Module, loader: DataLoader, *, tasks: Sequence[str], num_classes: int, size: tuple[int, int], device: torch.device, memory_format: torch.memory_format = torch.contiguous_format, per_class: bool = False, depth_si_weight: float = 0.0) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Metrics per task over the whole loader (all ranks) and the mean loss per task.

    per_class: also keep segmentation's per-class IoU list (logs and tables take scalars only).
    depth_si_weight: the training objective's depth loss (L1 + weight × SI-log), so val loss tracks it.
    """
    from ..metrics import make_meters

    meters = make_meters(tasks, num_classes)
    loss_sums = torch.zeros(len(tasks) + 1, dtype=torch.float64)
    was_training = model.training
    model.eval()
    for batch in loader:
        images, targets = prepare_batch(batch, size, device, memory_format)
        outputs = model(images)
        for i, (task, value) in enumerate(task_losses(outputs, targets, depth_si_weight=depth_si_weight).items()):
            loss_sums[i] += float(value) * images.shape[0]
        loss_sums[-1] += images.shape[0]
        for task in tasks:
            meters[task].update(outputs[task].float().cpu(), targets[task].cpu())
    model.train(was_training)
    all_reduce_sum(loss_sums)
    for meter in meters.values():
        meter.all_reduce_()  # meters keep sums and counts, so summing over ranks is exact
    metrics = {task: scalars_and_lists(meters[task].compute(), per_class) for task in tasks}
    losses = {task: float(loss_sums[i] / max(loss_sums[-1], 1)) for i, task in enumerate(tasks)}
    return metrics, losses


def scalars_and_lists(values: Mapping[str, Any], keep_lists: bool) -> dict[str, Any]:
    """A meter's result as floats, with its list-valued entries only when asked."""
    return {k: (float(v) if isinstance(v, (int, float)) else list(v)) for k, v in values.items() if keep_lists or isinstance(v, (int, float))}
