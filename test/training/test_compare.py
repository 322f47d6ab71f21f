"""The comparison's decision rule on hand-worked numbers, and a resumed run equal to an uninterrupted one."""
from __future__ import annotations

import math

import pytest
import torch

from mtl_perception.training.compare import RunSpec, run_config, train_run
from mtl_perception.training.compare_report import summarise
from mtl_perception.training.compare_stats import Interval, choose_multitask_lr, choose_single_lr

torch.set_num_threads(2)


def test_interval_matches_hand_worked_t_interval():
    # mean 2, sd 1, n 3: half-width t_{0.975,2} · 1/√3 = 4.303 / 1.7321 = 2.4843
    interval = Interval.of([1.0, 2.0, 3.0])
    assert (interval.mean, interval.std, interval.n) == (2.0, 1.0, 3)
    assert interval.low == pytest.approx(2.0 - 2.48434, abs=1e-4)
    assert interval.high == pytest.approx(2.0 + 2.48434, abs=1e-4)
    assert not interval.excludes_zero
    assert Interval.of([3.0, 4.0, 5.0]).excludes_zero  # [1.52, 6.48]
    single = Interval.of([1.5])
    assert single.mean == 1.5 and math.isnan(single.low) and not single.excludes_zero


def _run(task_metrics: dict, val_loss: dict | None = None) -> dict:
    return {"metrics": {"val": task_metrics, "test": task_metrics}, "val_loss": val_loss or {}}


def _metrics(miou: float) -> dict:
    return {"segmentation": {"miou": miou, "pixel_acc": 0.5}}


def test_single_lr_is_the_lowest_mean_val_loss():
    by_lr = {1e-3: {0: _run({}, {"depth": 0.5}), 1: _run({}, {"depth": 0.7})},  # mean 0.6
             2e-3: {0: _run({}, {"depth": 0.4}), 1: _run({}, {"depth": 0.9})}}  # mean 0.65
    assert choose_single_lr(by_lr, "depth") == 1e-3


def test_multitask_lr_is_the_highest_mean_val_delta():
    singles = {"segmentation": {0: _run(_metrics(0.5)), 1: _run(_metrics(0.5))}}
    # Δ_MTL = mean of (miou − 0.5)/0.5 and (pixel_acc − 0.5)/0.5, in percent: miou 0.6 → +10 %.
    by_lr = {1e-3: {0: _run(_metrics(0.6)), 1: _run(_metrics(0.4))},  # +10, −10 → 0
             2e-3: {0: _run(_metrics(0.55)), 1: _run(_metrics(0.5))}}  # +5, 0 → +2.5
    assert choose_multitask_lr(by_lr, singles, lambda r, b: _delta(r, b)) == 2e-3


def _delta(results, baseline):
    from mtl_perception.metrics import delta_mtl

    return delta_mtl(results, baseline)


def test_summary_pairs_each_seed_against_none():
    meta = {"rows": ["single_segmentation", "none", "svd"], "seeds": [0, 1, 2], "lrs": [1e-3]}
    results = {}
    for seed in range(3):
        results[("single_segmentation", 1e-3, seed)] = _full(0.5, seed, ["segmentation"], "none")
        results[("none", 1e-3, seed)] = _full(0.5 + 0.05 * seed, seed, ["segmentation"], "none")  # Δ: 0, 5, 10
        results[("svd", 1e-3, seed)] = _full(0.55 + 0.05 * seed, seed, ["segmentation"], "svd")  # Δ: 5, 10, 15
    summary = summarise(results, meta)
    assert summary["pending"] == []
    assert summary["rows"]["none"]["test_delta"] == pytest.approx((5.0, 5.0))
    paired = summary["rows"]["svd"]["vs_none"]
    assert paired["mean"] == pytest.approx(5.0) and paired["std"] == pytest.approx(0.0, abs=1e-9)
    assert paired["excludes_zero"]
    del results[("svd", 1e-3, 2)]
    assert summarise(results, meta)["pending"] == ["svd"]


def test_rows_pair_with_the_plain_row_of_the_same_deploy_cost():
    """svd_per_task deploys the per-task network: it pairs with none_per_task (same params and MACs), not none."""
    meta = {"rows": ["single_segmentation", "none", "none_per_task", "svd_per_task"], "seeds": [0, 1, 2], "lrs": [1e-3]}
    results = {}
    for seed in range(3):
        results[("single_segmentation", 1e-3, seed)] = _full(0.5, seed, ["segmentation"], "none")
        results[("none", 1e-3, seed)] = _full(0.5, seed, ["segmentation"], "none")  # Δ 0
        results[("none_per_task", 1e-3, seed)] = _full(0.5 + 0.05 * seed, seed, ["segmentation"], "none", params=2)  # Δ 0, 5, 10
        results[("svd_per_task", 1e-3, seed)] = _full(0.52 + 0.05 * seed, seed, ["segmentation"], "svd", params=2)  # Δ 2, 7, 12
    rows = summarise(results, meta)["rows"]
    assert rows["svd_per_task"]["vs_plain"]["reference"] == "none_per_task"
    assert rows["svd_per_task"]["vs_plain"]["mean"] == pytest.approx(2.0)
    assert rows["svd_per_task"]["vs_none"]["mean"] == pytest.approx(7.0)
    assert "vs_plain" not in rows["none_per_task"] and "vs_plain" not in rows["none"]


def _full(miou: float, seed: int, tasks: list, scheme: str, params: int = 1, val_loss: float = 1.0) -> dict:
    run = _run(_metrics(miou), {"segmentation": val_loss})
    run.update(seed=seed, tasks=tasks, scheme=scheme, params=params, train_params=1, gmacs=0.1, seconds=1.0, val_loss_curve=[[1, 1.0]])
    return run


def test_resumed_run_equals_uninterrupted(data_root, tmp_path):
    spec = RunSpec("svd_shared", 2e-3, 0, ("model.scheme=svd_shared", "model.width=0.25", "data.height=32", "data.width=48", "epochs=2", "batch_size=4", "device=cpu"))
    config = run_config(spec, None, (), data_root, threads=2)
    whole = train_run(spec, config, tmp_path / "whole", data_root)
    assert train_run(spec, config, tmp_path / "parts", data_root, stop_after_epoch=1) is None  # as if killed after epoch 1
    resumed = train_run(spec, config, tmp_path / "parts", data_root)
    assert resumed["resumed"] and not whole["resumed"]
    assert resumed["metrics"] == whole["metrics"] and resumed["val_loss_curve"] == whole["val_loss_curve"]
    assert train_run(spec, config, tmp_path / "parts", data_root) == resumed  # a finished run is reused


def test_a_row_that_fixes_its_lr_runs_at_that_lr_only():
    from mtl_perception.training.compare import row_lrs

    assert row_lrs(["model.scheme=svd"], (2e-3, 4e-3)) == (2e-3, 4e-3)
    assert row_lrs(["model.scheme=svd", "optim.lr=0.002"], (2e-3, 4e-3)) == (2e-3,)
    with pytest.raises(ValueError, match="optim.lr"):
        row_lrs(["optim.lr=fast"], (2e-3,))


def test_without_baselines_rows_pair_directly_with_their_plain_twin():
    """No single-task rows: lr by total val loss, and Δ_MTL of the row with the plain row of the same seed as baseline."""
    meta = {"rows": ["none_per_task", "svd_per_task"], "seeds": [0, 1, 2], "lrs": [1e-3, 2e-3], "row_lrs": {"svd_per_task": [2e-3]}}
    results = {}
    for seed in range(3):
        # none_per_task: 1e-3 has the lower val loss (1.0 < 2.0), so it is chosen; miou 0.5 there
        results[("none_per_task", 1e-3, seed)] = _full(0.5, seed, ["segmentation"], "none", params=2)
        results[("none_per_task", 2e-3, seed)] = _full(0.9, seed, ["segmentation"], "none", params=2, val_loss=2.0)
        # svd_per_task at its one lr: miou 0.55 + 0.05·seed → (m − 0.5)/0.5 / 2 metrics (pixel_acc equal) = 5, 10, 15 %
        results[("svd_per_task", 2e-3, seed)] = _full(0.55 + 0.05 * seed, seed, ["segmentation"], "svd", params=2)
    summary = summarise(results, meta)
    assert summary["pending"] == []
    rows = summary["rows"]
    assert rows["none_per_task"]["lr"] == 1e-3 and "test_delta" not in rows["svd_per_task"]
    direct = rows["svd_per_task"]["vs_plain_direct"]
    assert direct["reference"] == "none_per_task"
    assert direct["mean"] == pytest.approx(10.0) and direct["std"] == pytest.approx(5.0)
    assert "vs_plain" not in rows["svd_per_task"]  # Δ_MTL against baselines is undefined here
