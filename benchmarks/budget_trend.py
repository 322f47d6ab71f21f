"""Issue 28's budget experiment: each factorised row's paired gap to plain training, against the training budget.

Reads the per-run results of compares that trained the same per-task-decoder rows on 1x, 4x
and 8x the frames (so 1x, 4x and 8x the optimiser steps at equal epochs), each row at one fixed
learning rate, and reports per budget the direct gap of every factorised row to `none_per_task`:
Δ_MTL with `none_per_task` of the same seed as the baseline (positive: the factorised row is
better at the same deploy cost), mean and 95 % t-interval over seeds, on the test split.

    python benchmarks/budget_trend.py --budget 1:benchmarks/results/compare/room/compare.json \\
        --budget 4:benchmarks/results/compare/budget/budget4.json --budget 8:benchmarks/results/compare/budget/budget8.json \\
        --out benchmarks/results/compare/budget
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

PLAIN = "none_per_task"
ROWS = {PLAIN: 4e-3, "svd_per_task": 2e-3, "svd_shared_per_task": 2e-3}  # the lr each row chose in the room experiment


def runs_at(document: Mapping[str, Any], row: str, lr: float) -> dict[int, Mapping[str, Any]]:
    """{seed: run} of `row` at `lr` from a compare.json."""
    runs = {run["seed"]: run for run in document["runs"] if run["row"] == row and abs(run["lr"] - lr) < 1e-12}
    if not runs:
        raise ValueError(f"no runs of {row} at lr {lr:g}")
    return runs


def budget_gaps(document: Mapping[str, Any]) -> dict[str, Any]:
    """Per factorised row: the paired direct gap to the plain row (test Δ_MTL %), and every row's steps."""
    from mtl_perception.metrics import delta_mtl
    from mtl_perception.training.compare_stats import Interval, direct_gaps

    plain = runs_at(document, PLAIN, ROWS[PLAIN])
    out: dict[str, Any] = {"train_frames": document["meta"]["train"], "rows": {}}
    for row, lr in ROWS.items():
        if row == PLAIN:
            continue
        runs = runs_at(document, row, lr)
        gaps = direct_gaps(runs, plain, "test", delta_mtl)
        interval = Interval.of([gaps[seed] for seed in sorted(gaps)])
        out["rows"][row] = {"lr": lr, "gap_by_seed": gaps, "mean": interval.mean, "low": interval.low, "high": interval.high,
                            "excludes_zero": interval.excludes_zero}
    return out


def markdown(trend: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| budget | train frames | " + " | ".join(f"{row} vs {PLAIN} (Δ_MTL %, 95 % CI)" for row in ROWS if row != PLAIN) + " |",
             "|---|---|" + "---|" * (len(ROWS) - 1)]
    for budget, entry in trend.items():
        cells = [f"{entry['rows'][row]['mean']:+.2f} [{entry['rows'][row]['low']:+.2f}, {entry['rows'][row]['high']:+.2f}]"
                 for row in ROWS if row != PLAIN]
        lines.append(f"| {budget}x | {entry['train_frames']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(trend: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    budgets = [int(b) for b in trend]
    for offset, row in zip((-0.06, 0.06), [r for r in ROWS if r != PLAIN]):
        means = [trend[str(b)]["rows"][row]["mean"] for b in budgets]
        errors = [[m - trend[str(b)]["rows"][row]["low"] for b, m in zip(budgets, means)],
                  [trend[str(b)]["rows"][row]["high"] - m for b, m in zip(budgets, means)]]
        ax.errorbar([b * (1 + offset) for b in budgets], means, yerr=errors, marker="o", capsize=3, label=row)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [f"{b}x" for b in budgets])
    ax.set_xlabel("training budget (frames and steps, x the cpu preset)")
    ax.set_ylabel(f"Δ_MTL % vs {PLAIN} (test)")
    ax.set_title("paired gap to plain training, same deploy cost (95 % CI)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_budget(spec: str) -> tuple[str, Path]:
    budget, sep, path = spec.partition(":")
    if not sep or not budget.isdigit():
        raise argparse.ArgumentTypeError(f"--budget wants N:compare.json, got {spec!r}")
    return budget, Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=parse_budget, action="append", required=True, metavar="N:compare.json",
                        help="a budget multiple and the compare.json of the runs at that budget (repeat)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/compare/budget"))
    args = parser.parse_args(argv)
    trend = {budget: budget_gaps(json.loads(path.read_text())) for budget, path in sorted(args.budget, key=lambda b: int(b[0]))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "budget_trend.json").write_text(json.dumps(trend, indent=1) + "\n")
    (args.out / "budget_trend.md").write_text(markdown(trend))
    plot(trend, args.out / "budget_trend.png")
    print(markdown(trend))
    return 0


if __name__ == "__main__":
    sys.exit(main())
