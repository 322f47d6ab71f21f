"""The optimiser race's decision rule on hand-worked numbers (benchmarks/optimiser_race.py)."""
from __future__ import annotations

import math

import pytest


@pytest.fixture(scope="module")
def race(load_script):
    return load_script("optimiser_race")


def run(row: str, lr: float, seed: int, final: float) -> dict:
    return {"row": row, "lr": lr, "seed": seed, "train_loss_curve": [[0, 3.0], [1, final]]}


def test_each_row_takes_its_lowest_mean_final_loss_and_pairs_seeds_against_none(race):
    runs = []
    for seed in range(3):
        runs += [run("none", 1e-3, seed, 1.0 + 0.1 * seed), run("none", 2e-3, seed, 2.0)]  # none: 1e-3 (mean 1.1)
        # svd: 2e-3 wins (mean 0.8 + ...); per seed exactly 0.5x none's loss at its best lr
        runs += [run("svd", 1e-3, seed, 3.0), run("svd", 2e-3, seed, 0.5 * (1.0 + 0.1 * seed))]
        runs += [run("svd_shared_joint", 1e-3, seed, 2.0 * (1.0 + 0.1 * seed)), run("svd_shared_joint", 2e-3, seed, 9.0)]
    summary = race.arm_summary(runs)
    assert (summary["none"]["lr"], summary["svd"]["lr"], summary["svd_shared_joint"]["lr"]) == (1e-3, 2e-3, 1e-3)
    svd, joint = summary["svd"]["vs_none_log_ratio"], summary["svd_shared_joint"]["vs_none_log_ratio"]
    assert svd["mean"] == pytest.approx(math.log(0.5)) and svd["excludes_zero"]  # optimised further: negative
    assert joint["mean"] == pytest.approx(math.log(2.0))
    assert summary["none"]["mean_final_loss_by_lr"] == {"0.001": pytest.approx(1.1), "0.002": pytest.approx(2.0)}


def test_a_row_without_runs_is_named(race):
    with pytest.raises(ValueError, match="svd"):
        race.best_lr([run("none", 1e-3, 0, 1.0)], "svd")
