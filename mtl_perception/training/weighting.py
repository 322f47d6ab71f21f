"""Task loss weighting: equal, uncertainty (Kendall et al. 2018) and DWA (Liu et al., MTAN)."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import Tensor, nn


class LossWeighting(nn.Module):
    """Combines per-task losses into one scalar. Subclasses may own parameters (uncertainty)."""

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__()
        self.tasks = tuple(tasks)

    def begin_epoch(self, epoch_losses: Sequence[Mapping[str, float]]) -> None:
        """Called before each epoch with the mean training loss per task of every epoch so far."""

    def weights(self) -> dict[str, float]:
        return {task: 1.0 for task in self.tasks}

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        w = self.weights()
        return sum(w[t] * losses[t] for t in self.tasks)


class EqualWeighting(LossWeighting):
    pass


class UncertaintyWeighting(LossWeighting):
    """L = Σ exp(−s_t)·L_t + s_t with a learnt log-variance s_t per task."""

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__(tasks)
        self.log_vars = nn.Parameter(torch.zeros(len(self.tasks)))

    def weights(self) -> dict[str, float]:
        return {t: float(torch.exp(-s)) for t, s in zip(self.tasks, self.log_vars.detach())}

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        return sum(torch.exp(-s) * losses[t] + s for t, s in zip(self.tasks, self.log_vars))


class DWAWeighting(LossWeighting):
    """w_t = K·softmax(r_t / T) with r_t = L_t(e−1) / L_t(e−2); equal for the first two epochs."""

    def __init__(self, tasks: Sequence[str], temperature: float = 2.0) -> None:
        super().__init__(tasks)
        self.temperature = temperature
        self._weights = {t: 1.0 for t in self.tasks}

    def begin_epoch(self, epoch_losses: Sequence[Mapping[str, float]]) -> None:
        if len(epoch_losses) < 2:
            self._weights = {t: 1.0 for t in self.tasks}
            return
        last, before = epoch_losses[-1], epoch_losses[-2]
        ratios = [last[t] / max(before[t], 1e-12) / self.temperature for t in self.tasks]
        peak = max(ratios)
        exps = [math.exp(r - peak) for r in ratios]
        total = sum(exps)
        self._weights = {t: len(self.tasks) * e / total for t, e in zip(self.tasks, exps)}

    def weights(self) -> dict[str, float]:
        return dict(self._weights)


def build_weighting(name: str, tasks: Sequence[str], *, dwa_temperature: float = 2.0) -> LossWeighting:
    if name == "equal":
        return EqualWeighting(tasks)
    if name == "uncertainty":
        return UncertaintyWeighting(tasks)
    if name == "dwa":
        return DWAWeighting(tasks, dwa_temperature)
    raise ValueError(f"unknown loss weighting {name!r}")
