"""The budget experiment's paired gap on hand-worked numbers (benchmarks/budget_trend.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def trend(load_script):
    return load_script("budget_trend")


def run(row: str, lr: float, seed: int, abs_err: float) -> dict:
    return {"row": row, "lr": lr, "seed": seed, "metrics": {"test": {"depth": {"abs_err": abs_err, "rel_err": 0.5}}}}


def test_gap_is_delta_mtl_against_the_plain_row_of_the_same_seed(trend):
    # Depth only: Δ_MTL = mean of −(abs − B)/B and −(rel − B_rel)/B_rel (rel equal, so 0): abs 0.9 vs 1.0 → +5 %.
    runs = []
    for seed, plain_abs in enumerate((1.0, 2.0, 4.0)):
        runs.append(run("none_per_task", 4e-3, seed, plain_abs))
        runs.append(run("none_per_task", 2e-3, seed, 100.0))  # another lr: never the reference
        runs.append(run("svd_per_task", 2e-3, seed, 0.9 * plain_abs))  # +5 % every seed
        runs.append(run("svd_shared_per_task", 2e-3, seed, (1.1, 1.2, 1.3)[seed] * plain_abs))  # −5, −10, −15 %
    gaps = trend.budget_gaps({"meta": {"train": 300}, "runs": runs})
    svd, shared = gaps["rows"]["svd_per_task"], gaps["rows"]["svd_shared_per_task"]
    assert svd["mean"] == pytest.approx(5.0) and svd["excludes_zero"]
    assert shared["gap_by_seed"] == {0: pytest.approx(-5.0), 1: pytest.approx(-10.0), 2: pytest.approx(-15.0)}
    # sd 5 over 3 seeds: half-width t_{0.975,2} · 5/√3 = 4.303 · 2.8868 = 12.42, so the interval spans 0
    assert shared["mean"] == pytest.approx(-10.0) and shared["high"] == pytest.approx(2.42, abs=0.01)
    assert not shared["excludes_zero"]


def test_a_missing_row_is_named(trend):
    with pytest.raises(ValueError, match="svd_per_task"):
        trend.budget_gaps({"meta": {"train": 300}, "runs": [run("none_per_task", 4e-3, 0, 1.0)]})
