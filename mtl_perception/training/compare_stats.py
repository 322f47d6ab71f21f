"""The statistics of a scheme comparison: learning-rate choice on val, Δ_MTL, paired intervals.

Pure functions over the per-run results that `compare` collects, so the decision rule can be
tested on hand-made numbers. A run result is {"metrics": {split: {task: {metric: value}}}}.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

# Two-sided 95 % quantiles of Student's t for 1..10 degrees of freedom (t_{0.975, df}).
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)

Metrics = Mapping[str, Mapping[str, float]]
DeltaFn = Callable[[Metrics, Metrics], float]


@dataclass(frozen=True)
class Interval:
    """Mean of paired differences with its 95 % t-interval (n < 2: no interval)."""

    mean: float
    std: float
    n: int
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Interval":
        n = len(values)
        mean = statistics.fmean(values)
        if n < 2:
            return cls(mean, 0.0, n, math.nan, math.nan)
        std = statistics.stdev(values)
        if n - 1 > len(T_975):
            raise ValueError(f"no t quantile for {n - 1} degrees of freedom (at most {len(T_975)})")
        half = T_975[n - 2] * std / math.sqrt(n)
        return cls(mean, std, n, mean - half, mean + half)

    @property
    def excludes_zero(self) -> bool:
        return self.n >= 2 and (self.low > 0 or self.high < 0)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def baseline_metrics(singles: Mapping[str, Mapping[int, Mapping[str, Any]]], tasks: Sequence[str], seed: int, split: str) -> dict[str, Mapping[str, float]]:
    """The single-task baselines' metrics for one seed and split, {task: metrics}."""
    return {task: singles[task][seed]["metrics"][split][task] for task in tasks}


def row_deltas(runs: Mapping[int, Mapping[str, Any]], singles: Mapping[str, Mapping[int, Mapping[str, Any]]], split: str, delta: DeltaFn) -> dict[int, float]:
    """Δ_MTL per seed of one multitask row at one learning rate, against that seed's baselines."""
    out = {}
    for seed, run in runs.items():
        tasks = list(run["metrics"][split])
        out[seed] = float(delta(run["metrics"][split], baseline_metrics(singles, tasks, seed, split)))
    return out


def choose_single_lr(by_lr: Mapping[float, Mapping[int, Mapping[str, Any]]], task: str) -> float:
    """The learning rate whose runs have the lowest mean val loss of `task` (ties: the smaller lr)."""
    return min(sorted(by_lr), key=lambda lr: statistics.fmean(r["val_loss"][task] for r in by_lr[lr].values()))


def choose_multitask_lr(by_lr: Mapping[float, Mapping[int, Mapping[str, Any]]], singles: Mapping[str, Mapping[int, Mapping[str, Any]]], delta: DeltaFn) -> float:
    """The learning rate with the highest mean val Δ_MTL over seeds (ties: the smaller lr)."""
    return max(sorted(by_lr), key=lambda lr: statistics.fmean(row_deltas(by_lr[lr], singles, "val", delta).values()))


def choose_total_loss_lr(by_lr: Mapping[float, Mapping[int, Mapping[str, Any]]]) -> float:
    """The learning rate with the lowest mean val loss summed over tasks (ties: the smaller lr).

    The rule for a multitask row when the experiment has no single-task baselines to define Δ_MTL.
    """
    return min(sorted(by_lr), key=lambda lr: statistics.fmean(sum(r["val_loss"].values()) for r in by_lr[lr].values()))


def direct_gaps(runs: Mapping[int, Mapping[str, Any]], reference: Mapping[int, Mapping[str, Any]], split: str, delta: DeltaFn) -> dict[int, float]:
    """Per seed, Δ_MTL of a row measured against another row of the same seed (positive: the row is better)."""
    return {seed: float(delta(run["metrics"][split], reference[seed]["metrics"][split])) for seed, run in runs.items()}
