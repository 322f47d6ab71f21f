"""Issue 28's optimiser race: does the factorised form optimise faster under Adam or under SGD?

Trains `none`, `svd` and `svd_shared_joint` (one collapsed network, three training forms) on a
fixed set of 256 rendered frames at equal steps, once with Adam and once with SGD (momentum
0.9), each arm over its own learning-rate grid and 3 seeds, through `compare --preset race`
(resumable run directories). Each row's best lr per arm is the one with the lowest mean final
training loss; the verdict is each factorised row's paired per-seed gap to `none` in final
training loss (log ratio, so a negative value means it optimised further), with 95 % intervals.

    python benchmarks/optimiser_race.py [--work work/race] [--out benchmarks/results/compare/optimiser] [--jobs 2]

Finished runs are reused, so the report is rebuilt in seconds with the same --work and --jobs
(--jobs sets each run's torch threads, which are part of its configuration).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

ROWS = ("none", "svd", "svd_shared_joint")
ARMS = {"adam": (1e-3, 2e-3, 4e-3), "sgd": (1e-2, 3e-2, 1e-1)}


def final_loss(run: Mapping[str, Any]) -> float:
    return float(run["train_loss_curve"][-1][1])


def losses_by_lr(runs: Sequence[Mapping[str, Any]], row: str) -> dict[float, list[float]]:
    by_lr: dict[float, list[float]] = {}
    for run in runs:
        if run["row"] == row:
            by_lr.setdefault(run["lr"], []).append(final_loss(run))
    if not by_lr:
        raise ValueError(f"no finished runs for row {row!r}")
    return by_lr


def best_lr(runs: Sequence[Mapping[str, Any]], row: str) -> float:
    """The lr of `row` with the lowest mean final training loss over seeds (ties: the smaller lr)."""
    by_lr = losses_by_lr(runs, row)
    return min(sorted(by_lr), key=lambda lr: statistics.fmean(by_lr[lr]))


def arm_summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per row: best lr, final train loss per seed there, and the paired log-ratio gap to `none`."""
    from mtl_perception.training.compare_stats import Interval

    rows: dict[str, Any] = {}
    for row in ROWS:
        lr = best_lr(runs, row)
        chosen = {run["seed"]: run for run in runs if run["row"] == row and run["lr"] == lr}
        rows[row] = {"lr": lr, "final_loss_by_seed": {seed: final_loss(run) for seed, run in sorted(chosen.items())},
                     "mean_final_loss_by_lr": {str(k): statistics.fmean(v) for k, v in sorted(losses_by_lr(runs, row).items())},
                     "curves": {seed: run["train_loss_curve"] for seed, run in sorted(chosen.items())}}
    reference = rows["none"]["final_loss_by_seed"]
    for row in ROWS[1:]:
        losses = rows[row]["final_loss_by_seed"]
        gaps = [math.log(losses[seed] / reference[seed]) for seed in sorted(losses)]
        interval = Interval.of(gaps)
        rows[row]["vs_none_log_ratio"] = {"mean": interval.mean, "low": interval.low, "high": interval.high, "n": interval.n,
                                          "excludes_zero": interval.excludes_zero}
    return rows


def markdown(summary: Mapping[str, Any], steps: int) -> str:
    lines = [f"# Optimiser race: final training loss after {steps} steps on 256 fixed frames (3 seeds)", "",
             "| optimiser | row | lr grid (mean final loss) | best lr | final train loss (mean ± std) | vs none: log ratio [95 % CI] |",
             "|---|---|---|---|---|---|"]
    for arm, rows in summary.items():
        for row, entry in rows.items():
            losses = list(entry["final_loss_by_seed"].values())
            grid = ", ".join(f"{lr}: {loss:.3f}" for lr, loss in entry["mean_final_loss_by_lr"].items())
            vs = entry.get("vs_none_log_ratio")
            gap = "—" if vs is None else f"{vs['mean']:+.3f} [{vs['low']:+.3f}, {vs['high']:+.3f}]"
            lines.append(f"| {arm} | {row} | {grid} | {entry['lr']:g} | {statistics.fmean(losses):.3f} ± {statistics.stdev(losses):.3f} | {gap} |")
    return "\n".join(lines) + "\n"


def plot(summary: Mapping[str, Any], path: Path, steps_per_epoch: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summary), figsize=(5 * len(summary), 3.5), sharey=True)
    for ax, (arm, rows) in zip(axes, summary.items()):
        for row, entry in rows.items():
            curves = list(entry["curves"].values())
            steps = [point[0] * steps_per_epoch for point in curves[0]]  # epochs count from 1
            mean = [statistics.fmean(curve[i][1] for curve in curves) for i in range(len(steps))]
            ax.plot(steps, mean, marker="o", markersize=3, label=f"{row} (lr {entry['lr']:g})")
        ax.set_yscale("log")
        ax.set_xlabel("optimiser step")
        ax.set_title(f"{arm}: mean train loss over seeds", fontsize=9)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("train loss (sum over tasks)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("work/race"), help="datasets and resumable run directories")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/compare/optimiser"))
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel, one torch thread each on 2 cores")
    args = parser.parse_args(argv)

    from mtl_perception.training.compare import PRESETS, REPO_CONFIGS, run_compare  # the package sets OpenMP's thread policy
    from mtl_perception.training.config import load_config

    summary = {}
    for arm, lrs in ARMS.items():
        document = run_compare("race", args.work / arm, args.out / arm, lrs=lrs, jobs=args.jobs, rows=list(ROWS), overrides=[f"optim.name={arm}"])
        summary[arm] = arm_summary(document["runs"])
    preset = PRESETS["race"]
    steps_per_epoch = math.ceil(preset.train / load_config(str(REPO_CONFIGS / preset.config)).batch_size)
    steps = steps_per_epoch * len(next(iter(summary["adam"]["none"]["curves"].values())))
    (args.out / "race.json").write_text(json.dumps({"steps": steps, "arms": {arm: list(lrs) for arm, lrs in ARMS.items()}, "summary": summary}, indent=1) + "\n")
    (args.out / "race.md").write_text(markdown(summary, steps))
    plot(summary, args.out / "race_curves.png", steps_per_epoch)
    print((args.out / "race.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
